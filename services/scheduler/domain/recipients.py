"""Recipient lists: a tenant's named set of addresses, each address at most once per list."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from services.scheduler.domain.paging import cursor_refused
from shared.paging import decode_cursor, encode_cursor


@dataclass(frozen=True)
class RecipientList:
    id: UUID
    tenant_id: UUID
    name: str
    created_at: datetime
    field_names: tuple[str, ...] = ()
    """The custom field names any of its recipients has (kept up to date on every add and import),
    sorted: what a campaign's template may name besides the built-in ones."""
    recipient_count: int = 0


@dataclass(frozen=True)
class NewRecipient:
    email: str
    name: str = ""
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipient:
    id: int
    email: str
    name: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecipientsAdded:
    added: int
    total: int


@dataclass(frozen=True)
class ListSnapshot:
    """A list's size and highest recipient id at one moment: what a run launched then covers."""

    total: int
    max_recipient_id: int


@dataclass(frozen=True)
class ListImport:
    """A CSV import's stored report (`services.scheduler.domain.csv_import.ImportReport.as_json`)."""

    id: UUID
    list_id: UUID
    created_at: datetime
    report: dict[str, Any]


@dataclass(frozen=True)
class CampaignUsingList:
    """A campaign that is not finished yet, which keeps its list from being deleted."""

    id: UUID
    name: str
    state: str


def encode_recipient_cursor(recipient_id: int) -> str:
    """The opaque cursor of a page of recipients continuing after `recipient_id` (ids grow as added)."""
    return encode_cursor(f"r{recipient_id}")


def decode_recipient_cursor(cursor: str) -> int:
    try:
        [raw] = decode_cursor(cursor, max_length=40)
        if not raw.startswith("r") or not raw[1:].isdigit():
            raise ValueError("not a recipient cursor")
        recipient_id = int(raw[1:])
        if recipient_id >= 2**63:
            raise ValueError("out of range")
        return recipient_id
    except ValueError:
        raise cursor_refused() from None
