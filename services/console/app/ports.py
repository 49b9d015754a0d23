"""What the console needs from the outside: the services' HTTP APIs, called with the user's token.

The console decides nothing about access: every call carries the signed-in token, and the API it
reaches answers as it would answer that token anywhere else (a tenant never sees another's servers
because the catalog never shows them to its token).
"""

from collections.abc import Mapping
from typing import Any, Protocol


class ApiRefused(Exception):
    """A service answered 4xx: `status`, the `detail` it gave (for a person), and per-field messages
    (`fields`, keyed by the field's dotted path in the request, e.g. `settings.host`) for a 422."""

    def __init__(
        self, service: str, status: int, detail: str, fields: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{service} answered {status}: {detail}")
        self.service = service
        self.status = status
        self.detail = detail
        self.fields = dict(fields or {})


class ApiUnavailable(Exception):
    """A service could not be reached, timed out, or answered 5xx: nothing to show but that."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service} is unavailable: {reason}")
        self.service = service
        self.reason = reason


Params = Mapping[str, Any] | list[tuple[str, Any]] | None


class ServiceApi(Protocol):
    """One service's HTTP API; each method returns the decoded JSON answer (None for 204)."""

    name: str

    async def get(self, path: str, token: str, *, params: Params = None) -> Any: ...

    async def post(self, path: str, token: str, *, json: Any = None, params: Params = None) -> Any: ...

    async def put(self, path: str, token: str, *, json: Any = None) -> Any: ...

    async def patch(self, path: str, token: str, *, json: Any = None) -> Any: ...

    async def delete(self, path: str, token: str) -> Any: ...


class Apis(Protocol):
    @property
    def catalog(self) -> ServiceApi: ...

    @property
    def scheduler(self) -> ServiceApi: ...

    @property
    def router(self) -> ServiceApi: ...
