"""What the bounces service publishes through its outbox, declared on its broker for its AsyncAPI document."""

from faststream.rabbit import RabbitBroker
from faststream.rabbit.publisher import RabbitPublisher

from shared.contracts import StatusBatch
from shared.publishers import contract_publisher
from shared.topology import STATUS_EXCHANGE


def feedback_status_publisher(broker: RabbitBroker) -> RabbitPublisher:
    """The outbox relay's: the status events feedback causes."""
    return contract_publisher(
        broker,
        "bounces",
        "feedback status events",
        StatusBatch,
        "`bounced` (hard and soft bounces) and `complained` (spam complaints) of sent messages, with "
        "`feedback_class`, `enhanced_code` (the status code) and `reply_text` (the diagnostic), from the "
        "bounces service's transactional outbox, written with the feedback that caused them, at least once. "
        "Every copy of one message's feedback of one status carries the same `event_id`. Routing key "
        "`<tenant>.<campaign>.<status>`.",
        exchange=STATUS_EXCHANGE,
        routing_key="<tenant>.<campaign>.<status>",
        mandatory=False,
    )
