"""The keyset cursor of a campaign's events: where the last page ended (`occurred_at`, `event_id`).

It is opaque to the caller, but not secret: it only names a position in the log, and every query
that takes it is bounded to the caller's own events anyway.
"""

from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from shared.paging import decode_time_position, encode_time_position

CURSOR_MAX_LENGTH = 128


class Position(NamedTuple):
    occurred_at: datetime
    event_id: UUID


def encode_cursor(position: Position) -> str:
    return encode_time_position(position.occurred_at, position.event_id)


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; `ValueError` for anything `encode_cursor` did not write."""
    return Position(*decode_time_position(cursor, max_length=CURSOR_MAX_LENGTH))
