"""The console's own safety, in process: sessions, form keys, redirects, headers, secrets, failures.

The services' APIs are stood in for by `httpx.MockTransport` (`create_console(..., transport=...)`),
which records every call: a refused form must call none. The real-stack tests are the browser ones.
"""

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from uuid import uuid4

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from services.console.adapters.session_cookie import COOKIE_NAME, SessionCookies
from services.console.domain.session import Session
from services.console.entrypoints.http import create_console
from services.console.entrypoints.middleware import CONTENT_SECURITY_POLICY
from services.console.settings import ConsoleSettings
from tests.unit.console.harness import (
    KEY,
    OPERATOR_TOKEN,
    TENANT_TOKEN,
    console_client,
    console_settings,
)

SUMMARY = {
    "counts": {"total": 1, "active": 1, "inactive": 0, "paused": 0, "disabled": 0},
    "vendors": {"smtp": 1},
    "throughput": {"per_hour": 100, "unlimited_servers": 0},
    "warmup": [],
    "reputation": {"reported": 0, "over_limits": [], "worst_bounce": None, "worst_complaint": None},
}
SERVER = {
    "id": str(uuid4()),
    "name": "mail-1",
    "type": "smtp",
    "state": "active",
    "tenant_id": None,
    "shared": False,
    "limits": {"per_hour": 100},
    "last_test": None,
}
SERVER_TYPES = [{"name": "smtp", "label": "SMTP relay", "title": "SMTP", "vendor": "smtp"}]


@dataclass
class FakeApis:
    """The services' APIs: canned answers by (service, path), overridable; every call recorded."""

    calls: list[httpx.Request] = field(default_factory=list)
    overrides: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]] = field(default_factory=dict)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        service = request.url.host.split(".")[0]
        override = self.overrides.get((service, request.url.path))
        if override is not None:
            return override(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in (OPERATOR_TOKEN, TENANT_TOKEN):
            return httpx.Response(401, json={"detail": "invalid token"})
        operator = token == OPERATOR_TOKEN
        match service, request.url.path:
            case "catalog", "/pool":
                if not operator:
                    return httpx.Response(403, json={"detail": "operator only"})
                return httpx.Response(200, json={"summary": SUMMARY, "owners": []})
            case "catalog", "/servers/summary":
                return httpx.Response(200, json=SUMMARY)
            case "catalog", "/servers":
                return httpx.Response(200, json={"items": [SERVER], "total": 1, "limit": 50, "offset": 0})
            case "catalog", "/server-types":
                return httpx.Response(200, json=SERVER_TYPES)
        return httpx.Response(404, json={"detail": "Not Found"})

    def tokens_used(self) -> set[str]:
        return {request.headers.get("Authorization", "") for request in self.calls}


@pytest.fixture
def apis() -> FakeApis:
    return FakeApis()


@pytest.fixture
def client(apis: FakeApis) -> Iterator[TestClient]:
    with console_client(apis.handle) as client:
        yield client


def sign_in(client: TestClient, token: str = OPERATOR_TOKEN, next: str = "/") -> httpx.Response:
    response = client.post("/sign-in", data={"token": token, "next": next})
    assert response.status_code == 303, response.text
    return response


def sealed(session: Session, key: str = KEY, *, max_age: int = 3600) -> str:
    return SessionCookies([key], max_age_seconds=max_age).seal(session)


def session_of(client: TestClient) -> Session:
    opened = SessionCookies([KEY], max_age_seconds=3600).open(client.cookies.get(COOKIE_NAME))
    assert opened is not None
    return opened


def goes_to_sign_in(response: httpx.Response) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith("/sign-in")


# ---- sessions


def test_a_signed_in_operator_sees_the_pool(client, apis):
    sign_in(client)
    response = client.get("/")
    assert response.status_code == 200
    assert "mail-1" in response.text
    assert apis.tokens_used() == {f"Bearer {OPERATOR_TOKEN}"}


def test_without_a_cookie_a_page_sends_to_sign_in_and_back(client, apis):
    response = client.get("/?q=mail")
    assert goes_to_sign_in(response)
    assert response.headers["location"] == "/sign-in?next=%2F%3Fq%3Dmail"
    assert apis.calls == []


def test_a_tampered_cookie_is_no_session(client, apis):
    cookie = sealed(Session.signed_in(OPERATOR_TOKEN, "operator"))
    # One character changed in the middle of the ciphertext: Fernet's HMAC refuses it.
    middle = len(cookie) // 2
    tampered = cookie[:middle] + ("A" if cookie[middle] != "A" else "B") + cookie[middle + 1 :]
    for value in (tampered, cookie[:-4], cookie + "x", "not-a-cookie", "x" * 5000):
        client.cookies.set(COOKIE_NAME, value)
        assert goes_to_sign_in(client.get("/")), value[:20]
    assert apis.calls == []


def test_a_cookie_sealed_with_a_foreign_key_is_no_session(client, apis):
    client.cookies.set(
        COOKIE_NAME, sealed(Session.signed_in(OPERATOR_TOKEN, "operator"), Fernet.generate_key().decode())
    )
    assert goes_to_sign_in(client.get("/"))
    assert apis.calls == []


def test_a_session_sealed_with_a_previous_key_still_opens_while_that_key_is_listed(apis):
    old = Fernet.generate_key().decode()
    app = create_console(
        console_settings(session_keys=[KEY, old]), transport=httpx.MockTransport(apis.handle)
    )
    with TestClient(app, follow_redirects=False) as client:
        client.cookies.set(COOKIE_NAME, sealed(Session.signed_in(OPERATOR_TOKEN, "operator"), old))
        assert client.get("/").status_code == 200


def test_an_expired_session_is_no_session(apis):
    app = create_console(console_settings(session_hours=1.0), transport=httpx.MockTransport(apis.handle))
    two_hours_ago = int(time.time()) - 2 * 3600
    cookie = Fernet(KEY.encode()).encrypt_at_time(
        b'{"token": "%s", "role": "operator", "tenant_id": null, "csrf": "k"}' % OPERATOR_TOKEN.encode(),
        two_hours_ago,
    )
    with TestClient(app, follow_redirects=False) as client:
        client.cookies.set(COOKIE_NAME, cookie.decode())
        assert goes_to_sign_in(client.get("/"))
    assert apis.calls == []


def test_a_refused_token_signs_nobody_in(client):
    response = client.post("/sign-in", data={"token": "not-a-token-anyone-issued", "next": "/"})
    assert response.status_code == 401
    assert COOKIE_NAME not in response.headers.get("set-cookie", "")
    assert "not-a-token-anyone-issued" not in response.text


# ---- the session cookie's attributes


def cookie_attributes(response: httpx.Response) -> set[str]:
    (set_cookie,) = [value for name, value in response.headers.multi_items() if name == "set-cookie"]
    assert set_cookie.startswith(f"{COOKIE_NAME}=")
    return {part.strip().lower() for part in set_cookie.split(";")[1:]}


def test_the_session_cookie_is_httponly_strict_and_secure(apis):
    app = create_console(console_settings(secure_cookies=True), transport=httpx.MockTransport(apis.handle))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        attributes = cookie_attributes(sign_in(client))
    assert {"httponly", "samesite=strict", "secure", "path=/"} <= attributes
    assert any(attribute.startswith("max-age=") for attribute in attributes)


def test_the_session_cookie_is_not_secure_only_where_secure_cookies_is_off(client):
    attributes = cookie_attributes(sign_in(client))
    assert {"httponly", "samesite=strict"} <= attributes
    assert "secure" not in attributes


def test_secure_cookies_is_on_unless_turned_off():
    assert ConsoleSettings.model_fields["secure_cookies"].default is True


# ---- forms: the form key


@pytest.mark.parametrize("csrf", [None, "", "a-wrong-form-key"])
def test_a_post_without_the_right_form_key_is_refused_and_calls_no_api(client, apis, csrf):
    sign_in(client)
    apis.calls.clear()
    data = {} if csrf is None else {"csrf": csrf}
    for path in ("/sign-out", "/servers/new/smtp", f"/servers/{SERVER['id']}/disable"):
        response = client.post(path, data=data)
        assert response.status_code in (403, 404, 405), (path, response.status_code)
        if path == "/sign-out":
            assert response.status_code == 403
            assert "did not come from this console" in response.text
            assert COOKIE_NAME in client.cookies  # not signed out
    assert apis.calls == []


def test_a_body_over_the_cap_is_refused_with_413_before_it_is_read_and_calls_no_api(apis):
    with console_client(apis.handle, http_max_body_bytes=4096) as client:
        sign_in(client)
        apis.calls.clear()
        csrf = session_of(client).csrf
        response = client.post("/campaigns/new", data={"csrf": csrf, "content.html": "x" * 5000})
        assert response.status_code == 413
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert apis.calls == []
        # Under the cap, the same form is read (and refused for what it lacks, not for its size).
        assert (
            client.post("/campaigns/new", data={"csrf": csrf, "content.html": "x" * 100}).status_code != 413
        )


def test_a_post_with_another_sessions_form_key_is_refused(client, apis):
    sign_in(client)
    other = Session.signed_in(OPERATOR_TOKEN, "operator")
    response = client.post("/sign-out", data={"csrf": other.csrf})
    assert response.status_code == 403
    assert apis.calls[-1].url.path != "/sign-out"


def test_the_right_form_key_passes_as_a_field_or_as_htmx_header(client):
    sign_in(client)
    csrf = session_of(client).csrf
    response = client.post("/sign-out", headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert response.status_code == 303
    sign_in(client)
    response = client.post("/sign-out", data={"csrf": session_of(client).csrf})
    assert response.status_code == 303 and response.headers["location"] == "/sign-in?reason=signed-out"


# ---- redirects stay on the console


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/path",
        "https://evil.example",
        "http://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_cannot_send_anyone_off_site(client, target):
    response = client.post("/sign-in", data={"token": OPERATOR_TOKEN, "next": target})
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    # Nor through the sign-in form's hidden field.
    form = client.get("/sign-in", params={"next": target})
    assert re.search(r'name="next" value="/"', form.text), form.text


def test_next_keeps_a_local_path_with_its_query(client):
    response = sign_in(client, next="/servers/new?type=smtp")
    assert response.headers["location"] == "/servers/new?type=smtp"


# ---- headers of every HTML answer


def html_answers(client: TestClient, apis: FakeApis) -> list[httpx.Response]:
    answers = [client.get("/sign-in"), client.get("/sign-in?reason=expired")]
    sign_in(client)
    answers += [client.get("/"), client.get("/?q=mail&state=active"), client.get("/no-such-page")]
    apis.overrides[("catalog", "/servers")] = lambda _: httpx.Response(503, json={"detail": "down"})
    answers.append(client.get("/"))
    apis.overrides[("catalog", "/servers")] = lambda _: httpx.Response(403, json={"detail": "not yours"})
    answers.append(client.get("/"))
    answers.append(client.get("/", headers={"HX-Request": "true", "HX-Target": "server-list"}))
    answers.append(client.post("/sign-out", data={"csrf": "wrong"}))
    return answers


def test_every_html_answer_carries_the_csp_and_no_store(client, apis):
    answers = html_answers(client, apis)
    assert {response.status_code for response in answers} >= {200, 403, 404, 502}
    for response in answers:
        assert response.headers["content-type"].startswith("text/html"), response.request.url
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "'unsafe-inline'" not in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert re.match(r"app;dur=\d+(\.\d+)?", response.headers["server-timing"])


def test_no_page_has_inline_script_or_style(client, apis):
    for response in html_answers(client, apis):
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text), response.request.url
        assert "<style" not in response.text and " style=" not in response.text
        assert not re.search(r"\son[a-z]+=", response.text), response.request.url


# ---- the token never reaches a page


@pytest.mark.parametrize("token", [OPERATOR_TOKEN, TENANT_TOKEN])
def test_the_token_never_appears_in_any_page(client, apis, token):
    pages = [client.get("/sign-in")]
    response = sign_in(client, token=token, next="/?q=canary")
    assert token not in response.text and token not in response.headers.get("location", "")
    assert token not in client.cookies[COOKIE_NAME]  # sealed, not merely signed
    pages += [
        client.get("/"),
        client.get("/?q=canary&offset=50"),
        client.get("/", headers={"HX-Request": "true", "HX-Target": "server-list"}),
        client.get("/no-such-page"),
        client.get("/sign-in"),
    ]
    apis.overrides[("catalog", "/servers")] = lambda _: httpx.Response(502, text="bad gateway")
    pages.append(client.get("/"))
    apis.overrides[("catalog", "/servers")] = lambda _: httpx.Response(422, json={"detail": "bad"})
    pages.append(client.get("/"))
    secret_part = token.rsplit(".", 1)[-1] if token.startswith("spt_") else token
    for page in pages:
        assert secret_part not in page.text, page.request.url
        for name, value in page.headers.items():
            if name != "set-cookie":
                assert secret_part not in value, (page.request.url, name)
    assert apis.tokens_used() <= {f"Bearer {token}", "Bearer "} | {f"Bearer {OPERATOR_TOKEN}"}


def test_a_failed_sign_in_does_not_echo_the_token(client):
    canary = "refused-TOKEN-canary-5a5a5a5a5a5a"
    response = client.post("/sign-in", data={"token": canary, "next": "/"})
    assert response.status_code == 401
    assert canary not in response.text
    assert 'value=""' in response.text or 'name="token"' in response.text


# ---- failures of the APIs


def test_an_api_401_clears_the_cookie_and_sends_to_sign_in(client, apis):
    sign_in(client)
    apis.overrides[("catalog", "/servers")] = lambda _: httpx.Response(401, json={"detail": "token revoked"})
    response = client.get("/?q=x")
    assert goes_to_sign_in(response)
    assert "reason=expired" in response.headers["location"]
    assert "next=%2F%3Fq%3Dx" in response.headers["location"]
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f'{COOKIE_NAME}=""') or set_cookie.startswith(f"{COOKIE_NAME}=;")
    assert "max-age=0" in set_cookie.lower()
    assert COOKIE_NAME not in client.cookies


def test_an_api_401_to_htmx_redirects_the_whole_page(client, apis):
    sign_in(client)
    apis.overrides[("catalog", "/servers")] = lambda _: httpx.Response(401, json={"detail": "token revoked"})
    response = client.get("/", headers={"HX-Request": "true", "HX-Target": "server-list"})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"].startswith("/sign-in?")
    assert COOKIE_NAME in response.headers["set-cookie"]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_an_api_5xx_is_a_502_page_naming_the_service(client, apis, status):
    sign_in(client)
    apis.overrides[("catalog", "/servers")] = lambda _: httpx.Response(status, json={"detail": "boom"})
    response = client.get("/")
    assert response.status_code == 502
    assert "catalog" in response.text
    assert "A service is unavailable" in response.text
    assert COOKIE_NAME in client.cookies  # still signed in


def test_an_unreachable_api_is_a_502_page_naming_the_service(client, apis):
    sign_in(client)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    apis.overrides[("catalog", "/server-types")] = refuse
    response = client.get("/")
    assert response.status_code == 502 and "catalog" in response.text


def test_an_api_refusal_is_shown_with_its_status_and_the_service(client, apis):
    sign_in(client)
    apis.overrides[("catalog", "/servers")] = lambda _: httpx.Response(403, json={"detail": "not yours"})
    response = client.get("/")
    assert response.status_code == 403
    assert "catalog" in response.text and "not yours" in response.text


def test_an_api_5xx_to_htmx_is_an_error_fragment(client, apis):
    sign_in(client)
    apis.overrides[("catalog", "/servers")] = lambda _: httpx.Response(503, json={"detail": "boom"})
    response = client.get("/", headers={"HX-Request": "true", "HX-Target": "server-list"})
    assert response.status_code == 502
    assert "<html" not in response.text and "catalog" in response.text


# ---- probes and metrics


def test_metrics_answers_prometheus_text_at_metrics_itself(client):
    sign_in(client)
    client.get("/")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE sendpool_console_request_seconds histogram" in response.text
    assert 'sendpool_console_request_seconds_count{method="GET",route="/",status="2xx"}' in response.text
    assert "sendpool_console_upstream" in response.text or "process_resident_memory_bytes" in response.text


def test_metrics_count_routes_by_template_never_by_id(client):
    sign_in(client)
    client.get(f"/servers/{uuid4()}")
    text = client.get("/metrics").text
    routes = set(re.findall(r'sendpool_console_request_seconds_count\{[^}]*route="([^"]*)"', text))
    assert not any(re.search(r"[0-9a-f]{8}-[0-9a-f]{4}", route) for route in routes), routes


def test_probes_answer_without_a_session(client):
    assert client.get("/healthz").status_code == 204
    assert client.get("/readyz").text == "ready"
