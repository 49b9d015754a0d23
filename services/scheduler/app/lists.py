"""Use cases for recipient lists."""

from collections.abc import AsyncIterator, Sequence
from typing import NamedTuple
from uuid import UUID

from services.scheduler.app.imports import CsvImport
from services.scheduler.app.ports import Repository, Store
from services.scheduler.domain.paging import PAGE_MAX, decode_cursor, encode_cursor
from services.scheduler.domain.recipients import (
    ListImport,
    NewRecipient,
    Recipient,
    RecipientList,
    RecipientsAdded,
    decode_recipient_cursor,
    encode_recipient_cursor,
)
from shared.errors import Conflict, NotFound

LIST_MAX_RECIPIENTS = 5_000_000
"""The most recipients a list holds unless the service is told otherwise (its settings)."""


class ListPage(NamedTuple):
    lists: list[RecipientList]
    next_cursor: str | None


class RecipientPage(NamedTuple):
    recipients: list[Recipient]
    next_cursor: str | None


async def require_list(repo: Repository, list_id: UUID, tenant_id: UUID) -> RecipientList:
    """The tenant's list; another tenant's list does not exist for it."""
    recipient_list = await repo.find_list(list_id, tenant_id)
    if recipient_list is None:
        raise NotFound(f"list {list_id} not found")
    return recipient_list


class RecipientLists:
    def __init__(self, store: Store, *, max_recipients: int = LIST_MAX_RECIPIENTS) -> None:
        self._store = store
        self._max_recipients = max_recipients

    async def create(self, tenant_id: UUID, name: str) -> RecipientList:
        async with self._store.transaction() as repo:
            return await repo.create_list(tenant_id, name)

    async def add_recipients(
        self, tenant_id: UUID, list_id: UUID, recipients: Sequence[NewRecipient]
    ) -> RecipientsAdded:
        """Adds the addresses the list does not have yet (compared case-insensitively)."""
        async with self._store.transaction() as repo:
            await require_list(repo, list_id, tenant_id)
            added = await repo.add_recipients(list_id, recipients)
            snapshot = await repo.snapshot_list(list_id)
            if snapshot.total > self._max_recipients:
                # Raised inside the transaction: none of this request's recipients are kept.
                raise Conflict(
                    f"a list holds at most {self._max_recipients} recipients; none of these were added"
                )
        return RecipientsAdded(added=added, total=snapshot.total)

    async def page(self, tenant_id: UUID, *, limit: int, cursor: str | None = None) -> ListPage:
        """The tenant's lists, newest first, `limit` (at most `PAGE_MAX`) at a time."""
        limit = max(1, min(limit, PAGE_MAX))
        after = decode_cursor(cursor) if cursor else None
        async with self._store.transaction() as repo:
            found = await repo.page_lists(tenant_id, limit + 1, after)
        page, more = found[:limit], len(found) > limit
        return ListPage(page, encode_cursor(page[-1].created_at, page[-1].id) if more else None)

    async def get(self, tenant_id: UUID, list_id: UUID) -> RecipientList:
        async with self._store.transaction() as repo:
            return await require_list(repo, list_id, tenant_id)

    async def recipients(
        self, tenant_id: UUID, list_id: UUID, *, limit: int, cursor: str | None = None
    ) -> RecipientPage:
        """The list's recipients in the order they were added, `limit` (at most `PAGE_MAX`) at a time."""
        limit = max(1, min(limit, PAGE_MAX))
        after_id = decode_recipient_cursor(cursor) if cursor else 0
        async with self._store.transaction() as repo:
            await require_list(repo, list_id, tenant_id)
            found = await repo.page_recipients(list_id, limit + 1, after_id)
        page, more = found[:limit], len(found) > limit
        return RecipientPage(page, encode_recipient_cursor(page[-1].id) if more else None)

    async def delete(self, tenant_id: UUID, list_id: UUID) -> None:
        """Deletes the list's recipients and hides the list; refused while a campaign that is not
        finished uses it. The list's row stays, for its campaigns' history."""
        async with self._store.transaction() as repo:
            if await repo.lock_list(list_id, tenant_id) is None:
                raise NotFound(f"list {list_id} not found")
            using = await repo.unfinished_campaigns(list_id)
            if using:
                named = ", ".join(
                    f"{campaign.id} ({campaign.name!r}, {campaign.state})" for campaign in using
                )
                raise Conflict(f"the list is used by campaigns that are not finished: {named}")
            await repo.delete_list(list_id)

    async def import_csv(self, tenant_id: UUID, list_id: UUID, body: AsyncIterator[bytes]) -> ListImport:
        """Imports a CSV body into the list as it arrives (`services.scheduler.app.imports`)."""
        return await CsvImport(self._store, tenant_id, list_id, max_recipients=self._max_recipients).run(body)

    async def find_import(self, tenant_id: UUID, list_id: UUID, import_id: UUID) -> ListImport:
        async with self._store.transaction() as repo:
            await require_list(repo, list_id, tenant_id)
            found = await repo.find_import(import_id, list_id)
        if found is None:
            raise NotFound(f"import {import_id} not found")
        return found
