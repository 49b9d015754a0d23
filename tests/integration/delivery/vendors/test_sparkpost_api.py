"""SparkPost transmissions with RFC822 content, and the 200 that rejected its recipient."""

from services.delivery.domain.outcomes import Deferred, Failed, Sent
from tests.integration.delivery.vendors.messages import build_sender, outgoing, recipient
from tests.support.vendor_fakes import Reply


async def test_the_raw_message_is_the_transmissions_content(sparkpost):
    to = recipient()
    message = outgoing(to)
    sender = build_sender("sparkpost_api", sparkpost.server_settings())

    outcome = await sender.send(message)
    await sender.close()

    assert isinstance(outcome, Sent), outcome
    [request] = sparkpost.sends()
    assert request.headers["Authorization"] == sparkpost.api_key
    assert request.json["recipients"] == [{"address": {"email": to}}]
    assert request.json["content"]["email_rfc822"].encode() == message.as_bytes()
    assert request.json["metadata"] == {"sendpool_message_id": str(message.message_id)}


async def test_a_recipient_sparkpost_rejected_fails_although_it_answered_200(sparkpost):
    suppressed = recipient()
    sparkpost.rejected_recipients.add(suppressed)
    sender = build_sender("sparkpost_api", sparkpost.server_settings())

    outcome = await sender.send(outgoing(suppressed))
    await sender.close()

    assert isinstance(outcome, Failed), outcome
    assert outcome.reply_code == 200
    assert "SparkPost rejected the recipient" in outcome.reply_text
    assert "1 recipient(s) rejected" in outcome.reply_text


async def test_the_sending_limit_defers(sparkpost):
    sparkpost.script(Reply(420, {"errors": [{"message": "Exceed Sending Limit (daily)", "code": "2102"}]}))
    sender = build_sender("sparkpost_api", sparkpost.server_settings())

    outcome = await sender.send(outgoing())
    await sender.close()

    assert isinstance(outcome, Deferred), outcome
    assert "420 2102: Exceed Sending Limit (daily)" in outcome.reply_text
