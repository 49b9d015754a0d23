"""Keyset paging of a tenant's campaigns: newest first, a page continuing after the last one shown.

The cursor is opaque to callers (URL-safe base64 of the last campaign's creation time and id), so
that its form can change; a cursor that does not decode is the caller's mistake (422 on `cursor`).
"""

import base64
import binascii
from datetime import datetime
from uuid import UUID

from shared.errors import InvalidInput

PAGE_MAX = 500
CURSOR_MAX = 200
"""A cursor this scheduler writes is about 70 characters."""


def encode_cursor(created_at: datetime, campaign_id: UUID) -> str:
    raw = f"{created_at.isoformat()}|{campaign_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        if len(cursor) > CURSOR_MAX:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, _, campaign_id = raw.partition("|")
        when = datetime.fromisoformat(created_at)
        if when.tzinfo is None:
            raise ValueError("no offset")
        return when, UUID(campaign_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput.field(
            "cursor",
            "not a cursor this API gave out: pass next_cursor from the previous page as it is",
            location="query",
        ) from None
