"""Probing a server through the worker's RPC queue, as the catalog does before a server is enabled."""

import pytest

from shared.contracts import ProbeResult
from tests.integration.delivery.messages import CONTENT, recipient
from tests.integration.delivery.smtp_scripts import ScriptedSink
from tests.support.infra import free_port

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(scope="module")
def secure_sink(tls_context):
    with ScriptedSink(auth=("mailer", "s3cret"), starttls=tls_context, require_starttls=True) as server:
        yield server


def secure_settings(sink, **changes) -> dict:
    return {
        "host": "127.0.0.1",
        "port": sink.port,
        "encryption": "tls",
        "username": "mailer",
        "password": "s3cret",
        "verify_certificate": False,
        **changes,
    }


async def test_starttls_with_authentication_succeeds(bus, secure_sink):
    result = await bus.probe(secure_settings(secure_sink))

    assert result == ProbeResult(ok=True, message="Connection successful.")


async def test_a_wrong_password_fails_with_the_reply_class_only(bus, secure_sink):
    result = await bus.probe(secure_settings(secure_sink, password="not-it"))

    assert not result.ok
    assert result.message == (
        "Connection failed: authentication failed: the server refused the login (SMTP 5xx)"
    )
    assert "not-it" not in result.message


async def test_starttls_required_but_not_offered_fails(bus, sink):
    result = await bus.probe({"host": "127.0.0.1", "port": sink.port, "encryption": "tls"})

    assert not result.ok
    assert result.message == (
        "Connection failed: the server does not offer STARTTLS, and encryption 'tls' "
        "never falls back to plain text"
    )


async def test_nothing_listening_fails_with_the_reason(bus):
    port = free_port()

    result = await bus.probe({"host": "127.0.0.1", "port": port, "encryption": "none"})

    assert not result.ok
    assert result.message.startswith("Connection failed: ")
    assert f"port {port}" in result.message


async def test_a_test_message_is_sent_to_the_test_recipient(bus, secure_sink):
    to = recipient()

    result = await bus.probe(secure_settings(secure_sink), test_recipient=to, test_content=CONTENT)

    assert result.ok, result.message
    assert result.message == f"Connection successful. Test message sent to {to} (accepted: reply 250)."
    assert len(secure_sink.to(to)) == 1


async def test_a_refused_test_message_is_reported(bus, secure_sink):
    to = recipient("bounce")

    result = await bus.probe(secure_settings(secure_sink), test_recipient=to, test_content=CONTENT)

    # The codes, never the reply's text: it is whatever answers at the host the tenant named.
    assert result == ProbeResult(ok=False, message=f"Test message to {to} was refused: reply 550, 5.1.1.")


async def test_an_unknown_server_type_fails_naming_the_known_ones(bus):
    result = await bus.probe({}, server_type="carrier-pigeon")

    assert not result.ok
    assert result.message.startswith(
        "Connection failed: no sender for server type 'carrier-pigeon' (this worker knows: direct_mx, "
    )
    assert ", smtp, " in result.message
