"""Re-encrypting every server secret under the newest key, so that older keys can be retired.

Rotation without downtime: put the new key first in `SENDPOOL_CATALOG_SECRET_KEYS` (old keys
after it) on every replica, run `sendpool rotate-keys`, then drop the old keys. Replicas decrypt
with any listed key, so they keep working throughout.
"""

from services.catalog.app.ports import CatalogStore, SealedSecrets, SecretBox


class KeyRotation:
    def __init__(self, store: CatalogStore, secret_box: SecretBox) -> None:
        self._store = store
        self._box = secret_box

    async def reseal_all_secrets(self) -> int:
        """Re-encrypt every server's secrets (connection settings and DKIM key) with the first key;
        returns how many servers. One transaction: a failure leaves every secret as it was."""
        async with self._store.transaction() as tx:
            sealed = await tx.sealed_secrets()
            await tx.replace_sealed_secrets(
                {
                    server_id: SealedSecrets(
                        settings=self._box.reseal(secrets.settings),
                        dkim_key=self._box.reseal(secrets.dkim_key) if secrets.dkim_key else None,
                    )
                    for server_id, secrets in sealed.items()
                }
            )
        return len(sealed)
