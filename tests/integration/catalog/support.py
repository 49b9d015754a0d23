"""Helpers for the catalog's integration tests: API clients per role and the shapes of common requests."""

import asyncio
import textwrap
from collections.abc import Callable
from pathlib import Path
from uuid import uuid4

import httpx

OPERATOR_TOKEN = "test-operator-token"  # tests/conftest.py: service_env
PASSWORD = "pw-9f3c1e-never-shown-anywhere"  # a value whose appearance anywhere but a probe is a leak
GOOD_HOST = "smtp.good.example"  # the test probe worker answers "ok" for this host only


def smtp_settings(host: str = GOOD_HOST, **overrides: object) -> dict:
    return {"host": host, "port": 2525, "username": "mailer", "password": PASSWORD, **overrides}


async def create_server(api: httpx.AsyncClient, **fields: object) -> dict:
    """An SMTP server saved through the API (a tenant's own, or a pool server if `api` is the operator's)."""
    body = {"name": unique("server"), "type": "smtp", "settings": smtp_settings(), **fields}
    created = await api.post("/servers", json=body)
    assert created.status_code == 201, created.text
    return created.json()


async def all_servers(api: httpx.AsyncClient, **params: object) -> list[dict]:
    """Every server the caller sees (matching `params`), page after page."""
    servers: list[dict] = []
    while True:
        page = await api.get("/servers", params={**params, "limit": 200, "offset": len(servers)})
        assert page.status_code == 200, page.text
        servers += page.json()["items"]
        if len(servers) >= page.json()["total"]:
            return servers


PLUGIN_TYPE = "postal_api"
PLUGIN_SETTINGS = {"base_url": "https://postal.example", "server_key": "pk-secret"}


def install_server_type_plugin(directory: Path) -> Path:
    """A third-party distribution offering the server type `postal_api`, importable from `directory`."""
    (directory / "sendpool_postal.py").write_text(
        textwrap.dedent(
            '''
            from pydantic import Field, SecretStr

            from services.catalog.domain.server_forms import ServerSettingsModel
            from services.catalog.domain.server_types import ServerTypeSpec


            class PostalSettings(ServerSettingsModel):
                """Postal (self-hosted) HTTP API."""

                base_url: str = Field(description="Where the Postal server answers.")
                server_key: SecretStr


            POSTAL_API = ServerTypeSpec(
                name="postal_api", vendor="postal", integration="api", settings_model=PostalSettings,
                title="Postal (self-hosted) HTTP API",
            )
            '''
        )
    )
    dist_info = directory / "sendpool_postal-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: sendpool-postal\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[sendpool.server_types]\npostal_api = sendpool_postal:POSTAL_API\n"
    )
    return directory


def client(base_url: str, token: str | None, responses: list[httpx.Response]) -> httpx.AsyncClient:
    async def keep(response: httpx.Response) -> None:
        await response.aread()
        responses.append(response)

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=15, event_hooks={"response": [keep]})


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:8]}"


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def error_locs(response: httpx.Response) -> list[list]:
    return [error["loc"] for error in response.json()["detail"]]
