"""What one webhook request carries, per the Standard Webhooks specification.

A request holds one event normally:

    {"type": "sent", "timestamp": "<occurred_at>", "data": <the Event envelope, version 1>}

with `webhook-id` the event's `event_id`, the same on every retry and replay, so a receiver that
has seen the id drops the request. An endpoint that has fallen behind (more than one event due)
gets up to `batch_max_events` of its oldest events in one request instead:

    {"type": "batch", "timestamp": "<the newest event's occurred_at>", "data": {"events": [<Event>, ...]}}

whose `webhook-id` is `batch_<uuid>`, derived from the endpoint and the event ids it holds (the same
batch sent again has the same id); a receiver de-duplicates a batch's events by their `event_id`.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

BATCH_TYPE = "batch"

_BATCH_IDS = UUID("6f1d2c4e-8a3b-4e7f-b5a9-2c1d0e9f8a7b")


@dataclass(frozen=True)
class StoredEvent:
    """An event as the service keeps it: its id, when it occurred, and its envelope as JSON."""

    event_id: UUID
    type: str
    occurred_at: datetime
    body: dict[str, Any]
    """`shared.events.Event` as JSON (`model_dump(mode="json")`)."""


@dataclass(frozen=True)
class Payload:
    webhook_id: str
    body: bytes
    event_ids: tuple[UUID, ...]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def payload_of(endpoint_id: UUID, events: Sequence[StoredEvent]) -> Payload:
    """One event alone, or several as a batch (the caller decides how many are due: `batch_size`)."""
    if not events:
        raise ValueError("a payload needs at least one event")
    if len(events) == 1:
        event = events[0]
        document: dict[str, Any] = {
            "type": event.type,
            "timestamp": _iso(event.occurred_at),
            "data": event.body,
        }
        webhook_id = str(event.event_id)
    else:
        ids = ",".join(str(event.event_id) for event in events)
        document = {
            "type": BATCH_TYPE,
            "timestamp": _iso(max(event.occurred_at for event in events)),
            "data": {"events": [event.body for event in events]},
        }
        webhook_id = f"batch_{uuid5(_BATCH_IDS, f'{endpoint_id}/{ids}')}"
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    return Payload(webhook_id, body, tuple(event.event_id for event in events))


def batch_size(due: int, batch_max_events: int) -> int:
    """How many of an endpoint's due events go in its next request: one while it keeps up, up to
    `batch_max_events` once it has fallen behind (more than one due)."""
    if due <= 1:
        return due
    return min(due, batch_max_events)
