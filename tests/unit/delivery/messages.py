"""Messages as a router hands them to a delivery worker, for the use cases' tests."""

from uuid import UUID, uuid4

from shared.contracts import DeliveryRequested, MessageContent, RoutingDecision, SendRequested

CONTENT = MessageContent(from_address="news@shop.example", subject="Hello", text="Hi")


def send_requested(*, content: MessageContent = CONTENT, **changes) -> SendRequested:
    return SendRequested(
        message_id=uuid4(),
        tenant_id=uuid4(),
        campaign_id=uuid4(),
        run_id=uuid4(),
        recipient="ada@inbox.example",
        content=content,
        **changes,
    )


def delivery_requested(server_id: UUID, send: SendRequested | None = None, **changes) -> DeliveryRequested:
    """`send` (a fresh message by default) routed to `server_id`."""
    return DeliveryRequested(
        send=send or send_requested(),
        server_id=server_id,
        vendor="smtp",
        decision=RoutingDecision(mode="use_all", weights={str(server_id): 1.0}),
        **changes,
    )
