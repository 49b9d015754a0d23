"""The session cookie: the `Session` as JSON, sealed (encrypted and authenticated) with Fernet."""

import json
from uuid import UUID

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from services.console.domain.session import Session

COOKIE_NAME = "sendpool_console"
MAX_COOKIE_BYTES = 4096
"""What browsers keep of one cookie; a longer value is not a cookie we sealed."""


class SessionCookies:
    def __init__(self, keys: list[str], *, max_age_seconds: int) -> None:
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        self.max_age_seconds = max_age_seconds

    def seal(self, session: Session) -> str:
        payload = {
            "token": session.token,
            "role": session.role,
            "tenant_id": str(session.tenant_id) if session.tenant_id else None,
            "csrf": session.csrf,
        }
        return self._fernet.encrypt(json.dumps(payload).encode()).decode()

    def open(self, cookie: str | None) -> Session | None:
        """The session, or None if there is none, it was not sealed with our keys, or it has expired."""
        if not cookie or len(cookie) > MAX_COOKIE_BYTES:
            return None
        try:
            payload = json.loads(self._fernet.decrypt(cookie.encode(), ttl=self.max_age_seconds))
            role = payload["role"]
            if role not in ("operator", "tenant"):
                return None
            tenant_id = UUID(payload["tenant_id"]) if payload.get("tenant_id") else None
            return Session(
                token=str(payload["token"]), role=role, tenant_id=tenant_id, csrf=str(payload["csrf"])
            )
        except (InvalidToken, ValueError, KeyError, TypeError):
            return None
