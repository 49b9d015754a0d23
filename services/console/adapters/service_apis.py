"""The services' HTTP APIs over httpx, one pooled client for all of them.

Each call's time is added to the request's `upstream` time (`UPSTREAM_SECONDS`), which the console
reports in its `Server-Timing` header beside its own.
"""

import contextvars
import time
from dataclasses import dataclass
from typing import Any

import httpx

from services.console.app.ports import ApiRefused, ApiUnavailable, Params

UPSTREAM_SECONDS: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "console_upstream_seconds", default=None
)
"""The request's list of upstream call durations (set by the timing middleware; None outside a request)."""

MAX_DETAIL_CHARS = 500
"""A service's refusal is shown to the user; a longer one is cut (it came from our own APIs, but a
server's reply quoted in it is the tenant's text)."""


class HttpServiceApi:
    def __init__(self, name: str, base_url: str, client: httpx.AsyncClient) -> None:
        self.name = name
        self._base_url = base_url.rstrip("/")
        self._client = client

    async def get(self, path: str, token: str, *, params: Params = None) -> Any:
        return await self._call("GET", path, token, params=params)

    async def post(self, path: str, token: str, *, json: Any = None, params: Params = None) -> Any:
        return await self._call("POST", path, token, json=json, params=params)

    async def put(self, path: str, token: str, *, json: Any = None) -> Any:
        return await self._call("PUT", path, token, json=json)

    async def patch(self, path: str, token: str, *, json: Any = None) -> Any:
        return await self._call("PATCH", path, token, json=json)

    async def delete(self, path: str, token: str) -> Any:
        return await self._call("DELETE", path, token)

    async def _call(
        self, method: str, path: str, token: str, *, params: Params = None, json: Any = None
    ) -> Any:
        started = time.perf_counter()
        try:
            response = await self._client.request(
                method,
                f"{self._base_url}{path}",
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.TimeoutException:
            raise ApiUnavailable(self.name, "it did not answer in time") from None
        except httpx.HTTPError as error:
            raise ApiUnavailable(self.name, f"it could not be reached ({type(error).__name__})") from None
        finally:
            durations = UPSTREAM_SECONDS.get()
            if durations is not None:
                durations.append(time.perf_counter() - started)
        if response.status_code >= 500:
            raise ApiUnavailable(self.name, f"it answered {response.status_code}: {_detail(response)}")
        if response.status_code >= 400:
            raise ApiRefused(self.name, response.status_code, _detail(response), _field_errors(response))
        if response.status_code == 204 or not response.content:
            return None
        return response.json()


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _detail(response: httpx.Response) -> str:
    body = _body(response)
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):
        text = "; ".join(
            f"{_location(item)}: {item.get('msg', '')}" for item in detail if isinstance(item, dict)
        )
    elif detail is not None:
        text = str(detail)
    else:
        text = response.reason_phrase or str(response.status_code)
    return text[:MAX_DETAIL_CHARS]


def _location(item: dict[str, Any]) -> str:
    """`["body", "settings", "host"]` → `settings.host`; the first part says where, not which field."""
    parts = [str(part) for part in item.get("loc", [])]
    if parts and parts[0] in {"body", "query", "path"}:
        parts = parts[1:]
    return ".".join(parts) or "request"


def _field_errors(response: httpx.Response) -> dict[str, str]:
    body = _body(response)
    detail = body.get("detail") if isinstance(body, dict) else None
    if response.status_code != 422 or not isinstance(detail, list):
        return {}
    errors: dict[str, str] = {}
    for item in detail:
        if isinstance(item, dict):
            errors.setdefault(_location(item), str(item.get("msg", ""))[:MAX_DETAIL_CHARS])
    return errors


@dataclass(frozen=True)
class HttpApis:
    catalog: HttpServiceApi
    scheduler: HttpServiceApi
    router: HttpServiceApi

    @classmethod
    def over(cls, client: httpx.AsyncClient, *, catalog: str, scheduler: str, router: str) -> "HttpApis":
        return cls(
            catalog=HttpServiceApi("catalog", catalog, client),
            scheduler=HttpServiceApi("scheduler", scheduler, client),
            router=HttpServiceApi("router", router, client),
        )
