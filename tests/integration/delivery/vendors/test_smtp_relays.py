"""The vendors' SMTP relays: the generic SMTP adapter with each vendor's login, over STARTTLS
with a verified certificate, against an aiosmtpd relay the test trusts (its `host`/`port` override)."""

import pytest

from services.delivery.domain.outcomes import Deferred, Sent
from tests.integration.delivery.smtp_scripts import ScriptedSink, self_signed_tls
from tests.integration.delivery.vendors.messages import build_sender, outgoing, recipient

RELAYS = [
    # (server type, settings besides the host/port override, the login the relay must see)
    (
        "ses_smtp",
        {"region": "eu-west-1", "username": "AKIASMTPUSER", "password": "ses-smtp-password"},
        ("AKIASMTPUSER", "ses-smtp-password"),
    ),
    ("sendgrid_smtp", {"api_key": "SG.key"}, ("apikey", "SG.key")),
    (
        "mailgun_smtp",
        {"username": "postmaster@mg.shop.example", "password": "mg-password", "region": "eu"},
        ("postmaster@mg.shop.example", "mg-password"),
    ),
    ("sparkpost_smtp", {"api_key": "sp-key"}, ("SMTP_Injection", "sp-key")),
    (
        "elasticemail_smtp",
        {"username": "news@shop.example", "password": "ee-password"},
        ("news@shop.example", "ee-password"),
    ),
]


@pytest.fixture(scope="module")
def relay_certificate(tmp_path_factory):
    directory = tmp_path_factory.mktemp("relay-tls")
    return self_signed_tls(directory), directory / "sink.crt"


@pytest.fixture
def trusted_tls(relay_certificate, monkeypatch):
    """The relay's certificate, trusted the way the worker trusts a real CA: through OpenSSL's defaults."""
    context, certificate = relay_certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    return context


@pytest.mark.parametrize(("server_type", "settings", "login"), RELAYS, ids=[relay[0] for relay in RELAYS])
async def test_relay_sends_over_verified_starttls_with_the_vendors_login(
    trusted_tls, server_type, settings, login
):
    with ScriptedSink(auth=login, starttls=trusted_tls, require_starttls=True) as relay:
        sender = build_sender(server_type, {**settings, "host": "127.0.0.1", "port": relay.port})
        to = recipient()

        probe = await sender.probe()
        outcome = await sender.send(outgoing(to))
        await sender.close()

    assert (probe.ok, probe.message) == (True, "Connection successful.")
    assert isinstance(outcome, Sent), outcome
    assert len(relay.to(to)) == 1


@pytest.mark.parametrize(
    ("server_type", "settings", "login"), RELAYS[:2], ids=[relay[0] for relay in RELAYS[:2]]
)
async def test_relay_with_a_certificate_nobody_vouches_for_is_refused(
    relay_certificate, server_type, settings, login
):
    context, _ = relay_certificate
    with ScriptedSink(auth=login, starttls=context, require_starttls=True) as relay:
        sender = build_sender(server_type, {**settings, "host": "127.0.0.1", "port": relay.port})

        outcome = await sender.send(outgoing())
        await sender.close()

    assert isinstance(outcome, Deferred) and outcome.connection_failure, outcome
    assert "certificate did not verify" in outcome.reply_text
    assert relay.messages == []


async def test_relay_refusing_the_login_fails_the_probe_with_the_reply_class(trusted_tls):
    with ScriptedSink(auth=("apikey", "the-right-key"), starttls=trusted_tls, require_starttls=True) as relay:
        sender = build_sender(
            "sendgrid_smtp", {"api_key": "a-wrong-key", "host": "127.0.0.1", "port": relay.port}
        )

        result = await sender.probe()
        await sender.close()

    assert not result.ok
    assert (
        result.message == "Connection failed: authentication failed: the server refused the login (SMTP 5xx)"
    )
