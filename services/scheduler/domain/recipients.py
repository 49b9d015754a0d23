"""Recipient lists: a tenant's named set of addresses, each address at most once per list."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class RecipientList:
    id: UUID
    tenant_id: UUID
    name: str
    created_at: datetime


@dataclass(frozen=True)
class NewRecipient:
    email: str
    name: str = ""


@dataclass(frozen=True)
class Recipient:
    id: int
    email: str
    name: str


@dataclass(frozen=True)
class RecipientsAdded:
    added: int
    total: int


@dataclass(frozen=True)
class ListSnapshot:
    """A list's size and highest recipient id at one moment: what a run launched then covers."""

    total: int
    max_recipient_id: int
