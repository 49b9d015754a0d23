from uuid import uuid4

from shared.contracts import MessageContent, MessageStatus, SendRequested

SEND = SendRequested(
    message_id=uuid4(),
    tenant_id=uuid4(),
    campaign_id=uuid4(),
    run_id=uuid4(),
    recipient="a@example.com",
    content=MessageContent(from_address="n@example.com", subject="Hi"),
    attempt=2,
)


def test_avoiding_adds_a_server_once_and_keeps_the_attempt():
    server = uuid4()
    twice = SEND.avoiding(server).avoiding(server)
    assert twice.avoid_server_ids == [server]
    assert twice.attempt == 2 and twice.message_id == SEND.message_id


def test_status_event_carries_the_message_identity_and_extra_fields():
    server = uuid4()
    event = SEND.status_event(MessageStatus.SENT, server_id=server, reply_code=250)
    assert (event.message_id, event.run_id, event.recipient, event.attempt) == (
        SEND.message_id,
        SEND.run_id,
        SEND.recipient,
        2,
    )
    assert event.server_id == server and event.reply_code == 250
    assert SEND.status_event(MessageStatus.SENT, attempt=5).attempt == 5
    assert event.routing_key == f"{SEND.tenant_id}.{SEND.campaign_id}.sent"
