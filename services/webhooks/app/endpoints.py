"""The endpoints API's use cases: register, read, change, delete, rotate the secret, read the log, replay."""

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import structlog

from services.webhooks.app.ports import (
    DestinationCheck,
    EndpointStore,
    NewEndpoint,
    SecretBox,
    StreamSubscriptions,
    TooManyEndpoints,
    TooManyEvents,
)
from services.webhooks.domain.endpoints import Endpoint, UrlRefused, destination_of, new_secret
from shared.errors import Conflict, InvalidInput, NotFound

log = structlog.get_logger("webhooks.endpoints")


@dataclass(frozen=True)
class EndpointRules:
    max_per_tenant: int
    url_max_length: int
    allow_http: bool
    secret_grace: timedelta
    replay_max_events: int


class Endpoints:
    def __init__(
        self,
        store: EndpointStore,
        secrets: SecretBox,
        destinations: DestinationCheck,
        subscriptions: StreamSubscriptions,
        rules: EndpointRules,
    ) -> None:
        self._store = store
        self._secrets = secrets
        self._destinations = destinations
        self._subscriptions = subscriptions
        self._rules = rules

    async def _checked_url(self, url: str) -> str:
        """The URL, if its form and its host's addresses are acceptable; a 422 naming `url` otherwise.
        The addresses are checked again at every request (a DNS answer may change meanwhile)."""
        try:
            destination = destination_of(
                url, max_length=self._rules.url_max_length, allow_http=self._rules.allow_http
            )
        except UrlRefused as refused:
            raise InvalidInput.field("url", f"the URL {refused}") from None
        refusal = await self._destinations.refusal(destination.host, destination.port)
        if refusal is not None:
            raise InvalidInput.field("url", refusal)
        return url

    async def create(
        self, tenant_id: UUID, url: str, event_types: Collection[str] | None, description: str
    ) -> Endpoint:
        secret = new_secret()
        endpoint = NewEndpoint(
            id=uuid4(),
            tenant_id=tenant_id,
            url=await self._checked_url(url),
            description=description,
            event_types=sorted(set(event_types)) if event_types is not None else None,
            secret_sealed=self._secrets.seal(secret),
        )
        # Before the endpoint exists: every event published once it exists must reach the service.
        # Unreachable, the registration fails (503) rather than create an endpoint that gets nothing.
        await self._subscriptions.follow(tenant_id)
        try:
            created = await self._store.create(endpoint, max_per_tenant=self._rules.max_per_tenant)
        except TooManyEndpoints:
            raise Conflict(
                f"a tenant may have {self._rules.max_per_tenant} webhook endpoints: delete one first"
            ) from None
        # Once more after the commit: the deletion of the tenant's last endpoint, at the same time,
        # may have unfollowed it between our follow and our commit (see `delete`).
        await self._follow_quietly(tenant_id)
        return replace(created, secret=secret)

    async def get(self, tenant_id: UUID, endpoint_id: UUID) -> Endpoint:
        found = await self._store.get(tenant_id, endpoint_id)
        if found is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        return found

    async def of_tenant(self, tenant_id: UUID) -> list[Endpoint]:
        return await self._store.of_tenant(tenant_id)

    async def update(self, tenant_id: UUID, endpoint_id: UUID, changes: dict[str, Any]) -> Endpoint:
        if "url" in changes:
            changes = {**changes, "url": await self._checked_url(changes["url"])}
        if changes.get("event_types") is not None:
            changes = {**changes, "event_types": sorted(set(changes["event_types"]))}
        updated = await self._store.update(tenant_id, endpoint_id, changes)
        if updated is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        return updated

    async def delete(self, tenant_id: UUID, endpoint_id: UUID) -> None:
        if not await self._store.delete(tenant_id, endpoint_id):
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        if await self._store.has_endpoints(tenant_id):
            return
        # The last one: its tenant's events need not reach the service any more. A failure only costs
        # filtering (ingest ignores tenants without endpoints), so it does not fail the deletion.
        try:
            await self._subscriptions.unfollow(tenant_id)
        except Exception:
            log.warning(
                "tenant still followed after its last endpoint went", tenant_id=str(tenant_id), exc_info=True
            )
            return
        # A registration committed meanwhile may have followed before our unfollow: follow again.
        if await self._store.has_endpoints(tenant_id):
            await self._follow_quietly(tenant_id)

    async def _follow_quietly(self, tenant_id: UUID) -> None:
        """Follow the tenant again, logging a failure (it was followed a moment ago)."""
        try:
            await self._subscriptions.follow(tenant_id)
        except Exception:
            log.warning("following a tenant again failed", tenant_id=str(tenant_id), exc_info=True)

    async def rotate_secret(self, tenant_id: UUID, endpoint_id: UUID) -> Endpoint:
        secret = new_secret()
        rotated = await self._store.rotate_secret(
            tenant_id,
            endpoint_id,
            self._secrets.seal(secret),
            datetime.now(UTC) + self._rules.secret_grace,
        )
        if rotated is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        return replace(rotated, secret=secret)

    async def deliveries(
        self, tenant_id: UUID, endpoint_id: UUID, *, before: int | None, limit: int
    ) -> list[dict[str, Any]]:
        page = await self._store.deliveries(tenant_id, endpoint_id, before=before, limit=limit)
        if page is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        return page

    async def replay(self, tenant_id: UUID, endpoint_id: UUID, start: datetime, end: datetime) -> int:
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidInput.field("from", "give the time zone (2026-01-01T00:00:00Z)")
        if end <= start:
            raise InvalidInput.field("to", "must be after `from`")
        endpoint = await self.get(tenant_id, endpoint_id)
        if not endpoint.enabled:
            raise Conflict(
                f"webhook endpoint {endpoint_id} is disabled: enable it (PATCH enabled=true) first"
            )
        try:
            queued = await self._store.replay(
                tenant_id, endpoint_id, start, end, max_events=self._rules.replay_max_events
            )
        except TooManyEvents as too_many:
            raise InvalidInput.field(
                "from",
                f"the window holds {too_many.found} events or more; one replay queues at most "
                f"{self._rules.replay_max_events}: replay a shorter window",
            ) from None
        if queued is None:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        return queued
