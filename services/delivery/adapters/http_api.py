"""Sending through a vendor's HTTP API (httpx), with one client per server so connections are reused.

Each vendor module says how a message becomes a request, how a probe asks without sending, and
how to read the vendor's answer; this module does the rest the same way for all: it classifies
the answer by the vendor's table (`domain.http_codes`), honours `Retry-After`, and tells a
request that never left (deferred: nothing was sent) from one whose answer never came (unknown:
the vendor may have accepted it, so it must not be sent again blindly).

Connections go only where the egress policy allows (`shared.egress`), never through a proxy from
the environment, and redirects are not followed. A probe's result says what happened in sendpool's
words and the status the vendor answered, never the vendor's body: a base URL may point anywhere,
and a connection test must not become a way to read what answers there.
"""

import asyncio
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx
import structlog

from services.delivery.domain.http_codes import (
    HttpRule,
    VendorAnswer,
    classify_http,
    outcome_of,
    public_description,
    retry_after_seconds,
)
from services.delivery.domain.mime import OutgoingMessage
from services.delivery.domain.outcomes import Deferred, SendOutcome, Unknown
from shared.contracts import ProbeResult, utcnow
from shared.egress import EgressPolicy, EgressRefused, egress_http_client

log = structlog.get_logger("delivery.http_api")

IDLE_CONNECTION_SECONDS = 30.0
"""How long an idle connection is kept for the next request (httpx's default is 5s)."""

CONNECT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class HttpOptions:
    """How this worker talks to vendor APIs, whatever the vendor."""

    max_connections: int = 4
    timeout_seconds: float = 60.0
    egress: EgressPolicy = EgressPolicy()
    """Where connections may go; by default no internal address at all."""
    tls_ca_file: str | None = None
    """CAs trusted beside the public ones (a private CA's endpoint, a test double's)."""


def egress_client(options: HttpOptions, **client: Any) -> httpx.AsyncClient:
    """An httpx client that connects only where `options.egress` allows, verifying TLS against the
    public CAs and `options.tls_ca_file`, following no redirect and no proxy from the environment."""
    limits = client.pop("limits", httpx.Limits(max_connections=options.max_connections))
    return egress_http_client(options.egress, tls_ca_file=options.tls_ca_file, limits=limits, **client)


@dataclass(frozen=True)
class ApiCall:
    """One request to a vendor, relative to its base URL."""

    method: str
    path: str
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None


@dataclass(frozen=True)
class VendorReply:
    """What the vendor's answer says, read the vendor's way."""

    error_code: str | None = None
    reason: str = ""
    message_id: str | None = None


class VendorApi(Protocol):
    @property
    def vendor(self) -> str:
        """The vendor's name as people know it, for messages: "SendGrid"."""
        ...

    @property
    def base_url(self) -> str: ...

    @property
    def rules(self) -> tuple[HttpRule, ...]: ...

    @property
    def auth(self) -> httpx.Auth: ...

    def send_call(self, message: OutgoingMessage) -> ApiCall: ...

    def probe_call(self) -> ApiCall:
        """An authenticated request that sends nothing."""
        ...

    def read(self, response: httpx.Response) -> VendorReply: ...

    def unable_to_send(self, probe_response: httpx.Response) -> str | None:
        """Why an account that answered the probe still cannot send (sending disabled, say), or None."""
        ...


class HeaderAuth(httpx.Auth):
    """A credential sent as one request header, as most vendors take their API key."""

    def __init__(self, header: str, value: str) -> None:
        self._header = header
        self._value = value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._value
        yield request


def json_of(response: httpx.Response) -> Any:
    """The response's JSON, or None when it has none (an HTML error page from a proxy, say)."""
    try:
        return response.json()
    except ValueError:
        return None


class _NotSent(Exception):
    """The request did not reach the vendor: no connection, or it broke before the request was whole."""


class _NoAnswer(Exception):
    """The request was sent but no answer came: the vendor may have acted on it."""


class HttpApiSender:
    def __init__(
        self, api: VendorApi, options: HttpOptions, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._api = api
        self._clock = clock
        self._client = egress_client(
            options,
            base_url=api.base_url,
            auth=api.auth,
            timeout=httpx.Timeout(options.timeout_seconds, connect=CONNECT_TIMEOUT_SECONDS),
            limits=httpx.Limits(
                max_connections=options.max_connections,
                max_keepalive_connections=options.max_connections,
                keepalive_expiry=IDLE_CONNECTION_SECONDS,
            ),
            headers={"User-Agent": "sendpool"},
        )
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def send(self, message: OutgoingMessage) -> SendOutcome:
        try:
            response = await self._request(self._api.send_call(message))
        except _NotSent as exc:
            return Deferred(None, None, str(exc), connection_failure=True)
        except _NoAnswer as exc:
            return Unknown(str(exc))
        return outcome_of(self._api.rules, self._answer(response))

    async def probe(self) -> ProbeResult:
        try:
            response = await self._request(self._api.probe_call())
        except (_NotSent, _NoAnswer) as exc:
            return ProbeResult(ok=False, message=f"Connection failed: {exc}")
        if response.is_success:
            problem = self._api.unable_to_send(response)
            if problem is None:
                return ProbeResult(ok=True, message="Connection successful.")
            return ProbeResult(ok=False, message=f"Connection failed: {problem}")
        answer = self._answer(response)
        rule = classify_http(self._api.rules, answer.status, answer.error_code)
        log.info(
            "vendor API refused the probe",
            vendor=self._api.vendor,
            base_url=self._api.base_url,
            status=answer.status,
            error_code=answer.error_code,
            reason=answer.reason,
        )
        return ProbeResult(ok=False, message=f"Connection failed: {public_description(rule, answer)}")

    async def close(self) -> None:
        # Requests under way keep their connections: closing the client under them would turn
        # messages the vendor is accepting into unknown outcomes.
        await self._idle.wait()
        await self._client.aclose()

    async def _request(self, call: ApiCall) -> httpx.Response:
        self._in_flight += 1
        self._idle.clear()
        try:
            return await self._send_request(call)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _send_request(self, call: ApiCall) -> httpx.Response:
        # The reasons raised reach tenants (statuses, connection tests): in sendpool's words, with
        # the library's detail (an OS error, a TLS library's) in this worker's log only.
        where = f"{self._api.vendor} at {self._api.base_url}"
        logged = {"vendor": self._api.vendor, "base_url": self._api.base_url, "path": call.path}
        try:
            return await self._client.request(
                call.method, call.path, json=call.json, data=call.data, files=call.files
            )
        except EgressRefused as exc:
            log.warning("vendor API connection refused by the egress policy", **logged, reason=str(exc))
            raise _NotSent(f"refused by egress policy: {exc}") from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            log.warning("vendor API connection failed", **logged, error=_describe(exc))
            raise _NotSent(f"could not connect to {where}{_tls_hint(exc)}") from None
        except (httpx.WriteError, httpx.WriteTimeout) as exc:
            # A request cut short is never acted on: the vendor needs the whole body to send anything.
            log.warning("vendor API request cut short", **logged, error=_describe(exc))
            raise _NotSent(f"the request to {where} was cut short") from None
        except httpx.TransportError as exc:  # read errors and timeouts, a connection closed mid-answer
            log.warning("vendor API answer lost", **logged, error=_describe(exc))
            raise _NoAnswer(
                f"no answer from {where} after the request was sent, so it may have been accepted"
            ) from None

    def _answer(self, response: httpx.Response) -> VendorAnswer:
        reply = self._api.read(response)
        return VendorAnswer(
            vendor=self._api.vendor,
            status=response.status_code,
            error_code=reply.error_code,
            reason=reply.reason,
            message_id=reply.message_id,
            retry_after=retry_after_seconds(response.headers.get("Retry-After"), self._clock()),
        )


def _describe(exc: httpx.HTTPError) -> str:
    return str(exc) or type(exc).__name__


def _tls_hint(exc: httpx.HTTPError) -> str:
    return " (TLS failed: its certificate did not verify)" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else ""
