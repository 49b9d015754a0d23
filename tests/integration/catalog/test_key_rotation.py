"""`sendpool rotate-keys`: every server secret, the DKIM keys too, re-encrypted under the first key."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken

from services.catalog.adapters.fernet_secret_box import FernetSecretBox
from services.catalog.adapters.postgres import PostgresCatalogStore
from services.catalog.app.queries import CatalogQueries
from services.catalog.app.servers import Servers
from services.catalog.bootstrap import MIGRATIONS, SCHEMA
from services.catalog.domain.access import OPERATOR
from services.catalog.domain.server_types import BUILT_IN_REGISTRY
from shared.contracts import ProbeRequest, ProbeResult
from shared.db import Database
from shared.dkim_keys import parse_dkim_key
from tests.support.infra import create_database, drop_database
from tests.unit.catalog.dkim_keys import ed25519_key, pem

SENDPOOL = Path(sys.executable).parent / "sendpool"


class UnusedProber:
    async def probe(self, vendor: str, request: ProbeRequest) -> ProbeResult:
        raise AssertionError("no probe expected")


@pytest.fixture
async def scratch_database():
    """A database of its own: rotating rewrites the whole catalog schema, which this package's running
    catalog must go on reading with the test key."""
    url = await asyncio.to_thread(create_database, "sendpool_rotation")
    yield url
    await asyncio.to_thread(drop_database, url)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SENDPOOL), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


async def test_rotate_keys_reencrypts_settings_secrets_and_dkim_keys(scratch_database):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    env = {"SENDPOOL_DATABASE_URL": scratch_database, "SENDPOOL_CATALOG_SECRET_KEYS": old_key}
    assert run_cli("migrate", "catalog", env=env).returncode == 0
    database = Database(scratch_database, SCHEMA, MIGRATIONS, pool_size=2, wait_seconds=0)
    await database.open()
    try:
        store = PostgresCatalogStore(database)
        servers = Servers(store, FernetSecretBox([old_key]), UnusedProber(), BUILT_IN_REGISTRY)
        dkim_pem = pem(ed25519_key())
        relay = await servers.create(
            OPERATOR,
            name="relay",
            type="smtp",
            settings={"host": "mx.example", "password": "p4ss"},
            identity={"from_domains": ["example.com"], "dkim_selector": "s1", "dkim_private_key": dkim_pem},
        )
        api = await servers.create(OPERATOR, name="api", type="sendgrid_api", settings={"api_key": "SG.k3y"})

        rotated = await asyncio.to_thread(
            run_cli, "rotate-keys", env={**env, "SENDPOOL_CATALOG_SECRET_KEYS": f"{new_key},{old_key}"}
        )

        assert rotated.returncode == 0, rotated.stderr
        assert "the secrets of 2 server(s) are encrypted under the first key" in rotated.stdout
        only_new_key = CatalogQueries(store, FernetSecretBox([new_key]))
        settings = (await only_new_key.server_settings(relay.id)).settings
        assert settings.type_settings["password"] == "p4ss"
        assert settings.identity is not None
        assert settings.identity.dkim_private_key == parse_dkim_key(dkim_pem).pem
        assert (await only_new_key.server_settings(api.id)).settings.type_settings["api_key"] == "SG.k3y"
        with pytest.raises(InvalidToken):
            await CatalogQueries(store, FernetSecretBox([old_key])).server_settings(relay.id)
    finally:
        await database.close()


def test_rotate_keys_refuses_a_malformed_key_without_printing_it(scratch_database):
    refused = run_cli(
        "rotate-keys",
        env={
            "SENDPOOL_DATABASE_URL": scratch_database,
            "SENDPOOL_CATALOG_SECRET_KEYS": "not-a-fernet-key-s3cr3t",
        },
    )

    assert refused.returncode != 0
    assert "key #1 is not urlsafe base64 of 32 bytes" in refused.stderr
    assert "s3cr3t" not in refused.stdout + refused.stderr
