"""Secrets are write-only: they reach the delivery worker and nothing else, not even the disk in clear.

Every kind is covered: an SMTP password, an API key, an AWS secret access key, an OAuth client
secret and refresh token, and a DKIM private key.
"""

import asyncio
import subprocess

from shared.contracts import PauseServerRequest, ServerSettingsRequest
from tests.integration.catalog.support import (
    PASSWORD,
    all_servers,
    create_server,
    eventually,
    smtp_settings,
    unique,
)
from tests.unit.catalog.dkim_keys import pem, rsa_key

API_KEY = "SG.api-key-4d1c0e-never-shown"
AWS_SECRET = "aws-secret-77b2a9-never-shown"
OAUTH_CLIENT_SECRET = "oauth-client-secret-5e8f21"
REFRESH_TOKEN = "1//refresh-token-a93c04-never-shown"
DKIM_PEM = pem(rsa_key())
# A line from the middle of the key: any copy of the key, in any PEM flavour or re-wrapping, holds it.
DKIM_KEY_LINE = DKIM_PEM.splitlines()[5]
SECRETS = {
    "password": PASSWORD,
    "api key": API_KEY,
    "aws secret access key": AWS_SECRET,
    "oauth client secret": OAUTH_CLIENT_SECRET,
    "oauth refresh token": REFRESH_TOKEN,
    "dkim private key": DKIM_KEY_LINE,
}


def leaks(text: str) -> list[str]:
    return [kind for kind, secret in SECRETS.items() if secret in text]


async def test_no_secret_of_any_kind_leaves_encrypted(
    operator, new_tenant, probe_worker, bus, responses, catalog_log, logs_dir, database_url
):
    before = len(responses)
    tenant = await new_tenant()
    identity = {"from_domains": ["news.example.com"], "dkim_selector": "s1", "dkim_private_key": DKIM_PEM}
    smtp = (await create_server(tenant.api, identity=identity))["id"]
    await tenant.api.patch(f"/servers/{smtp}", json={"settings": {"password": PASSWORD + "-2"}})
    await tenant.api.patch(
        f"/servers/{smtp}", json={"identity": {"return_path_domain": "bounce.example.com"}}
    )
    await tenant.api.post(f"/servers/{smtp}/test")
    await tenant.api.post(f"/servers/{smtp}/enable")
    await tenant.api.post(f"/servers/{smtp}/test-send", json={"to": "reader@inbox.example"})
    await bus.ask(PauseServerRequest(server_id=smtp, reason="bounce rate 9%"))

    others = {
        "sendgrid_api": {"api_key": API_KEY},
        "ses_api": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": AWS_SECRET, "region": "eu-west-1"},
        "gmail_oauth": {
            "email": "me@example.com",
            "client_id": "client.apps.googleusercontent.com",
            "client_secret": OAUTH_CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
        },
    }
    ids = {}
    for type_, settings in others.items():
        ids[type_] = (await create_server(operator, type=type_, settings=settings, identity=identity))["id"]
    await operator.patch(f"/servers/{ids['gmail_oauth']}", json={"settings": {"client_id": "other.apps"}})

    for server_id in [smtp, *ids.values()]:
        await operator.get(f"/servers/{server_id}")
    await all_servers(operator)
    await all_servers(tenant.api, q="server")
    await tenant.api.get("/servers/summary")
    await operator.get("/pool")
    # Refused requests must not echo what they were given either.
    await tenant.api.post(
        "/servers", json={"name": "bad", "type": "smtp", "settings": smtp_settings(port="x")}
    )
    await tenant.api.post("/servers", json={"type": "smtp", "settings": smtp_settings()})
    await operator.post(
        "/servers", json={"name": "bad", "type": "sendgrid_api", "settings": {"api_key": API_KEY, "typo": 1}}
    )
    await operator.post(
        "/servers",
        json={
            "name": "bad",
            "type": "smtp",
            "settings": smtp_settings(),
            "identity": {**identity, "dkim_selector": "a b"},
        },
    )
    await eventually(
        lambda: any(
            e.server and str(e.server.id) == ids["gmail_oauth"] and e.server.version == 2 for e in bus.events
        )
    )

    # Where the secrets must be: with the delivery worker, which the catalog asks point to point.
    probed = probe_worker[-1].settings
    assert probed.type_settings["password"] == PASSWORD + "-2"
    assert probed.identity is not None and DKIM_KEY_LINE in (probed.identity.dkim_private_key or "")
    for type_, settings in others.items():
        delivered = (await bus.ask(ServerSettingsRequest(server_id=ids[type_])))["settings"]
        assert {name: delivered[name] for name in settings if name != "client_id"} == {
            name: value for name, value in settings.items() if name != "client_id"
        }

    assert len(responses) - before >= 20
    leaked = [(r.request.method, r.request.url.path, leaks(r.text)) for r in responses if leaks(r.text)]
    assert leaked == []

    assert bus.raw_events and not [body for body in bus.raw_events if leaks(body.decode())]

    log = catalog_log.read_text()
    assert smtp in log and ids["gmail_oauth"] in log, "the log is the catalog's own and covers this test"
    for path in logs_dir.rglob("*.log"):
        assert leaks(path.read_text(errors="replace")) == [], path.name

    dumped = await asyncio.to_thread(
        subprocess.run,
        ["pg_dump", "--schema=catalog", database_url],
        check=True,
        capture_output=True,
        text=True,
    )
    dump = dumped.stdout
    assert smtp in dump and "gAAAAA" in dump, "the dump holds the servers and their Fernet ciphertext"
    assert leaks(dump) == []


async def test_a_refused_dkim_key_is_not_echoed(operator):
    mangled_line = DKIM_KEY_LINE[::-1]
    refused = await operator.post(
        "/servers",
        json={
            "name": unique("s"),
            "type": "smtp",
            "settings": smtp_settings(),
            "identity": {
                "from_domains": ["example.com"],
                "dkim_selector": "s1",
                "dkim_private_key": DKIM_PEM.replace(DKIM_KEY_LINE, mangled_line),
            },
        },
    )

    assert refused.status_code == 422
    [error] = refused.json()["detail"]
    assert error["loc"] == ["body", "identity", "dkim_private_key"]
    assert "is not a PEM private key" in error["msg"]
    assert mangled_line not in refused.text
