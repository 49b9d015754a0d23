"""Use cases for recipient lists."""

from collections.abc import Sequence
from uuid import UUID

from services.scheduler.app.errors import NotFound
from services.scheduler.app.ports import Store
from services.scheduler.domain.recipients import NewRecipient, RecipientList, RecipientsAdded


class RecipientLists:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(self, tenant_id: UUID, name: str) -> RecipientList:
        async with self._store.transaction() as repo:
            return await repo.create_list(tenant_id, name)

    async def add_recipients(
        self, tenant_id: UUID, list_id: UUID, recipients: Sequence[NewRecipient]
    ) -> RecipientsAdded:
        """Adds the addresses the list does not have yet (compared case-insensitively)."""
        async with self._store.transaction() as repo:
            if await repo.find_list(list_id, tenant_id) is None:
                raise NotFound("list", list_id)
            added = await repo.add_recipients(list_id, recipients)
            snapshot = await repo.snapshot_list(list_id)
        return RecipientsAdded(added=added, total=snapshot.total)
