"""The catalog's operational commands, wired for `sendpool` (shared/cli.py) to run outside the service."""

import asyncio

from services.catalog.adapters.fernet_secret_box import FernetSecretBox
from services.catalog.adapters.postgres import PostgresCatalogStore
from services.catalog.app.key_rotation import KeyRotation
from services.catalog.entrypoints.main import MIGRATIONS, SCHEMA
from services.catalog.settings import CatalogSettings
from shared.db import create_pool, migrate


async def rotate_keys(settings: CatalogSettings) -> int:
    """Re-encrypt every server secret under the first of `settings.secret_keys`; returns how many servers."""
    # The catalog migrates when it starts; so does this, in case it runs before the new version's first start.
    await asyncio.to_thread(migrate, settings.database_url, SCHEMA, MIGRATIONS)
    pool = await create_pool(settings.database_url, SCHEMA, max_size=1)
    try:
        return await KeyRotation(
            PostgresCatalogStore(pool), FernetSecretBox(settings.secret_keys)
        ).reseal_all_secrets()
    finally:
        await pool.close()
