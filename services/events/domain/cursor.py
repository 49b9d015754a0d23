"""The keyset cursor of a campaign's events: where the last page ended (`occurred_at`, `event_id`).

It is opaque to the caller, but not secret: it only names a position in the log, and every query
that takes it is bounded to the caller's own events anyway.
"""

import base64
import binascii
from datetime import UTC, datetime
from typing import NamedTuple
from uuid import UUID

CURSOR_MAX_LENGTH = 128


class Position(NamedTuple):
    occurred_at: datetime
    event_id: UUID


def encode_cursor(position: Position) -> str:
    text = f"{position.occurred_at.astimezone(UTC).isoformat()}|{position.event_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; `ValueError` for anything `encode_cursor` did not write."""
    if len(cursor) > CURSOR_MAX_LENGTH:
        raise ValueError("too long to be a cursor")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        occurred_at, _, event_id = text.partition("|")
        moment = datetime.fromisoformat(occurred_at)
        position = Position(moment, UUID(event_id))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor this API returned") from None
    if moment.tzinfo is None:
        raise ValueError("not a cursor this API returned")
    return position
