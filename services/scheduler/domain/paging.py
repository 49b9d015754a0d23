"""Keyset paging of a tenant's campaigns: newest first, a page continuing after the last one shown.

The cursor is opaque to callers (URL-safe base64 of the last campaign's creation time and id), so
that its form can change; a cursor that does not decode is the caller's mistake (422 on `cursor`).
"""

from datetime import datetime
from uuid import UUID

from shared.errors import InvalidInput
from shared.paging import decode_time_position, encode_time_position

PAGE_MAX = 500
CURSOR_MAX = 200
"""A cursor this scheduler writes is about 70 characters."""


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    return encode_time_position(created_at, row_id)


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        return decode_time_position(cursor, max_length=CURSOR_MAX)
    except ValueError:
        raise cursor_refused() from None


def cursor_refused() -> InvalidInput:
    return InvalidInput.field(
        "cursor",
        "not a cursor this API gave out: pass next_cursor from the previous page as it is",
        location="query",
    )
