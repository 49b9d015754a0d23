"""Admission of late messages, asked of any router replica over RPC (queue router.admissions)."""

from aio_pika.exceptions import AMQPError
from pydantic import ValidationError

from services.delivery.app.ports import AdmissionUnavailable
from shared.contracts import AdmissionReply, AdmissionRequest
from shared.rpc import RpcClient
from shared.topology import ROUTER_ADMISSIONS_QUEUE_NAME


class RouterAdmissionsRpc:
    def __init__(self, rpc: RpcClient, *, timeout_seconds: float) -> None:
        self._rpc = rpc
        self._timeout = timeout_seconds

    async def admit(self, request: AdmissionRequest) -> AdmissionReply:
        try:
            reply = await self._rpc.request(
                request.model_dump_json().encode(),
                queue=ROUTER_ADMISSIONS_QUEUE_NAME,
                timeout=self._timeout,
                # Nobody waits for an answer after the timeout: a router must not count it then.
                expiration=self._timeout,
            )
        except TimeoutError:
            raise AdmissionUnavailable(f"no router answered within {self._timeout:g}s") from None
        except AMQPError as exc:  # e.g. returned: no router has declared router.admissions yet
            raise AdmissionUnavailable(f"admission request not delivered: {exc!r}") from None
        try:
            return AdmissionReply.model_validate_json(reply)
        except ValidationError as exc:
            raise AdmissionUnavailable(f"a router's answer does not validate: {exc}") from None
