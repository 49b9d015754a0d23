"""The console in process for unit tests: its settings, and a client whose API calls go to a stand-in
(`httpx.MockTransport` over a handler), signed in through the form or with a sealed session."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from uuid import uuid4

import httpx
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from services.console.adapters.session_cookie import COOKIE_NAME
from services.console.domain.session import Session
from services.console.entrypoints.http import create_console
from services.console.settings import ConsoleSettings

OPERATOR_TOKEN = "operator-TOKEN-canary-3f9a1c7e5b2d"
TENANT_ID = uuid4()
TENANT_TOKEN = f"spt_{TENANT_ID}.tenant-TOKEN-canary-8e4d2a6c0f1b"
KEY = Fernet.generate_key().decode()

Handler = Callable[[httpx.Request], httpx.Response]


def console_settings(**overrides: object) -> ConsoleSettings:
    values: dict[str, object] = {
        "catalog_url": "http://catalog.test",
        "scheduler_url": "http://scheduler.test",
        "router_url": "http://router.test",
        "session_keys": [KEY],
        "secure_cookies": False,
        "dev_mode": False,
    }
    return ConsoleSettings(**(values | overrides))  # type: ignore[arg-type]


@contextmanager
def console_client(
    handler: Handler, *, session: Session | None = None, **overrides: object
) -> Iterator[TestClient]:
    """The console whose every API call `handler` answers; with `session`, already signed in as it."""
    app = create_console(console_settings(**overrides), transport=httpx.MockTransport(handler))
    with TestClient(app, follow_redirects=False) as client:
        if session is not None:
            client.cookies.set(COOKIE_NAME, app.state.cookies.seal(session))
        yield client
