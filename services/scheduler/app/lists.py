"""Use cases for recipient lists."""

from collections.abc import Sequence
from uuid import UUID

from services.scheduler.app.ports import Repository, Store
from services.scheduler.domain.recipients import NewRecipient, RecipientList, RecipientsAdded
from shared.errors import NotFound


async def require_list(repo: Repository, list_id: UUID, tenant_id: UUID) -> RecipientList:
    """The tenant's list; another tenant's list does not exist for it."""
    recipient_list = await repo.find_list(list_id, tenant_id)
    if recipient_list is None:
        raise NotFound(f"list {list_id} not found")
    return recipient_list


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
            await require_list(repo, list_id, tenant_id)
            added = await repo.add_recipients(list_id, recipients)
            snapshot = await repo.snapshot_list(list_id)
        return RecipientsAdded(added=added, total=snapshot.total)
