"""Gmail with XOAUTH2: an access token from the refresh token (a local token endpoint), kept until
it expires, renewed once when the server refuses it, and refused refresh tokens reported."""

import base64
import json
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from services.delivery.domain.outcomes import Deferred, Sent
from tests.integration.delivery.smtp_scripts import ScriptedHandler, self_signed_tls
from tests.integration.delivery.vendors.messages import build_sender, outgoing, recipient
from tests.support.infra import free_port
from tests.support.vendor_fakes import GoogleTokenFake

ACCOUNT = "news@shop.example"


@dataclass
class XOAuth2Handler(ScriptedHandler):
    """Accepts XOAUTH2 with a token the token endpoint issued and has not revoked, as Gmail does."""

    tokens: GoogleTokenFake | None = None
    logins: list[tuple[str, str, bool]] = field(default_factory=list)

    async def auth_XOAUTH2(self, server, args):  # noqa: N802 - aiosmtpd finds mechanisms by this name
        fields = dict(
            part.split("=", 1) for part in base64.b64decode(args[1]).decode().split("\x01") if "=" in part
        )
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        accepted = self.tokens is not None and self.tokens.is_valid(token)
        self.logins.append((user, token, accepted))
        if accepted:
            return AuthResult(success=True, auth_data=user)
        # Gmail's way: a 334 challenge carrying the error, the client's empty answer, then 535.
        error = json.dumps({"status": "401", "schemes": "Bearer", "scope": "https://mail.google.com/"})
        await server.challenge_auth(base64.b64encode(error.encode()), encode_to_b64=False)
        return AuthResult(success=False, handled=False)


@pytest.fixture(scope="module")
def gmail_certificate(tmp_path_factory):
    directory = tmp_path_factory.mktemp("gmail-tls")
    return self_signed_tls(directory), directory / "sink.crt"


@pytest.fixture
def google():
    with GoogleTokenFake() as fake:
        yield fake


@pytest.fixture
def gmail(google, gmail_certificate, monkeypatch):
    context, certificate = gmail_certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    handler = XOAuth2Handler(tokens=google)
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_exclude_mechanism=["LOGIN", "PLAIN"],
    )
    controller.start()
    yield handler, port
    controller.stop()


def settings(google: GoogleTokenFake, port: int, **changes) -> dict:
    return {
        "email": ACCOUNT,
        "client_id": google.client_id,
        "client_secret": google.client_secret,
        "refresh_token": google.refresh_token,
        "token_url": google.token_url,
        "host": "127.0.0.1",
        "port": port,
        **changes,
    }


async def test_sends_with_an_access_token_obtained_once_for_many_messages(google, gmail):
    handler, port = gmail
    sender = build_sender("gmail_oauth", settings(google, port))
    first, second = recipient(), recipient()

    outcomes = [await sender.send(outgoing(first)), await sender.send(outgoing(second))]
    probe = await sender.probe()  # a new connection, the same token
    await sender.close()

    assert all(isinstance(outcome, Sent) for outcome in outcomes), outcomes
    assert probe.ok, probe.message
    assert google.grants == 1
    assert {login[:2] for login in handler.logins} == {(ACCOUNT, "ya29.token-1")}
    assert sorted(address for message in handler.messages for address in message.rcpt_tos) == sorted(
        [first, second]
    )


async def test_an_expired_token_is_renewed_before_it_is_used(google, gmail):
    handler, port = gmail
    google.expires_in = 30  # less than the renewal margin: expired as far as the worker is concerned
    sender = build_sender("gmail_oauth", settings(google, port))

    await sender.probe()
    await sender.probe()
    await sender.close()

    assert google.grants == 2
    assert [token for _, token, _ in handler.logins] == ["ya29.token-1", "ya29.token-2"]


async def test_a_token_the_server_refuses_is_renewed_once_and_the_login_retried(google, gmail):
    handler, port = gmail
    sender = build_sender("gmail_oauth", settings(google, port))
    first = await sender.send(outgoing())
    google.revoke_all()  # e.g. the account's password changed: tokens die before they expire

    second = await sender.send(outgoing())  # the pooled connection is still authenticated
    probe = await sender.probe()  # a new connection: its first login is refused, the second not
    await sender.close()

    assert isinstance(first, Sent) and isinstance(second, Sent), (first, second)
    assert probe.ok, probe.message
    assert [(token, accepted) for _, token, accepted in handler.logins] == [
        ("ya29.token-1", True),
        ("ya29.token-1", False),
        ("ya29.token-2", True),
    ]


async def test_a_login_refused_with_a_fresh_token_too_is_not_retried_again(google, gmail):
    handler, port = gmail
    google.is_valid = lambda token: False  # the server refuses every token: a scope problem, say
    sender = build_sender("gmail_oauth", settings(google, port))

    result = await sender.probe()
    await sender.close()

    assert not result.ok
    assert (
        result.message == "Connection failed: authentication failed: the server refused the login (SMTP 5xx)"
    )
    assert len(handler.logins) == 2
    assert google.grants == 2


async def test_a_refresh_token_google_refuses_is_reported_with_oauths_error_code(google, gmail):
    handler, port = gmail
    sender = build_sender("gmail_oauth", settings(google, port, refresh_token="revoked-refresh-token"))

    result = await sender.probe()
    outcome = await sender.send(outgoing())
    await sender.close()

    assert result.message == "Connection failed: Google refused the refresh token: invalid_grant (HTTP 400)"
    assert isinstance(outcome, Deferred) and outcome.connection_failure, outcome
    assert handler.logins == []
