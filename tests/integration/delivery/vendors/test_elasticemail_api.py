"""Elastic Email v4 transactional emails: the message taken apart into the v4 fields."""

from services.delivery.domain.outcomes import Sent
from tests.integration.delivery.vendors.messages import build_sender, outgoing, recipient


async def test_the_message_becomes_transactional_email_fields(elasticemail):
    to = recipient()
    message = outgoing(to)
    sender = build_sender("elasticemail_api", elasticemail.server_settings())

    outcome = await sender.send(message)
    await sender.close()

    assert isinstance(outcome, Sent), outcome
    assert outcome.vendor_message_id is not None and outcome.vendor_message_id.startswith("ee-")
    [request] = elasticemail.sends()
    assert request.headers["X-Elasticemail-Apikey"] == elasticemail.api_key
    assert request.json["Recipients"] == {"To": [f"Ada Reader <{to}>"]}
    content = request.json["Content"]
    assert content["From"] == "Shop News <news@shop.example>"
    assert content["ReplyTo"] == "help@shop.example"
    assert content["Subject"] == "Spring sale"
    assert [part["ContentType"] for part in content["Body"]] == ["PlainText", "HTML"]
    assert content["Headers"]["List-Unsubscribe"] == "<https://shop.example/unsubscribe?u=42>"
    assert content["Postback"] == str(message.message_id)
