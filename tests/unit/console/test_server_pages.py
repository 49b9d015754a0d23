"""Server pages in process, the catalog stood in for by `httpx.MockTransport`: the picker, the
generated form (secrets never echoed, the catalog's 422 next to its field), the detail page, actions."""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from uuid import uuid4

import httpx
import pytest
from fastapi.testclient import TestClient

from services.catalog.domain.server_types import BUILT_IN_TYPES
from services.catalog.entrypoints.http_schemas import ServerTypeOut
from tests.unit.console.harness import OPERATOR_TOKEN, TENANT_TOKEN, console_client

SERVER_TYPES = [ServerTypeOut.of(spec).model_dump(mode="json") for spec in BUILT_IN_TYPES]
SERVER_ID = str(uuid4())
SECRET = "s3cret-password-canary"


def server(**fields: object) -> dict[str, object]:
    return {
        "id": SERVER_ID,
        "tenant_id": None,
        "name": "relay-1",
        "type": "smtp",
        "vendor": "smtp",
        "settings": {
            "host": "mx.example.com",
            "port": 587,
            "encryption": "tls",
            "username": "u",
            "verify_certificate": True,
        },
        "state": "inactive",
        "pause": None,
        "hold": None,
        "limits": {"per_second": None, "per_minute": None, "per_hour": 100, "per_day": None},
        "warmup": {
            "kind": "linear",
            "start_date": "2020-01-01",
            "start_volume": 10,
            "target_volume": 100,
            "days": 5,
            "table": [],
        },
        "destination_rules": [],
        "identity": {
            "from_domains": ["example.com"],
            "dkim_selector": "s1",
            "return_path_domain": None,
            "dkim_algorithm": "rsa",
            "dkim_dns_records": [{"name": "s1._domainkey.example.com", "type": "TXT", "value": "v=DKIM1"}],
        },
        "identity_verification": None,
        "bounce_handling": {"max_bounce_rate": 0.05, "max_complaint_rate": 0.001, "min_volume": 200},
        "reputation": None,
        "shared": False,
        "settings_changed_at": "2025-01-01T10:00:00Z",
        "last_test": None,
        "version": 1,
        "created_at": "2025-01-01T10:00:00Z",
        "updated_at": "2025-01-01T10:00:00Z",
        **fields,
    }


@dataclass
class Catalog:
    current: dict[str, object] = field(default_factory=server)
    posted: list[tuple[str, object]] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        body = json.loads(request.content) if request.content else None
        if method == "POST":
            self.posted.append((path, body))
        match method, path:
            case "GET", "/pool":
                if request.headers["Authorization"] != f"Bearer {OPERATOR_TOKEN}":
                    return httpx.Response(403, json={"detail": "operator only"})
                return httpx.Response(200, json={})
            case "GET", "/servers/summary":
                return httpx.Response(200, json={})
            case "GET", "/server-types":
                return httpx.Response(200, json=SERVER_TYPES)
            case "GET", "/tenants":
                return httpx.Response(200, json=[{"id": str(uuid4()), "name": "acme"}])
            case "POST", "/servers":
                if body["settings"]["host"] == "bad host":
                    return httpx.Response(
                        422,
                        json={"detail": [{"loc": ["body", "settings", "host"], "msg": "not a host name"}]},
                    )
                return httpx.Response(201, json=server())
            case "GET", _ if path == f"/servers/{SERVER_ID}":
                return httpx.Response(200, json=self.current)
            case "POST", _ if path == f"/servers/{SERVER_ID}/test":
                self.current = server(
                    last_test={
                        "ok": False,
                        "message": "Connection failed: refused",
                        "tested_at": "2025-01-02T00:00:00Z",
                    }
                )
                return httpx.Response(200, json=self.current["last_test"])
            case "POST", _ if path == f"/servers/{SERVER_ID}/enable":
                return httpx.Response(409, json={"detail": "cannot be enabled: never tested"})
        return httpx.Response(404, json={"detail": "server not found"})


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


@pytest.fixture
def client(catalog: Catalog) -> Iterator[TestClient]:
    with console_client(catalog.handle) as client:
        yield client


def signed_in(client: TestClient, token: str = OPERATOR_TOKEN) -> str:
    assert client.post("/sign-in", data={"token": token, "next": "/"}).status_code == 303
    page = client.get("/servers/new")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def test_the_picker_offers_every_type_and_shows_the_operators_to_a_tenant_unavailable(client):
    signed_in(client, TENANT_TOKEN)
    page = client.get("/servers/new").text
    assert 'href="/servers/new/smtp"' in page
    assert 'href="/servers/new/direct_mx"' not in page
    assert "Only the operator adds this type" in page
    assert client.get("/servers/new/direct_mx").status_code == 403


def test_the_form_is_generated_from_the_schema(client):
    signed_in(client)
    page = client.get("/servers/new/smtp").text
    assert re.search(r'<input type="text" id="f-settings-host" name="settings.host" required', page)
    assert re.search(r'<input type="password" autocomplete="new-password" id="f-settings-password"', page)
    assert re.search(r'type="number" id="f-settings-port"[^>]*min="1" max="65535"[^>]*value="587"', page)
    assert '<select id="f-settings-encryption"' in page
    assert re.search(r'type="checkbox" value="on" id="f-settings-verify-certificate"[^>]*checked', page)
    assert 'aria-describedby="f-settings-encryption-hint"' in page
    assert "Tenant acme" in page  # the operator chooses the owner
    assert client.get("/servers/new/no_such_type").status_code == 404


def test_a_refused_form_keeps_its_values_but_never_the_secret_and_shows_the_field_error(client, catalog):
    csrf = signed_in(client)
    response = client.post(
        "/servers/new/smtp",
        data={
            "csrf": csrf,
            "name": "relay",
            "settings.host": "bad host",
            "settings.password": SECRET,
            "limits.per_hour": "50",
        },
    )
    assert response.status_code == 422
    assert SECRET not in response.text
    assert 'id="f-settings-host-error">not a host name' in response.text
    assert 'value="relay"' in response.text
    assert catalog.posted[-1][1]["settings"]["password"] == SECRET
    assert catalog.posted[-1][1]["limits"] == {"per_hour": 50}


def test_a_malformed_number_is_refused_without_calling_the_catalog(client, catalog):
    csrf = signed_in(client)
    response = client.post(
        "/servers/new/smtp", data={"csrf": csrf, "name": "r", "settings.host": "h", "settings.port": "x"}
    )
    assert response.status_code == 422
    assert "must be a whole number" in response.text
    assert catalog.posted == []


def test_a_saved_server_goes_to_its_page(client):
    csrf = signed_in(client)
    response = client.post(
        "/servers/new/smtp", data={"csrf": csrf, "name": "r", "settings.host": "mx.example.com"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/servers/{SERVER_ID}"


def test_the_detail_page_shows_every_section(client):
    signed_in(client)
    page = client.get(f"/servers/{SERVER_ID}").text
    for text in (
        "Connection",
        "mx.example.com",
        "write-only",
        "Limits",
        "Identity and DKIM",
        "s1._domainkey.example.com",
        "Check DNS now",
        "Warmup",
        "Bounce handling",
        "never been tested",
        "Test connection",
        "Send a test email",
        "Enable",
        "Disable",
    ):
        assert text in page, text
    assert client.get("/servers/not-an-id").status_code == 404
    assert client.get(f"/servers/{uuid4()}").status_code == 404


def test_actions_show_the_catalogs_answer_in_the_state_section(client, catalog):
    csrf = signed_in(client)
    tested = client.post(f"/servers/{SERVER_ID}/test", data={"csrf": csrf}, headers={"HX-Request": "true"})
    assert tested.status_code == 200
    assert 'id="server-state"' in tested.text
    assert "Connection failed: refused" in tested.text
    assert "The last connection test failed (Connection failed: refused)" in tested.text
    refused = client.post(f"/servers/{SERVER_ID}/enable", data={"csrf": csrf})
    assert refused.status_code == 200
    assert "The catalog refused: cannot be enabled: never tested" in refused.text
    paused = client.post(f"/servers/{SERVER_ID}/pause", data={"csrf": csrf, "reason": " "})
    assert "Give a reason to pause" in paused.text
    assert all(path != f"/servers/{SERVER_ID}/pause" for path, _ in catalog.posted)
