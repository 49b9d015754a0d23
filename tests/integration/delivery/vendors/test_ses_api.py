"""SES v2 SendEmail with raw content, against moto's SES: what SES records, and SES's own refusals."""

import base64
from email import message_from_bytes

from services.delivery.domain.http_codes import CREDENTIALS_REFUSED
from services.delivery.domain.outcomes import Deferred, Failed, Sent
from tests.integration.delivery.vendors.messages import build_sender, outgoing, recipient
from tests.support.vendor_fakes import Reply


async def test_the_message_reaches_ses_exactly_as_composed(ses):
    to = recipient()
    message = outgoing(to)
    sender = build_sender("ses_api", ses.server_settings())

    outcome = await sender.send(message)
    await sender.close()

    assert isinstance(outcome, Sent), outcome
    [request] = ses.sends()
    assert request.headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ses.access_key_id}/")
    assert request.json["FromEmailAddress"] == "news@shop.example"
    assert request.json["Destination"] == {"ToAddresses": [to]}
    assert base64.b64decode(request.json["Content"]["Raw"]["Data"]) == message.as_bytes()
    recorded = next(sent for sent in ses.sent_messages() if sent.id == outcome.vendor_message_id)
    assert recorded.source == "news@shop.example"
    assert message_from_bytes(recorded.raw_data.encode())["Message-ID"] == message.email["Message-ID"]


async def test_the_configuration_set_is_named_when_the_server_has_one(ses):
    sender = build_sender("ses_api", ses.server_settings(configuration_set="campaigns"))

    outcome = await sender.send(outgoing())
    await sender.close()

    assert isinstance(outcome, Sent), outcome
    assert ses.sends()[0].json["ConfigurationSetName"] == "campaigns"


async def test_a_sender_ses_has_not_verified_is_refused_for_good(ses):
    sender = build_sender("ses_api", ses.server_settings())

    outcome = await sender.send(outgoing(from_address="news@unverified.example"))
    await sender.close()

    assert isinstance(outcome, Failed), outcome
    assert outcome.reply_code == 400
    assert "MessageRejected" in outcome.reply_text
    assert "news@unverified.example" in outcome.reply_text


async def test_an_access_key_ses_does_not_know_is_refused_as_credentials(ses):
    sender = build_sender("ses_api", ses.server_settings(access_key_id="AKIAUNKNOWNKEY000000"))

    outcome = await sender.send(outgoing())
    await sender.close()

    assert isinstance(outcome, Failed), outcome
    assert (outcome.reply_code, outcome.enhanced_code) == (403, CREDENTIALS_REFUSED)


async def test_probe_fails_when_sending_is_disabled_for_the_account(ses):
    ses.sending_enabled = False
    sender = build_sender("ses_api", ses.server_settings())

    result = await sender.probe()
    await sender.close()

    assert not result.ok
    assert result.message == "Connection failed: sending is disabled for this SES account in eu-west-1"


async def test_a_paused_account_defers_and_a_suspended_one_fails(ses):
    def refusal(error_type: str) -> Reply:
        return Reply(
            400,
            {"message": "account problem"},
            {"x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/"},
        )

    ses.script(refusal("SendingPausedException"), refusal("AccountSuspendedException"))
    sender = build_sender("ses_api", ses.server_settings())

    paused = await sender.send(outgoing())
    suspended = await sender.send(outgoing())
    await sender.close()

    assert isinstance(paused, Deferred) and paused.enhanced_code == "4.3.2", paused
    assert isinstance(suspended, Failed) and suspended.enhanced_code == "5.3.2", suspended
    assert "400 AccountSuspendedException: account problem" in suspended.reply_text
