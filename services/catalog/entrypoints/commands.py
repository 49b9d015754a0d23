"""The catalog's operational commands, wired for `sendpool` (ops/cli.py) to run outside the service."""

from services.catalog.adapters.fernet_secret_box import FernetSecretBox
from services.catalog.adapters.postgres import PostgresCatalogStore
from services.catalog.app.key_rotation import KeyRotation
from services.catalog.bootstrap import catalog_database
from services.catalog.settings import CatalogSettings


async def rotate_keys(settings: CatalogSettings) -> int:
    """Re-encrypt every server secret under the first of `settings.secret_keys`; returns how many servers."""
    # Opening migrates, as the catalog does when it starts: this may run before the new version's first start.
    async with catalog_database(settings.model_copy(update={"db_pool_size": 1})) as database:
        return await KeyRotation(
            PostgresCatalogStore(database), FernetSecretBox(settings.secret_keys)
        ).reseal_all_secrets()
