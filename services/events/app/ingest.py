"""Each delivery of `sendpool.status`: logged, then published on the public stream, then acked."""

from collections.abc import Sequence

import structlog

from services.events.app.ports import EventLog, EventPublisher
from shared.events import Event, EventBatch

log = structlog.get_logger("events.ingest")


class RecordEvents:
    """Log a delivery's events and publish them again as `EventBatch`es.

    The log comes first: an event is published only once it is kept, so the timelines never miss
    what a consumer of the stream saw. A delivery seen for the first time publishes only the events
    the log did not hold yet (the platform's own copies of one fact, an outbox relayed twice, stop
    there); a redelivery publishes every event it carries, since the delivery before it may have
    logged them and died before publishing. The caller acks only once this returns: at least once.
    """

    def __init__(self, event_log: EventLog, publisher: EventPublisher) -> None:
        self._log = event_log
        self._publisher = publisher

    async def __call__(self, events: Sequence[Event], *, redelivered: bool) -> int:
        """Returns how many events were published."""
        events = list({event.event_id: event for event in events}.values())  # a copy within one delivery
        new_ids = await self._log.append(events)
        to_publish = events if redelivered else [event for event in events if event.event_id in new_ids]
        for batch in EventBatch.of(to_publish):
            await self._publisher.publish(batch)
        if len(to_publish) < len(events):  # the platform's own copies, or a replica's
            log.debug("copies of logged events not published again", dropped=len(events) - len(to_publish))
        return len(to_publish)
