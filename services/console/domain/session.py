"""Who is signed in: the API token the user gave, what it is (operator or tenant), and the form key.

The session travels in a cookie sealed with the console's keys (`adapters.session_cookie`): the
console stores nothing, and a stolen cookie is as good as the token only until it expires.
"""

import re
import secrets
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

Role = Literal["operator", "tenant"]

_TENANT_TOKEN = re.compile(r"^spt_([0-9a-fA-F-]{36})\.")


@dataclass(frozen=True)
class Session:
    token: str
    role: Role
    tenant_id: UUID | None
    csrf: str
    """Sent back with every form and htmx request: a request from another site cannot know it."""

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    @classmethod
    def signed_in(cls, token: str, role: Role) -> "Session":
        return cls(token=token, role=role, tenant_id=tenant_of(token), csrf=secrets.token_urlsafe(24))


def tenant_of(token: str) -> UUID | None:
    """The tenant a tenant token names (the APIs check its signature; this only reads it for display)."""
    found = _TENANT_TOKEN.match(token)
    if not found:
        return None
    try:
        return UUID(found.group(1))
    except ValueError:
        return None
