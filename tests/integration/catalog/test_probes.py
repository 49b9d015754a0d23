"""Connection tests and test-sends of every server type, for real, through each vendor's own
delivery worker process: the catalog asks over RabbitMQ, the worker talks to a local stand-in.

SMTP family: aiosmtpd with STARTTLS and AUTH (its self-signed certificate is what the workers
trust, through SSL_CERT_FILE), one that refuses every login, one that offers no STARTTLS, one
that rejects messages, a port nothing listens on, Gmail's XOAUTH2 with its token endpoint, DNS
for direct-to-MX delivery, and a local sendmail binary. API types: fakes that check each request
against the vendor's published spec, and moto for SES.
"""

import asyncio
import functools
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.catalog.probe_doubles import GmailDouble
from tests.integration.catalog.support import unique
from tests.integration.delivery.smtp_scripts import self_signed_tls
from tests.support.dns import FakeDns
from tests.support.infra import free_port
from tests.support.processes import ServiceProcess
from tests.support.smtp import SmtpSink
from tests.support.vendor_fakes import (
    ElasticEmailFake,
    GoogleTokenFake,
    MailgunFake,
    SendGridFake,
    SesFake,
    SparkPostFake,
)

VENDORS = ("smtp", "ses", "sendgrid", "mailgun", "sparkpost", "elasticemail", "gmail", "mx", "sendmail")

USER, PASSWORD = "mailer", "probe-pass-31f0"
GMAIL_ACCOUNT = "sender@gmail.example"
LOGIN_REFUSED = "Connection failed: authentication failed: the server refused the login (SMTP 5xx)"
"""A refused login as a tenant reads it: the reply's class, never the server's words."""
MX_DOMAIN = "gmail.com"  # the domain a direct-to-MX probe looks up (MxOptions.probe_domain)

# The login each vendor relay uses, given its settings: (username, secret).
RELAY_LOGINS = {
    "ses_smtp": ({"region": "eu-west-1", "username": USER, "password": PASSWORD}, (USER, PASSWORD)),
    "sendgrid_smtp": ({"api_key": "SG.relay-key"}, ("apikey", "SG.relay-key")),
    "mailgun_smtp": ({"username": USER, "password": PASSWORD, "region": "eu"}, (USER, PASSWORD)),
    "sparkpost_smtp": ({"api_key": "sp-relay-key"}, ("SMTP_Injection", "sp-relay-key")),
    "elasticemail_smtp": ({"username": USER, "password": PASSWORD}, (USER, PASSWORD)),
}


@dataclass
class Doubles:
    secure: SmtpSink  # STARTTLS required, then AUTH as USER/PASSWORD
    refusing_auth: SmtpSink  # STARTTLS, then refuses every login
    plain: SmtpSink  # no STARTTLS
    rejecting: SmtpSink  # no STARTTLS, and refuses every message after DATA
    relays: dict[str, SmtpSink]  # per vendor relay type, its vendor's login
    gmail: GmailDouble
    google: GoogleTokenFake
    mx: SmtpSink  # the MX host of MX_DOMAIN, on 127.0.0.1
    dns: FakeDns
    sendmail: Path
    certificate: Path  # the local servers' self-signed certificate


@pytest.fixture(scope="module")
def doubles(tmp_path_factory):
    directory = tmp_path_factory.mktemp("probe-doubles")
    tls = self_signed_tls(directory)
    sendmail = directory / "sendmail"
    sendmail.write_text("#!/bin/sh\ncat > /dev/null\n")
    sendmail.chmod(sendmail.stat().st_mode | stat.S_IXUSR)
    relays = {
        type_: SmtpSink(auth=login, tls_context=tls, require_starttls=True)
        for type_, (_, login) in RELAY_LOGINS.items()
    }
    google = GoogleTokenFake()
    parts = [
        SmtpSink(auth=(USER, PASSWORD), tls_context=tls, require_starttls=True),
        SmtpSink(tls_context=tls, require_starttls=True),
        SmtpSink(),
        SmtpSink(reply="554 5.7.1 Message rejected as spam"),
        google,
        GmailDouble(tls, GMAIL_ACCOUNT, google.is_valid),
        SmtpSink(tls_context=tls),
        *relays.values(),
    ]
    for part in parts:
        part.__enter__()
    secure, refusing_auth, plain, rejecting, _, gmail, mx, *_ = parts
    with FakeDns() as dns:
        dns.mx(MX_DOMAIN, (10, "mx.gmail.example"))
        dns.a("mx.gmail.example", "127.0.0.1")
        yield Doubles(
            secure,
            refusing_auth,
            plain,
            rejecting,
            relays,
            gmail,
            google,
            mx,
            dns,
            sendmail,
            directory / "sink.crt",
        )
    for part in parts:
        part.__exit__(None, None, None)


@pytest.fixture(scope="module")
async def workers(doubles, service_env, logs_dir) -> dict[str, ServiceProcess]:
    """One delivery worker process per vendor, on the catalog's vhost, as deployed."""
    env = {
        **service_env,
        "SSL_CERT_FILE": str(doubles.certificate),  # the local servers' certificate verifies, like a vendor's
        "SENDPOOL_DELIVERY_SMTP_TIMEOUT_SECONDS": "5",
        "SENDPOOL_DELIVERY_DNS_SERVERS": doubles.dns.nameserver,
        "SENDPOOL_DELIVERY_MX_PORT": str(doubles.mx.port),
    }
    processes = {
        vendor: ServiceProcess(
            "delivery",
            free_port(),
            # The sendmail program is the operator's setting, the same for every sendmail server.
            {
                **env,
                "SENDPOOL_DELIVERY_VENDOR": vendor,
                "SENDPOOL_DELIVERY_SENDMAIL_PATH": str(doubles.sendmail),
            },
            logs_dir / f"probe-delivery-{vendor}.log",
        )
        for vendor in VENDORS
    }
    # A thread each, so that all start at once (the default executor has fewer threads than vendors).
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(len(processes)) as threads:
        # Nine processes booting at once on a small machine take a while; a generous limit, not a slow test.
        start = [functools.partial(process.start, timeout=180) for process in processes.values()]
        try:
            # Every start is waited for, so none is still under way when the stops below run.
            outcomes = await asyncio.gather(
                *(loop.run_in_executor(threads, started) for started in start), return_exceptions=True
            )
            if failures := [outcome for outcome in outcomes if isinstance(outcome, BaseException)]:
                raise failures[0]
            yield processes
        finally:
            # Also when one failed to start: a worker left running would answer the probes that
            # later tests of this package expect their stand-in worker to answer.
            await asyncio.gather(
                *(loop.run_in_executor(threads, process.stop) for process in processes.values())
            )


async def probe_through(api, workers, vendor: str, type_: str, settings: dict, **fields) -> tuple[str, dict]:
    """Save a server, test it, and check that its vendor's worker (and no other) ran the probe."""
    created = await api.post(
        "/servers", json={"name": unique(type_), "type": type_, "settings": settings, **fields}
    )
    assert created.status_code == 201, created.text
    server_id = created.json()["id"]
    result = await api.post(f"/servers/{server_id}/test")
    assert result.status_code == 200, result.text
    probed_by = [name for name, process in workers.items() if server_id in process.log_path.read_text()]
    assert probed_by == [vendor], f"probed by {probed_by}, not by the {vendor} worker"
    return server_id, result.json()


async def probe_smtp(api, workers, settings: dict) -> tuple[str, dict]:
    """`probe_through` for a server of the plain `smtp` type."""
    return await probe_through(api, workers, "smtp", "smtp", settings)


def local_smtp(port: int, encryption: str) -> dict:
    """Settings of an `smtp` server listening on this host."""
    return {"host": "127.0.0.1", "port": port, "encryption": encryption}


def secure_settings(doubles: Doubles, **changes) -> dict:
    return {
        "host": "localhost",
        "port": doubles.secure.port,
        "username": USER,
        "password": PASSWORD,
        **changes,
    }


async def test_starttls_and_auth_succeed_and_the_server_may_be_enabled(operator, workers, doubles):
    server_id, result = await probe_smtp(operator, workers, secure_settings(doubles))

    assert (result["ok"], result["message"]) == (True, "Connection successful.")
    enabled = await operator.post(f"/servers/{server_id}/enable")
    assert (enabled.status_code, enabled.json()["state"]) == (200, "active")


async def test_a_server_refusing_auth_fails_with_its_reply_class(operator, workers, doubles):
    server_id, result = await probe_smtp(
        operator, workers, secure_settings(doubles, port=doubles.refusing_auth.port)
    )

    assert result["ok"] is False
    # The class of the reply only: never the server's words, which a tenant could aim anywhere.
    assert result["message"] == LOGIN_REFUSED
    assert (await operator.get(f"/servers/{server_id}")).json()["last_test"] == result
    assert (await operator.post(f"/servers/{server_id}/enable")).status_code == 409


async def test_a_wrong_password_is_refused_without_being_echoed(operator, workers, doubles):
    _, result = await probe_smtp(operator, workers, secure_settings(doubles, password="not-it"))

    assert result["ok"] is False
    assert result["message"] == LOGIN_REFUSED
    assert "not-it" not in result["message"]


async def test_starttls_required_but_not_offered_fails(operator, workers, doubles):
    server_id, result = await probe_smtp(operator, workers, local_smtp(doubles.plain.port, "tls"))

    assert result == {
        "ok": False,
        "message": "Connection failed: the server does not offer STARTTLS, and encryption 'tls' "
        "never falls back to plain text",
        "tested_at": result["tested_at"],
    }
    assert (await operator.post(f"/servers/{server_id}/enable")).status_code == 409


async def test_nothing_listening_fails_naming_the_port(operator, workers):
    port = free_port()

    _, result = await probe_smtp(operator, workers, local_smtp(port, "none"))

    assert result["ok"] is False
    assert result["message"].startswith("Connection failed: ") and f"port {port}" in result["message"]


@pytest.mark.parametrize("type_", sorted(RELAY_LOGINS))
async def test_each_vendor_relay_logs_in_as_its_vendor_requires(operator, workers, doubles, type_):
    settings, _ = RELAY_LOGINS[type_]
    vendor = type_.removesuffix("_smtp")
    relay = doubles.relays[type_]
    where = {"host": "localhost", "port": relay.port}

    _, passed = await probe_through(operator, workers, vendor, type_, {**settings, **where})
    secret = "password" if "password" in settings else "api_key"
    _, refused = await probe_through(
        operator, workers, vendor, type_, {**settings, **where, secret: "not-it"}
    )

    assert (passed["ok"], passed["message"]) == (True, "Connection successful.")
    assert refused["ok"] is False and refused["message"] == LOGIN_REFUSED


async def test_gmail_gets_an_access_token_and_logs_in_with_xoauth2(operator, workers, doubles):
    google = doubles.google
    settings = {
        "email": GMAIL_ACCOUNT,
        "client_id": google.client_id,
        "client_secret": google.client_secret,
        "refresh_token": google.refresh_token,
        "host": "localhost",
        "port": doubles.gmail.port,
        "token_url": google.token_url,
    }

    _, passed = await probe_through(operator, workers, "gmail", "gmail_oauth", settings)
    _, revoked = await probe_through(
        operator, workers, "gmail", "gmail_oauth", {**settings, "refresh_token": "1//revoked"}
    )

    assert (passed["ok"], passed["message"]) == (True, "Connection successful.")
    assert google.grants >= 1
    assert revoked["ok"] is False
    assert "invalid_grant" in revoked["message"] and "1//revoked" not in revoked["message"]


async def test_direct_mx_looks_up_and_reaches_a_mail_host(operator, workers):
    _, result = await probe_through(
        operator, workers, "mx", "direct_mx", {"helo_hostname": "mta1.sender.example"}
    )

    assert (result["ok"], result["message"]) == (True, "Connection successful."), result["message"]


async def test_sendmail_finds_the_operators_binary(operator, workers):
    # A missing or not executable one: tests/integration/delivery/vendors/test_sendmail.py.
    _, found = await probe_through(operator, workers, "sendmail", "sendmail", {})

    assert (found["ok"], found["message"]) == (True, "Connection successful.")


async def test_test_send_delivers_one_real_message_from_the_servers_domain(new_tenant, workers, doubles):
    tenant = await new_tenant()
    identity = {"from_domains": ["news.sender.example"], "return_path_domain": "bounce.sender.example"}
    created = await tenant.api.post(
        "/servers",
        json={
            "name": unique("relay"),
            "type": "smtp",
            "settings": secure_settings(doubles),
            "identity": identity,
        },
    )
    server_id = created.json()["id"]
    to = f"reader-{unique('x')}@inbox.example"

    sent = await tenant.api.post(f"/servers/{server_id}/test-send", json={"to": to})

    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["ok"] is True and body["to"] == to
    assert body["message"] == f"Connection successful. Test message sent to {to} (accepted: reply 250)."
    [message] = [m for m in doubles.secure.messages if to in m.rcpt_tos]
    assert b"From: sendpool <test@news.sender.example>" in message.data
    assert b"Subject: sendpool test message through " in message.data
    # A test-send is no connection test: the server stays as it was.
    server = (await tenant.api.get(f"/servers/{server_id}")).json()
    assert (server["state"], server["last_test"]) == ("inactive", None)


async def test_test_send_reports_what_went_wrong(operator, workers, doubles):
    refused_login, _ = await probe_smtp(operator, workers, secure_settings(doubles, password="no"))
    rejecting, _ = await probe_smtp(operator, workers, local_smtp(doubles.rejecting.port, "none"))
    body = {"to": "reader@inbox.example", "from_address": "me@sender.example"}

    not_logged_in = (await operator.post(f"/servers/{refused_login}/test-send", json=body)).json()
    not_accepted = (await operator.post(f"/servers/{rejecting}/test-send", json=body)).json()

    assert not_logged_in["ok"] is False
    assert not_logged_in["message"] == LOGIN_REFUSED
    assert not_accepted == {
        **not_accepted,
        "ok": False,
        "message": "Test message to reader@inbox.example was refused: reply 554, 5.7.1.",
    }


# ------------------------------------------------------------------------------------ API types
# Local fakes check every request against the vendor's published spec; SES is moto behind the same check.


@pytest.fixture(scope="module")
def api_fakes():
    fakes = {
        "sendgrid_api": SendGridFake(),
        "mailgun_api": MailgunFake(),
        "sparkpost_api": SparkPostFake(),
        "elasticemail_api": ElasticEmailFake(),
        "ses_api": SesFake(),
    }
    for fake in fakes.values():
        fake.__enter__()
    yield fakes
    for fake in fakes.values():
        fake.__exit__(None, None, None)


@pytest.fixture
def api_fake(api_fakes, request):
    """The fake of the test's type, cleared before and checked after: no request may break the spec."""
    fake = api_fakes[request.param]
    fake.reset()
    yield fake
    assert not fake.violations, "requests the vendor's spec rejects:\n" + "\n".join(fake.violations)


def wrong_credentials(type_: str, fake) -> dict:
    if type_ == "ses_api":
        return fake.server_settings(secret_access_key="not-the-secret")
    return fake.server_settings(api_key="not-the-key")


@pytest.mark.parametrize(
    "api_fake", ["sendgrid_api", "mailgun_api", "sparkpost_api", "elasticemail_api", "ses_api"], indirect=True
)
async def test_each_api_type_probes_with_an_authenticated_call_that_sends_nothing(
    operator, workers, api_fake, request
):
    type_ = request.node.callspec.params["api_fake"]
    vendor = type_.removesuffix("_api")

    _, passed = await probe_through(operator, workers, vendor, type_, api_fake.server_settings())
    _, refused = await probe_through(operator, workers, vendor, type_, wrong_credentials(type_, api_fake))

    assert (passed["ok"], passed["message"]) == (True, "Connection successful.")
    assert refused["ok"] is False and refused["message"].startswith("Connection failed: ")
    assert "not-the-" not in refused["message"]
    assert len(api_fake.requests) >= 2, "each probe called the vendor's API"
    assert api_fake.sends() == [], "a probe sends nothing"


@pytest.mark.parametrize("api_fake", ["sendgrid_api", "ses_api"], indirect=True)
async def test_test_send_through_an_api_type_sends_one_message(operator, workers, api_fake, request):
    type_ = request.node.callspec.params["api_fake"]
    created = await operator.post(
        "/servers",
        json={
            "name": unique(type_),
            "type": type_,
            "settings": api_fake.server_settings(),
            "identity": {"from_domains": [SesFake.VERIFIED_DOMAIN]},
        },
    )
    server_id = created.json()["id"]

    sent = await operator.post(f"/servers/{server_id}/test-send", json={"to": "reader@inbox.example"})

    assert sent.status_code == 200 and sent.json()["ok"] is True, sent.text
    assert sent.json()["message"].startswith(
        "Connection successful. Test message sent to reader@inbox.example"
    )
    assert len(api_fake.sends()) == 1
    if type_ == "ses_api":
        [message] = api_fake.sent_messages()
        assert "reader@inbox.example" in message.destinations
