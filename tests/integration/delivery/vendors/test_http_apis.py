"""What every API adapter does the same way, against each vendor's fake: send, probe, refused
credentials, throttling with Retry-After, vendor failures, invalid requests, lost answers, and
one reused connection for many messages. Each vendor's request content is tested in its own module."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from services.delivery.domain.http_codes import CREDENTIALS_REFUSED
from services.delivery.domain.outcomes import Deferred, Failed, Sent, Unknown
from tests.integration.delivery.vendors.messages import build_sender, outgoing
from tests.support.infra import free_port
from tests.support.vendor_fakes import Reply


def _ses_error(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"message": message}, {"x-amzn-ErrorType": error_type, **(headers or {})})


@dataclass(frozen=True)
class Api:
    server_type: str
    fake: str
    wrong_credentials: dict[str, str]
    refusal_says: str
    """Part of the vendor's own words when it refuses the credentials."""
    error: Callable[[int, str, dict[str, str]], Reply]
    """The vendor's error answer with a status and a message."""


APIS = [
    Api(
        "ses_api",
        "ses",
        {"secret_access_key": "wrong-secret"},
        "SignatureDoesNotMatch",
        lambda status, message, headers: _ses_error(
            status,
            {429: "TooManyRequestsException", 400: "BadRequestException"}.get(status, "InternalFailure"),
            message,
            headers,
        ),
    ),
    Api(
        "sendgrid_api",
        "sendgrid",
        {"api_key": "wrong-key"},
        "The provided authorization grant is invalid",
        lambda status, message, headers: Reply(
            status, {"errors": [{"message": message, "field": None}]}, headers
        ),
    ),
    Api(
        "mailgun_api",
        "mailgun",
        {"api_key": "wrong-key"},
        "Forbidden",
        lambda status, message, headers: Reply(status, {"message": message}, headers),
    ),
    Api(
        "sparkpost_api",
        "sparkpost",
        {"api_key": "wrong-key"},
        "Unauthorized.",
        lambda status, message, headers: Reply(
            status, {"errors": [{"message": message, "code": "1902"}]}, headers
        ),
    ),
    Api(
        "elasticemail_api",
        "elasticemail",
        {"api_key": "wrong-key"},
        "Access denied",
        lambda status, message, headers: Reply(status, {"Error": message}, headers),
    ),
]


@pytest.fixture(params=APIS, ids=[api.server_type for api in APIS])
def api(request) -> tuple[Api, Any]:
    spec: Api = request.param
    return spec, request.getfixturevalue(spec.fake)


async def test_a_message_is_accepted_with_the_vendors_message_id(api):
    spec, fake = api
    sender = build_sender(spec.server_type, fake.server_settings())

    outcome = await sender.send(outgoing())
    await sender.close()

    assert isinstance(outcome, Sent), outcome
    assert outcome.vendor_message_id
    assert len(fake.sends()) == 1


async def test_probe_succeeds_without_sending_anything(api):
    spec, fake = api
    sender = build_sender(spec.server_type, fake.server_settings())

    result = await sender.probe()
    await sender.close()

    assert (result.ok, result.message) == (True, "Connection successful.")
    assert fake.requests and not fake.sends()


async def test_probe_with_wrong_credentials_fails_in_sendpools_words_with_the_status(api):
    spec, fake = api
    sender = build_sender(spec.server_type, fake.server_settings(**spec.wrong_credentials))

    result = await sender.probe()
    await sender.close()

    assert not result.ok
    assert result.message.startswith("Connection failed: ")
    assert "refused the" in result.message
    # The vendor's own words stay in the worker's log: a tenant's base URL may point anywhere.
    assert spec.refusal_says not in result.message
    assert " answered HTTP 40" in result.message


async def test_a_send_with_wrong_credentials_fails_as_refused_credentials(api):
    spec, fake = api
    sender = build_sender(spec.server_type, fake.server_settings(**spec.wrong_credentials))

    outcome = await sender.send(outgoing())
    await sender.close()

    assert isinstance(outcome, Failed), outcome
    assert outcome.reply_code in (401, 403)
    assert outcome.enhanced_code == CREDENTIALS_REFUSED
    assert spec.refusal_says in outcome.reply_text


async def test_a_throttled_send_defers_for_as_long_as_the_vendor_asked(api):
    spec, fake = api
    fake.script(spec.error(429, "slow down", {"Retry-After": "120"}))
    sender = build_sender(spec.server_type, fake.server_settings())

    outcome = await sender.send(outgoing())
    await sender.close()

    assert isinstance(outcome, Deferred), outcome
    assert (outcome.reply_code, outcome.retry_after) == (429, 120.0)
    assert "slow down" in outcome.reply_text


async def test_a_failing_vendor_defers(api):
    spec, fake = api
    fake.script(spec.error(503, "down for maintenance", {}))
    sender = build_sender(spec.server_type, fake.server_settings())

    outcome = await sender.send(outgoing())
    await sender.close()

    assert isinstance(outcome, Deferred), outcome
    assert outcome.reply_code == 503
    assert outcome.retry_after is None
    assert not outcome.connection_failure


async def test_a_request_the_vendor_calls_invalid_fails_for_good(api):
    spec, fake = api
    fake.script(spec.error(400, "the from address is not allowed", {}))
    sender = build_sender(spec.server_type, fake.server_settings())

    outcome = await sender.send(outgoing())
    await sender.close()

    assert isinstance(outcome, Failed), outcome
    assert outcome.reply_code == 400
    assert outcome.enhanced_code != CREDENTIALS_REFUSED
    assert "the from address is not allowed" in outcome.reply_text


async def test_one_connection_carries_many_messages(api):
    spec, fake = api
    sender = build_sender(spec.server_type, fake.server_settings())

    outcomes = [await sender.send(outgoing()) for _ in range(3)]
    await sender.close()

    assert all(isinstance(outcome, Sent) for outcome in outcomes), outcomes
    assert fake.connections == 1


async def test_an_answer_that_never_comes_leaves_the_outcome_unknown(api):
    spec, fake = api
    fake.script(Reply(200, {"late": True}, delay_seconds=1.5))
    sender = build_sender(spec.server_type, fake.server_settings(), timeout_seconds=0.5)

    outcome = await sender.send(outgoing())
    await sender.close()

    assert isinstance(outcome, Unknown), outcome
    assert "may have been accepted" in outcome.reason


async def test_a_vendor_that_cannot_be_reached_defers_as_a_connection_failure(api):
    spec, fake = api
    port = free_port()
    sender = build_sender(spec.server_type, fake.server_settings(base_url=f"http://127.0.0.1:{port}"))

    outcome = await sender.send(outgoing())
    probe = await sender.probe()
    await sender.close()

    assert isinstance(outcome, Deferred) and outcome.connection_failure, outcome
    assert outcome.reply_text.startswith("could not connect to ")
    assert not probe.ok and str(port) in probe.message
    assert fake.requests == []


async def test_closing_the_sender_lets_a_send_under_way_finish(sendgrid):
    sendgrid.script(Reply(202, headers={"X-Message-Id": "sg-late"}, delay_seconds=0.5))
    sender = build_sender("sendgrid_api", sendgrid.server_settings())

    sending = asyncio.create_task(sender.send(outgoing()))
    await asyncio.sleep(0.1)  # the request is out, its answer not yet in
    await sender.close()

    assert await sending == Sent("sg-late", 202, "accepted by SendGrid (202)")
