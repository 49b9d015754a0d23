"""Opaque keyset cursors: where a page ended, handed to the caller and taken back unchanged.

A cursor is URL-safe base64 (unpadded) of its parts joined by `|`: opaque, so its form may change,
but not secret (every query that takes one is bounded to the caller's own rows). Whatever did not
come out of `encode_cursor` is refused with `ValueError`; each API turns that into its 4xx.
"""

import base64
import binascii
from datetime import UTC, datetime
from uuid import UUID


def encode_cursor(*parts: object) -> str:
    text = "|".join(str(part) for part in parts)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, max_length: int) -> list[str]:
    """The parts `encode_cursor` joined; `ValueError` for anything else, or anything longer."""
    if len(cursor) > max_length:
        raise ValueError("too long to be a cursor")
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("not a cursor this API returned") from None


def encode_time_position(at: datetime, row_id: UUID) -> str:
    """The cursor of rows ordered by (a time, an id)."""
    return encode_cursor(at.astimezone(UTC).isoformat(), row_id)


def decode_time_position(cursor: str, *, max_length: int) -> tuple[datetime, UUID]:
    """The (time, id) an `encode_time_position` cursor names; `ValueError` for anything else."""
    parts = decode_cursor(cursor, max_length=max_length)
    if len(parts) != 2:
        raise ValueError("not a cursor this API returned")
    at = datetime.fromisoformat(parts[0])  # ValueError when it is not one
    if at.tzinfo is None:
        raise ValueError("not a cursor this API returned")
    return at, UUID(parts[1])
