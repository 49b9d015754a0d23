"""API tokens: an operator token from settings, and tenant tokens signed with a shared HMAC key.

Tenant tokens are stateless so that every service with an HTTP API (catalog, scheduler) can
check them without asking the catalog: `spt_<tenant uuid>.<random>.<signature>`.
"""

import hashlib
import hmac
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer


@dataclass(frozen=True)
class Principal:
    role: str  # "operator" or "tenant"
    tenant_id: UUID | None = None

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


def _sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]


def issue_tenant_token(secret: str, tenant_id: UUID) -> str:
    payload = f"{tenant_id}.{secrets.token_urlsafe(12)}"
    return f"spt_{payload}.{_sign(secret, payload)}"


def verify_token(token: str, *, secret: str, operator_token: str) -> Principal | None:
    if hmac.compare_digest(token.encode(), operator_token.encode()):
        return Principal("operator")
    if not token.startswith("spt_"):
        return None
    payload, _, signature = token[4:].rpartition(".")
    if not payload or not hmac.compare_digest(signature, _sign(secret, payload)):
        return None
    try:
        return Principal("tenant", UUID(payload.split(".", 1)[0]))
    except ValueError:
        return None


_bearer = HTTPBearer(auto_error=False)


TokenSecrets = Callable[[Request], tuple[str, str]]
"""Given the request, the key that signs tenant tokens and the operator's token."""


def principal_dependency(
    get_secrets: TokenSecrets,
) -> Callable[[Request, HTTPAuthorizationCredentials | None], Coroutine[Any, Any, Principal]]:
    """A FastAPI dependency resolving the caller; `get_secrets(request)` returns (token_secret, operator_token)."""

    async def principal(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> Principal:
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "missing bearer token (Authorization: Bearer <token>)"
            )
        secret, operator_token = get_secrets(request)
        found = verify_token(credentials.credentials, secret=secret, operator_token=operator_token)
        if found is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token")
        return found

    return principal
