"""The suppression lists as tenants and the operator manage them, and the check other services ask.

A list is a tenant's (`tenant_id`) or the operator's global one (None), which applies to every
tenant. Every change is audited with who made it. An active suppression is never weakened by an
addition (a permanent one stays permanent); to lift one, remove it.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from services.bounces.app.ports import SuppressionStore
from services.bounces.domain.actions import Suppression, SuppressionSource
from services.bounces.domain.suppressions import (
    BadAddress,
    ImportRow,
    bounded_reason,
    normalized_address,
    suppression_key,
)
from shared.errors import InvalidInput, NotFound

PAGE_MAX = 500


@dataclass(frozen=True)
class Refused:
    row: int
    address: str
    why: str


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


def _address(text: str, field_name: str = "address", *, location: str = "body") -> str:
    try:
        return normalized_address(text)
    except BadAddress as bad:
        raise InvalidInput.field(field_name, str(bad), location=location) from None


class SuppressionLists:
    def __init__(self, store: SuppressionStore) -> None:
        self._store = store

    async def check(self, tenant_id: UUID, addresses: Sequence[str]) -> dict[str, str]:
        """The suppressed ones among `addresses`, keyed as asked, with why (one query)."""
        asked: dict[str, list[str]] = {}
        for address in addresses:
            asked.setdefault(suppression_key(address), []).append(address)
        found = await self._store.check(tenant_id, list(asked))
        return {original: reason for lowered, reason in found.items() for original in asked[lowered]}

    async def page(
        self,
        tenant_id: UUID | None,
        *,
        contains: str | None,
        source: str | None,
        after: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        return await self._store.page(
            tenant_id, contains=contains, source=source, after=after, limit=min(limit, PAGE_MAX)
        )

    async def add(
        self,
        tenant_id: UUID | None,
        address: str,
        reason: str | None,
        expires_at: datetime | None,
        *,
        actor: str,
    ) -> tuple[dict[str, Any], bool]:
        """The suppression now in force, and whether this call changed anything."""
        normalized = _address(address)
        suppression = Suppression(
            tenant_id,
            normalized,
            bounded_reason(reason, "added by hand"),
            SuppressionSource.MANUAL,
            expires_at,
        )
        changed = await self._store.add([suppression], actor=actor)
        current = await self._store.active(tenant_id, [normalized])
        if normalized not in current:  # expired at once (an expiry in the past): nothing in force
            raise InvalidInput.field("expires_at", "must be in the future")
        return current[normalized], bool(changed)

    async def import_rows(
        self, tenant_id: UUID | None, rows: Sequence[ImportRow], *, actor: str
    ) -> ImportReport:
        report = ImportReport()
        wanted: dict[str, Suppression] = {}
        for number, row in enumerate(rows):
            try:
                address = normalized_address(row.address)
            except BadAddress as bad:
                report.refused.append(Refused(number, row.address[:300], str(bad)))
                continue
            if address in wanted:
                report.already_there.append(address)
                continue
            wanted[address] = Suppression(
                tenant_id, address, bounded_reason(row.reason, "imported"), SuppressionSource.IMPORT
            )
        changed = {s.address for s in await self._store.add(list(wanted.values()), actor=actor)}
        for address in wanted:
            (report.added if address in changed else report.already_there).append(address)
        return report

    async def remove(self, tenant_id: UUID | None, address: str, *, actor: str) -> None:
        normalized = _address(address, location="path")
        if await self._store.remove(tenant_id, normalized, actor=actor) is None:
            raise NotFound(f"{normalized} is not on this suppression list")
