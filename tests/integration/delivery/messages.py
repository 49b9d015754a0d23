"""Messages as the router would send them to a delivery worker."""

from uuid import UUID, uuid4

from shared.contracts import (
    BatchRecipient,
    DeliveryBatch,
    DeliveryRequested,
    MessageContent,
    RoutingDecision,
    SendBatch,
    SendRequested,
)

CONTENT = MessageContent(
    from_address="news@shop.example",
    from_name="Shop News",
    subject="Spring sale",
    text="Everything is 20% off.",
    html="<p>Everything is <b>20%</b> off.</p>",
    reply_to="help@shop.example",
    unsubscribe_url="https://shop.example/unsubscribe?u=42",
)


def recipient(kind: str = "reader") -> str:
    """A fresh address; its prefix picks the sink's behaviour (see smtp_scripts)."""
    return f"{kind}-{uuid4().hex[:8]}@inbox.example"


def send_requested(to: str, **changes) -> SendRequested:
    return SendRequested(
        message_id=uuid4(),
        tenant_id=uuid4(),
        campaign_id=uuid4(),
        run_id=uuid4(),
        recipient=to,
        recipient_name="Ada Reader",
        content=CONTENT,
        **changes,
    )


def delivery_requested(server_id: UUID, to: str, **changes) -> DeliveryRequested:
    return DeliveryRequested(
        send=send_requested(to, **changes),
        server_id=server_id,
        vendor="smtp",
        decision=RoutingDecision(mode="use_all", weights={str(server_id): 1.0}),
    )


def routed_again(send: SendRequested, server_id: UUID) -> DeliveryRequested:
    """A message that came back through routing (a retry), routed to `server_id` again, as a router would."""
    return DeliveryRequested(
        send=send,
        server_id=server_id,
        vendor="smtp",
        decision=RoutingDecision(mode="use_all", weights={str(server_id): 1.0}),
    )


def delivery_batch(server_id: UUID, recipients: list[str], **changes) -> DeliveryBatch:
    """Messages to `recipients` of one campaign run, in one batch on the server's queue, as a router
    publishes them; `changes` apply to every recipient (`attempt`, `first_attempt_at`, ...)."""
    return DeliveryBatch(
        server_id=server_id,
        vendor="smtp",
        decision=RoutingDecision(mode="use_all", weights={str(server_id): 1.0}),
        batch=SendBatch(
            tenant_id=uuid4(),
            campaign_id=uuid4(),
            run_id=uuid4(),
            content=CONTENT,
            recipients=[
                BatchRecipient(message_id=uuid4(), recipient=to, recipient_name="Ada Reader", **changes)
                for to in recipients
            ],
        ),
    )
