"""API tokens: an operator token from settings, and tenant tokens signed with a shared HMAC key.

A tenant token is `spt_<tenant uuid>.<token id>.<expires>.<signature>`: `expires` is the Unix
second it stops working (0: never), and the signature (HMAC-SHA256 under `SENDPOOL_TOKEN_SECRET`)
covers the tenant, the id and the expiry, so none of them can be changed. Every service with an
HTTP API (catalog, scheduler, router) checks a token without asking the catalog: the signature and
the expiry from the token alone, revocation against `RevokedTokens`, a set each process loads once
when it starts and keeps current from the catalog's `catalog.token.revoked` events.

Tokens of earlier versions, `spt_<tenant uuid>.<random>.<signature>`, keep working until revoked:
their id is their random part. In both formats the id is the part after the tenant's.
"""

import asyncio
import contextlib
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog
from aio_pika.exceptions import DeliveryError
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream.rabbit import RabbitBroker

from shared.background import until_done
from shared.contracts import (
    CatalogEvent,
    CatalogEventKind,
    RevokedToken,
    RevokedTokensReply,
    RevokedTokensRequest,
)
from shared.rpc import RpcClient
from shared.topology import CATALOG_EXCHANGE, CATALOG_RPC_QUEUE_NAME, instance_queue

log = structlog.get_logger("auth")

TOKEN_PREFIX = "spt_"
MAX_TOKEN_LENGTH = 256
"""Longer bearer values are refused before any parsing or hashing."""
TOKEN_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
"""A token id: 32 hex characters for tokens issued now, the 16-character random part for earlier ones."""
_TOKEN_ID = re.compile(TOKEN_ID_PATTERN)
# Signed apart from earlier tokens' payloads, so that no signature ever serves both formats.
_CURRENT_FORMAT = "v2:"


@dataclass(frozen=True)
class Principal:
    role: str  # "operator" or "tenant"
    tenant_id: UUID | None = None
    token_id: str | None = None
    """The tenant token's id (None for the operator)."""

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


@dataclass(frozen=True)
class TenantToken:
    """What a tenant token says, once its signature is checked."""

    tenant_id: UUID
    token_id: str
    expires_at: datetime | None
    """None: it never expires (every token of the earlier format)."""

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


def _sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]


def new_token_id() -> str:
    return secrets.token_hex(16)


def issue_tenant_token(
    secret: str, tenant_id: UUID, *, token_id: str | None = None, expires_at: datetime | None = None
) -> str:
    """A token of the tenant; `token_id` is a new random id unless given, `expires_at` None: never."""
    token_id = token_id or new_token_id()
    if not _TOKEN_ID.match(token_id):
        raise ValueError(f"a token id matches {TOKEN_ID_PATTERN}")
    # Rounded down: a token never outlives what was asked.
    expires = 0 if expires_at is None else max(int(expires_at.timestamp()), 1)
    payload = f"{tenant_id}.{token_id}.{expires}"
    return f"{TOKEN_PREFIX}{payload}.{_sign(secret, _CURRENT_FORMAT + payload)}"


def read_tenant_token(token: str, secret: str) -> TenantToken | None:
    """The tenant token's content if its signature is right (expired or not), else None."""
    if len(token) > MAX_TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
        return None
    payload, _, signature = token[len(TOKEN_PREFIX) :].rpartition(".")
    parts = payload.split(".")
    if len(parts) == 3:
        expected = _sign(secret, _CURRENT_FORMAT + payload)
    elif len(parts) == 2:  # the earlier format: `<tenant>.<random>`, never expiring
        expected = _sign(secret, payload)
    else:
        return None
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        return None
    try:
        tenant_id = UUID(parts[0])
        expires = int(parts[2]) if len(parts) == 3 else 0
        expires_at = datetime.fromtimestamp(expires, UTC) if expires else None
    except (ValueError, OverflowError, OSError):
        return None
    if not _TOKEN_ID.match(parts[1]):
        return None
    return TenantToken(tenant_id, parts[1], expires_at)


class TokenRefused(Exception):
    """The bearer token does not authenticate anybody; the message says why (the answer's detail)."""


class RevocationsNotLoaded(Exception):
    """This process has not yet loaded which tokens are revoked, so it cannot tell a tenant token's
    fate: it refuses tenant tokens meanwhile, rather than let a revoked one through."""


class RevokedTokens:
    """The ids of the revoked tenant tokens, as this process knows them.

    Loaded once as the process starts (`start_loading`) and then kept current by the catalog's
    events (`follow_revocations`). The event queue is bound before the load, and a revocation is
    never lifted, so adding the two in any order gives the same set. Until the load succeeded,
    `check` refuses every tenant token with `RevocationsNotLoaded`.
    """

    def __init__(self) -> None:
        self._revoked: dict[str, datetime | None] = {}
        self._loaded = asyncio.Event()
        self._loader: asyncio.Task[None] | None = None

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set()

    def __contains__(self, token_id: object) -> bool:
        return token_id in self._revoked

    def __len__(self) -> int:
        return len(self._revoked)

    def add(self, revoked: RevokedToken) -> None:
        self._revoked[revoked.token_id] = revoked.expires_at

    def load(self, revoked: Iterable[RevokedToken]) -> None:
        for token in revoked:
            self.add(token)
        self.forget_expired(datetime.now(UTC))
        self._loaded.set()

    async def wait_loaded(self) -> None:
        await self._loaded.wait()

    def forget_expired(self, now: datetime) -> None:
        """Expired tokens are refused from their payload alone: no need to remember them."""
        for token_id, expires_at in list(self._revoked.items()):
            if expires_at is not None and expires_at <= now:
                del self._revoked[token_id]

    async def check(self, token: TenantToken, *, wait_seconds: float) -> None:
        """Raise `TokenRefused` if the token is revoked; waits up to `wait_seconds` for the load."""
        if not self._loaded.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_seconds):
                    await self.wait_loaded()
            if not self._loaded.is_set():
                raise RevocationsNotLoaded()
        if token.token_id in self._revoked:
            raise TokenRefused("token revoked")

    def start_loading(self, fetch: Callable[[], Awaitable[list[RevokedToken]]]) -> None:
        """Load the revoked tokens in the background, retrying (logged) until `fetch` answers once."""

        async def load_once() -> None:
            self.load(await fetch())
            log.info("revoked tokens loaded", revoked=len(self._revoked))

        self._loader = asyncio.create_task(
            until_done("revoked-tokens-load", load_once, max_backoff_seconds=5)
        )

    async def stop(self) -> None:
        if self._loader is not None:
            self._loader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loader
            self._loader = None


def follow_revocations(broker: RabbitBroker, consumer: str, instance_id: str, revoked: RevokedTokens) -> None:
    """Subscribe this process (`instance_id`) to the catalog's revocations, in a queue of its own."""

    @broker.subscriber(
        instance_queue(consumer, "token-revocations", CatalogEventKind.TOKEN_REVOKED.value, instance_id),
        CATALOG_EXCHANGE,
        title=f"{consumer}.token-revocations.<instance>",
        description="Revoked tenant tokens (`catalog.token.revoked`): every replica refuses them from then on.",
    )
    async def on_token_revoked(event: CatalogEvent) -> None:
        if event.token is not None:
            revoked.add(event.token)
            log.info(
                "tenant token revoked", token_id=event.token.token_id, tenant_id=str(event.token.tenant_id)
            )


def revocations_from_catalog(
    rpc: RpcClient, *, timeout_seconds: float
) -> Callable[[], Awaitable[list[RevokedToken]]]:
    """Asks the catalog (`catalog.rpc`) for every revoked token that has not expired."""

    async def fetch() -> list[RevokedToken]:
        try:
            reply = await rpc.request(
                RevokedTokensRequest().model_dump_json().encode(),
                queue=CATALOG_RPC_QUEUE_NAME,
                timeout=timeout_seconds,
                expiration=timeout_seconds,
            )
        except DeliveryError:
            # catalog.rpc is durable: it exists once a catalog has ever started on this broker. Without
            # it no catalog has run, so nothing was ever revoked; revocations to come arrive as events.
            log.info("no catalog has run on this broker yet: no token is revoked")
            return []
        return list(RevokedTokensReply.model_validate_json(reply).tokens)

    return fetch


REVOCATIONS_RPC_TIMEOUT_SECONDS = 5.0
"""How long one request for the revoked tokens waits for the catalog (it is asked again until it answers)."""

_bearer = HTTPBearer(auto_error=False)


TokenSecrets = Callable[[Request], tuple[str, str]]
"""Given the request, the key that signs tenant tokens and the operator's token."""

REVOCATIONS_WAIT_SECONDS = 5.0
"""How long a request with a tenant token waits for a starting process to load the revoked tokens."""


def authenticate(
    token: str, *, secret: str, operator_token: str, now: datetime
) -> tuple[Principal, TenantToken | None]:
    """The caller a bearer token names; raises `TokenRefused` (why) for a wrong or expired one."""
    if hmac.compare_digest(token.encode(), operator_token.encode()):
        return Principal("operator"), None
    tenant_token = read_tenant_token(token, secret)
    if tenant_token is None:
        raise TokenRefused("invalid token")
    if tenant_token.expired(now):
        raise TokenRefused("token expired")
    return Principal("tenant", tenant_token.tenant_id, tenant_token.token_id), tenant_token


def app_token_secrets(request: Request) -> tuple[str, str]:
    """`TokenSecrets` of an API whose app keeps its `ApiAuthSettings` in `app.state.settings`."""
    settings = request.app.state.settings
    return settings.token_secret, settings.operator_token


def principal_dependency(
    get_secrets: TokenSecrets,
) -> Callable[[Request, HTTPAuthorizationCredentials | None], Coroutine[Any, Any, Principal]]:
    """A FastAPI dependency resolving the caller; `get_secrets(request)` returns (token_secret, operator_token),
    and `request.app.state.revoked_tokens` is the process's `RevokedTokens`."""

    async def principal(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Principal:
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing bearer token (Authorization: Bearer <token>)"
            )
        secret, operator_token = get_secrets(request)
        revoked: RevokedTokens = request.app.state.revoked_tokens
        try:
            found, tenant_token = authenticate(
                credentials.credentials, secret=secret, operator_token=operator_token, now=datetime.now(UTC)
            )
            if tenant_token is not None:
                await revoked.check(tenant_token, wait_seconds=REVOCATIONS_WAIT_SECONDS)
        except TokenRefused as refused:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(refused)) from None
        except RevocationsNotLoaded:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "this service is still loading the list of revoked tokens from the catalog; try again shortly",
                headers={"Retry-After": "5"},
            ) from None
        return found

    return principal
