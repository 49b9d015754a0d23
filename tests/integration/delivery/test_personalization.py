"""Personalization through the worker process, against a real SMTP sink: each recipient of one batch
gets its own subject and bodies (merge fields, defaults, its own unsubscribe link), and a recipient
whose rendering fails is `failed` alone with the reason while the rest of its batch is sent."""

from email import message_from_bytes
from email.policy import default as default_policy

import pytest

from shared.contracts import BatchRecipient, MessageContent
from shared.topology import delivery_queue_name
from tests.integration.delivery.messages import delivery_batch, recipient

pytestmark = pytest.mark.usefixtures("worker")

PERSONAL = MessageContent(
    from_address="news@shop.example",
    from_name="Shop News",
    subject="{{ first_name }}, your {{ plan | default('free') }} plan",
    text="Hello {{ name }} ({{ email }}).\nLeave: {{ unsubscribe_url }}\n",
    html='<p>Hi {{ first_name }}, {{ note }}</p><a href="{{ unsubscribe_url }}">unsubscribe</a>',
)


async def test_each_recipient_gets_its_own_rendering_and_a_bad_one_fails_alone(bus, sink, server_id):
    ada, bob, bad = recipient(), recipient(), recipient()
    batch = delivery_batch(server_id, [ada, bob, bad])
    fields = {
        ada: {"plan": "gold", "note": "<b>VIP</b>"},
        bob: {},
        # A custom field with a line break in the subject would start a header of its own.
        bad: {"first_name": "Eve\r\nBcc: victim@else.example"},
    }
    names = {ada: "Ada Lovelace", bob: "Bob", bad: "Eve"}
    batch = batch.model_copy(
        update={
            "batch": batch.batch.model_copy(
                update={
                    "content": PERSONAL,
                    "recipients": [
                        BatchRecipient(
                            message_id=r.message_id,
                            recipient=r.recipient,
                            recipient_name=names[r.recipient],
                            fields=fields[r.recipient],
                        )
                        for r in batch.batch.recipients
                    ],
                }
            )
        }
    )
    ids = {request.send.recipient: request.send.message_id for request in batch.requests()}

    await bus.publish_to_queue(batch, delivery_queue_name("smtp", server_id))
    await bus.wait_for_status(ids[ada], "sent")
    await bus.wait_for_status(ids[bob], "sent")
    failed = await bus.wait_for_status(ids[bad], "failed")

    assert failed.reply_text.startswith("personalization failed: subject"), failed.reply_text
    assert sink.to(bad) == [], "a recipient whose rendering failed got mail"
    [to_ada] = sink.to(ada)
    [to_bob] = sink.to(bob)
    ada_mail = message_from_bytes(to_ada.data, policy=default_policy)
    bob_mail = message_from_bytes(to_bob.data, policy=default_policy)
    assert ada_mail["Subject"] == "Ada, your gold plan"
    assert bob_mail["Subject"] == "Bob, your free plan"
    ada_text = ada_mail.get_body(("plain",)).get_content()
    assert f"Hello Ada Lovelace ({ada})." in ada_text
    link = ada_mail["List-Unsubscribe"][1:-1]
    assert f"Leave: {link}" in ada_text, "the body's link is the header's"
    assert link != bob_mail["List-Unsubscribe"][1:-1], "a link per recipient"
    assert "<p>Hi Ada, &lt;b&gt;VIP&lt;/b&gt;</p>" in ada_mail.get_body(("html",)).get_content()
    assert "<p>Hi Bob, </p>" in bob_mail.get_body(("html",)).get_content()
