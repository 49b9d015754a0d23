"""SendGrid Mail Send: the message taken apart into the JSON fields SendGrid builds it from."""

from services.delivery.domain.outcomes import Sent
from tests.integration.delivery.vendors.messages import build_sender, outgoing, recipient


async def test_the_message_becomes_mail_send_fields(sendgrid):
    to = recipient()
    message = outgoing(to)
    sender = build_sender("sendgrid_api", sendgrid.server_settings())

    outcome = await sender.send(message)
    await sender.close()

    assert isinstance(outcome, Sent), outcome
    [request] = sendgrid.sends()
    assert request.headers["Authorization"] == f"Bearer {sendgrid.api_key}"
    body = request.json
    assert body["personalizations"] == [
        {
            "to": [{"email": to, "name": "Ada Reader"}],
            "custom_args": {"sendpool_message_id": str(message.message_id)},
        }
    ]
    assert body["from"] == {"email": "news@shop.example", "name": "Shop News"}
    assert body["reply_to"] == {"email": "help@shop.example"}
    assert body["subject"] == "Spring sale"
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    assert "<b>20%</b>" in body["content"][1]["value"]
    assert body["headers"]["List-Unsubscribe"] == "<https://shop.example/unsubscribe?u=42>"
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_the_message_id_is_the_one_sendgrid_returns_in_its_header(sendgrid):
    sender = build_sender("sendgrid_api", sendgrid.server_settings())

    outcome = await sender.send(outgoing())
    await sender.close()

    assert isinstance(outcome, Sent)
    assert outcome.vendor_message_id is not None and outcome.vendor_message_id.startswith("sg-")


async def test_a_text_only_message_sends_one_content_part(sendgrid):
    sender = build_sender("sendgrid_api", sendgrid.server_settings())

    outcome = await sender.send(outgoing(html=None))
    await sender.close()

    assert isinstance(outcome, Sent), outcome
    assert [part["type"] for part in sendgrid.sends()[0].json["content"]] == ["text/plain"]
