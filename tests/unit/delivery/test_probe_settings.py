"""A probe names its server only: the worker reads the server's settings from the catalog, and says
so in a person's words when it cannot."""

from uuid import UUID, uuid4

from services.delivery.app.ports import CatalogUnreachable, UnusableServer
from services.delivery.app.probe import ProbeServer
from shared.contracts import CatalogSnapshot, ProbeRequest, ServerConnectionSettings, ServerSettingsReply


class UnreachableCatalog:
    async def snapshot(self) -> CatalogSnapshot:
        raise CatalogUnreachable("no answer to snapshot within 5s")

    async def server_settings(self, server_id: UUID) -> ServerSettingsReply:
        raise CatalogUnreachable("no answer to server_settings within 5s")


class CatalogWithout:
    async def snapshot(self) -> CatalogSnapshot:
        return CatalogSnapshot(last_event_id=0, servers=[], plans=[], tenants=[])

    async def server_settings(self, server_id: UUID) -> ServerSettingsReply:
        raise UnusableServer(f"the catalog has no connection settings for it (server {server_id} not found)")


def never_built(server_type: str, settings: ServerConnectionSettings):
    raise AssertionError("no sender may be built without the server's settings")


async def test_a_probe_the_catalog_cannot_give_settings_for_is_answered_not_tested():
    probe = ProbeServer(UnreachableCatalog(), never_built, verp_secret="verp-secret-of-the-tests")

    result = await probe(ProbeRequest(server_id=uuid4(), type="smtp"))

    assert result.ok is False
    assert result.message == (
        "Connection not tested: the server's settings could not be read (no answer to server_settings within 5s)"
    )


async def test_a_probe_of_a_server_the_catalog_does_not_know_fails_saying_so():
    server_id = uuid4()
    probe = ProbeServer(CatalogWithout(), never_built, verp_secret="verp-secret-of-the-tests")

    result = await probe(ProbeRequest(server_id=server_id, type="smtp"))

    assert result.ok is False
    assert result.message == (
        f"Connection failed: the catalog has no connection settings for it (server {server_id} not found)"
    )
