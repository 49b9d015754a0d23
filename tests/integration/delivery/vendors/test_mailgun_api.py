"""Mailgun messages.mime: the raw MIME as an upload, and the sending domain's state in the probe."""

from services.delivery.domain.outcomes import Failed, Sent
from tests.integration.delivery.vendors.messages import build_sender, outgoing, recipient


async def test_the_raw_message_is_uploaded_for_the_recipient(mailgun):
    to = recipient()
    message = outgoing(to)
    sender = build_sender("mailgun_api", mailgun.server_settings())

    outcome = await sender.send(message)
    await sender.close()

    assert isinstance(outcome, Sent), outcome
    assert outcome.vendor_message_id is not None and outcome.vendor_message_id.endswith("@mg.shop.example")
    assert not outcome.vendor_message_id.startswith("<")
    [request] = mailgun.sends()
    assert request.path == "/v3/mg.shop.example/messages.mime"
    assert request.form["to"] == to
    assert request.form["message"].encode() == message.as_bytes()
    assert request.form["v:sendpool_message_id"] == str(message.message_id)


async def test_probe_fails_while_mailgun_has_not_activated_the_domain(mailgun):
    mailgun.domain_state = "unverified"
    sender = build_sender("mailgun_api", mailgun.server_settings())

    result = await sender.probe()
    await sender.close()

    assert not result.ok
    assert result.message == (
        "Connection failed: Mailgun has the domain mg.shop.example as 'unverified', not active: it cannot send yet"
    )


async def test_a_domain_mailgun_does_not_know_fails_the_probe_and_the_message(mailgun):
    sender = build_sender("mailgun_api", mailgun.server_settings(domain="typo.shop.example"))

    result = await sender.probe()
    outcome = await sender.send(outgoing())
    await sender.close()

    assert not result.ok
    assert "Mailgun does not know the server's sending domain" in result.message
    assert "Domain not found" not in result.message  # Mailgun's words: only the worker's log has them
    assert isinstance(outcome, Failed) and outcome.reply_code == 404, outcome
