"""The interfaces the bounces use cases depend on; `services/bounces/adapters` implements them."""

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from services.bounces.domain.actions import Match, Report, SentMessage, Suppression
from services.bounces.domain.feedback import Feedback
from services.bounces.domain.outcomes import OutcomeKey
from services.bounces.domain.reputation import ServerWindow
from services.bounces.domain.webhooks.common import WebhookServer
from shared.contracts import (
    FeedbackClass,
    PauseServerRequest,
    RpcError,
    ServerReputationReport,
    ServerView,
    StatusEvent,
)


class CounterStore(Protocol):
    """Each server's hourly outcome counters (`PgCounterStore`)."""

    async def add(self, counts: Counter[OutcomeKey]) -> None:
        """Add `counts` to the stored counters, creating the ones not there yet. A negative count
        takes back what was counted (a re-classified bounce), in the hour it was counted in."""
        ...


class OutcomeWindows(Protocol):
    """The counters summed over the rate window, and the pauses that restart it (`PgCounterStore`)."""

    async def window(self, server_ids: Collection[UUID], since: datetime) -> dict[UUID, ServerWindow]:
        """The servers' counts in the hourly buckets from `since` on; servers with none are left out."""
        ...

    async def record_pause(self, server_id: UUID, paused_at: datetime, reason: str) -> None: ...

    async def prune(self, before: datetime) -> int:
        """Delete the buckets (and pauses) before `before`; returns how many buckets went."""
        ...


class ServerCatalog(Protocol):
    """The catalog as server protection sees it (`CatalogServers`, over `catalog.rpc`)."""

    async def servers(self, wanted: Collection[UUID]) -> Mapping[UUID, ServerView]:
        """The catalog's recent view of the servers (a few seconds old at most); a server left out is
        unknown to the catalog now (deleted), not merely to an older view."""
        ...

    async def pause(self, request: PauseServerRequest) -> ServerView | RpcError:
        """Ask the catalog to pause a server and wait for its answer."""
        ...

    async def report(self, report: ServerReputationReport) -> None:
        """Tell the catalog a server's rates; nobody waits for an answer."""
        ...


class FeedbackIntake(Protocol):
    """What every intake (the bounce mail endpoint, each vendor webhook) hands its feedback to."""

    async def take(self, feedback: Sequence[Feedback]) -> None:
        """Store `feedback`, match it to its messages and act on it; returns once all is durable.

        Idempotent: the same feedback taken twice (a retried webhook, a DSN sent twice) acts once."""
        ...


class FeedbackSteps(Protocol):
    """The steps of one `take` or re-classification, all in one transaction (`FeedbackStore.transaction`)."""

    async def store(self, feedback: Sequence[Feedback], *, raw_max_bytes: int) -> list[Report]: ...

    async def sent_messages(
        self, message_ids: Sequence[UUID], vendor_ids: Sequence[tuple[UUID, str]]
    ) -> tuple[dict[UUID, SentMessage], dict[tuple[UUID, str], SentMessage]]: ...

    async def record_matches(self, matches: Sequence[Match]) -> None: ...

    async def soft_bounce_counts(
        self, pairs: Sequence[tuple[UUID, str]], *, since: datetime
    ) -> dict[tuple[UUID, str], int]: ...

    async def suppress(self, suppressions: Sequence[Suppression], *, actor: str) -> list[Suppression]: ...

    async def unsuppress_caused_by(self, feedback_id: int, *, actor: str) -> list[Suppression]: ...

    async def publish(self, events: Sequence[tuple[int, StatusEvent]]) -> None: ...

    async def unmatched_since(self, since: datetime, *, after_id: int, limit: int) -> list[Report]: ...

    async def for_reclassification(
        self, feedback_id: int
    ) -> tuple[Report, SentMessage | None, str | None] | None: ...

    async def reclassify(
        self, feedback_id: int, new_class: FeedbackClass, *, by: str, note: str
    ) -> tuple[str, UUID | None]: ...

    async def clear_published_status(self, feedback_id: int) -> None: ...


class FeedbackStore(Protocol):
    """Feedback, its matches and what it causes (`PgFeedbackStore`)."""

    def transaction(self) -> AbstractAsyncContextManager[FeedbackSteps]: ...

    async def prune(self, before: datetime) -> int:
        """Delete the feedback received before `before` (sources and reports); returns how many sources."""
        ...


class SuppressionStore(Protocol):
    """The suppression lists (`PgSuppressionStore`); `tenant_id` None is the global list."""

    async def check(self, tenant_id: UUID, addresses: Sequence[str]) -> dict[str, str]: ...

    async def page(
        self,
        tenant_id: UUID | None,
        *,
        contains: str | None,
        source: str | None,
        after: str | None,
        limit: int,
    ) -> list[dict[str, Any]]: ...

    async def active(self, tenant_id: UUID | None, addresses: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    async def add(self, suppressions: Sequence[Suppression], *, actor: str) -> list[Suppression]: ...

    async def remove(self, tenant_id: UUID | None, address: str, *, actor: str) -> Suppression | None: ...


class SentMessageStore(Protocol):
    """The sent messages feedback is matched to (`PgSentMessages`)."""

    async def remember(self, events: Sequence[StatusEvent]) -> None:
        """Remember the messages of these `sent` events (again: no change)."""
        ...

    async def prune(self, before: datetime) -> int:
        """Forget the messages sent before `before`; returns how many."""
        ...


class WebhookServersUnavailable(Exception):
    """The catalog did not say which server a webhook names (unreachable, no answer in time)."""


class WebhookServers(Protocol):
    """The server a vendor webhook's URL names, with its webhook keys (`CatalogWebhookServers`)."""

    async def get(self, server_id: UUID) -> WebhookServer | None:
        """The server, None when there is no such server; raises `WebhookServersUnavailable`."""
        ...


class SnsFetchFailed(Exception):
    """A signing certificate or a subscription confirmation could not be fetched; says why."""


class SnsClient(Protocol):
    """What the SES webhook fetches from SNS over https (`SnsHttpClient`); URLs are checked before."""

    async def certificate(self, url: str) -> bytes:
        """The PEM signing certificate at `url` (cached); raises `SnsFetchFailed`."""
        ...

    async def confirm_subscription(self, url: str) -> None:
        """Visit a `SubscribeURL`, which confirms the subscription; raises `SnsFetchFailed`."""
        ...


class FeedbackViews(Protocol):
    """Feedback and the audit log as the API shows them (`PgFeedbackViews`)."""

    async def feedback_page(
        self,
        *,
        tenant_id: UUID | None,
        feedback_class: str | None,
        campaign_id: UUID | None,
        server_id: UUID | None,
        matched: bool | None,
        before: int | None,
        limit: int,
    ) -> list[dict[str, Any]]: ...

    async def feedback(self, feedback_id: int) -> dict[str, Any] | None: ...

    async def audit_page(self, *, before: int | None, limit: int) -> list[dict[str, Any]]: ...
