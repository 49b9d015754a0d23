"""The server a webhook names, asked of the catalog (`ServerSettingsRequest` on `catalog.rpc`), kept briefly.

A vendor posts many webhooks in a burst (SES one per bounce): the answer is kept for
`cache_seconds` so a burst asks once. Unknown server ids are kept too, so requests naming made-up
servers cost the catalog one question per id and period, not one per request; the cache is bounded.
"""

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from uuid import UUID

from aiormq.exceptions import AMQPError
from pydantic import ValidationError

from services.bounces.app.ports import WebhookServersUnavailable
from services.bounces.domain.webhooks.common import WebhookServer
from shared.contracts import ServerSettingsReply, ServerSettingsRequest
from shared.rpc import RpcClient
from shared.topology import CATALOG_RPC_QUEUE_NAME

CACHED_SERVERS_MAX = 10_000


class CatalogWebhookServers:
    def __init__(
        self,
        rpc: RpcClient,
        *,
        timeout_seconds: float,
        cache_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rpc = rpc
        self._timeout = timeout_seconds
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._cache: OrderedDict[UUID, tuple[float, WebhookServer | None]] = OrderedDict()

    async def get(self, server_id: UUID) -> WebhookServer | None:
        now = self._monotonic()
        cached = self._cache.get(server_id)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        server = await self._ask(server_id)
        self._cache[server_id] = (now, server)
        self._cache.move_to_end(server_id)
        while len(self._cache) > CACHED_SERVERS_MAX:
            self._cache.popitem(last=False)
        return server

    async def _ask(self, server_id: UUID) -> WebhookServer | None:
        request = ServerSettingsRequest(server_id=server_id)
        try:
            answer = await self._rpc.request(
                request.model_dump_json().encode(), queue=CATALOG_RPC_QUEUE_NAME, timeout=self._timeout
            )
        except TimeoutError:
            raise WebhookServersUnavailable(f"no answer from the catalog within {self._timeout}s") from None
        except AMQPError as exc:  # nothing consumes catalog.rpc now: the request came back
            raise WebhookServersUnavailable(f"server_settings request not delivered: {exc!r}") from None
        try:
            document = json.loads(answer)
        except ValueError:
            raise WebhookServersUnavailable("the catalog's answer is not JSON") from None
        if isinstance(document, dict) and "error" in document and "settings" not in document:
            return None  # the catalog's RpcError: no such server
        try:
            reply = ServerSettingsReply.model_validate(document)
        except ValidationError:
            # Never repeated: the settings hold the server's credentials in clear.
            raise WebhookServersUnavailable("the catalog's server settings do not validate") from None
        return WebhookServer(
            server_id=reply.server_id, vendor=reply.vendor, settings=reply.settings.type_settings
        )
