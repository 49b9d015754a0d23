"""Which tenants' events the service receives, set right at start-up."""

import structlog

from services.webhooks.app.ports import EndpointStore, StreamSubscriptions

log = structlog.get_logger("webhooks.subscriptions")


class ReconcileSubscriptions:
    """Follow every tenant that has endpoints, then drop the catch-all of earlier versions.

    Registrations and deletions follow and unfollow as they happen; this covers what they cannot:
    subscriptions lost with a re-created vhost or queue, and the upgrade from the version that
    received the whole stream. In that order, so that no event of a tenant with endpoints is missed
    during the upgrade. Tenants still followed without endpoints (an unfollow that failed) stay so:
    that costs filtering only, since ingest ignores them."""

    def __init__(self, store: EndpointStore, subscriptions: StreamSubscriptions) -> None:
        self._store = store
        self._subscriptions = subscriptions

    async def __call__(self) -> int:
        """Returns how many tenants are followed."""
        tenants = await self._store.tenants_with_endpoints()
        for tenant_id in tenants:
            await self._subscriptions.follow(tenant_id)
        await self._subscriptions.stop_following_everything()
        log.info("tenants with webhook endpoints followed on the public stream", tenants=len(tenants))
        return len(tenants)
