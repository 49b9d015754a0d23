"""Asking the bounces service which recipients may not be mailed (`SuppressionCheck` on `bounces.rpc`).

The scheduler asks once per expansion batch, a delivery worker once per delivery batch, never per
recipient: one request carries up to `MAX_BATCH_RECIPIENTS` addresses, and a longer list goes as
several requests side by side. No answer is never "nothing suppressed": it is a transient fault
(`SuppressionUnavailable`), waited out by the caller, so that an outage of the bounces service holds
mail back instead of letting a suppressed address through.
"""

import asyncio
import json
from collections.abc import Iterator, Sequence
from uuid import UUID

from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from pydantic import ValidationError

from shared.contracts import MAX_BATCH_RECIPIENTS, SuppressionCheck, SuppressionCheckReply
from shared.rpc import RpcClient
from shared.topology import BOUNCES_RPC_QUEUE_NAME
from shared.transient import TransientFault


class SuppressionUnavailable(TransientFault):
    """The bounces service did not answer a suppression check (down, slow, or its answer unusable)."""

    fault = "bounces"


def address_chunks(addresses: Sequence[str], size: int = MAX_BATCH_RECIPIENTS) -> Iterator[Sequence[str]]:
    """`addresses` in requests of at most `size` (the contract's bound), in order."""
    for start in range(0, len(addresses), size):
        yield addresses[start : start + size]


class SuppressionClient:
    """`SuppressionCheck` over `shared.rpc.RpcClient` (direct reply-to: checks run side by side)."""

    def __init__(self, rpc: RpcClient, *, timeout_seconds: float) -> None:
        self._rpc = rpc
        self._timeout = timeout_seconds

    async def suppressed(self, tenant_id: UUID, addresses: Sequence[str]) -> dict[str, str]:
        """The suppressed ones among `addresses`, as given, with why; raises `SuppressionUnavailable`."""
        unique = list(dict.fromkeys(addresses))
        replies = await asyncio.gather(*(self._ask(tenant_id, chunk) for chunk in address_chunks(unique)))
        asked = set(unique)
        # Only what was asked: an answer naming other addresses is not a reason to skip anyone else.
        return {address: reason for reply in replies for address, reason in reply.items() if address in asked}

    async def _ask(self, tenant_id: UUID, addresses: Sequence[str]) -> dict[str, str]:
        request = SuppressionCheck(tenant_id=tenant_id, addresses=list(addresses))
        try:
            body = await self._rpc.request(
                request.model_dump_json().encode(),
                queue=BOUNCES_RPC_QUEUE_NAME,
                timeout=self._timeout,
                # No expiration: bounces.rpc dead-letters what expires in it, so every check waiting
                # out a bounces restart would end in sendpool.dead, where operators look for lost
                # work. A check nobody waits for any more is one indexed read when it is answered.
            )
        except TimeoutError:
            raise SuppressionUnavailable(
                f"no answer to a suppression check within {self._timeout:g}s"
            ) from None
        except (
            AMQPError,
            ChannelInvalidStateError,
        ) as exc:  # returned (nothing consumes bounces.rpc), channel lost
            raise SuppressionUnavailable(f"suppression check not delivered: {exc!r}") from None
        try:
            reply = json.loads(body)
            # An error reply (`RpcError`) would validate as an empty answer: it must say `suppressed`.
            if not isinstance(reply, dict) or "suppressed" not in reply:
                raise ValueError("it has no `suppressed`")
            return SuppressionCheckReply.model_validate(reply).suppressed
        except (ValueError, ValidationError) as exc:
            # Not an answer, so never "nothing suppressed".
            raise SuppressionUnavailable(f"the answer to a suppression check is unusable: {exc}") from None
