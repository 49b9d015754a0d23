"""Feedback and the audit log as tenants and the operator see them.

A tenant sees only the feedback matched to its own messages; the operator sees all of it,
unmatched feedback included, and alone sees a source as received (it may name anyone) and the
audit log.
"""

from typing import Any
from uuid import UUID

from services.bounces.app.ports import FeedbackViews
from shared.errors import NotFound

PAGE_MAX = 500


class FeedbackReview:
    def __init__(self, views: FeedbackViews) -> None:
        self._views = views

    async def page(
        self,
        viewer: UUID | None,
        *,
        tenant_id: UUID | None = None,
        feedback_class: str | None = None,
        campaign_id: UUID | None = None,
        server_id: UUID | None = None,
        matched: bool | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """`viewer`: the tenant asking, None for the operator (who may filter by `tenant_id`)."""
        if viewer is not None:
            tenant_id, matched = viewer, True if matched is None else matched
            if not matched:
                return []  # a tenant never sees unmatched feedback
        return await self._views.feedback_page(
            tenant_id=tenant_id,
            feedback_class=feedback_class,
            campaign_id=campaign_id,
            server_id=server_id,
            matched=matched,
            before=before,
            limit=min(limit, PAGE_MAX),
        )

    async def get(self, viewer: UUID | None, feedback_id: int) -> dict[str, Any]:
        found = await self._views.feedback(feedback_id)
        if found is None or (viewer is not None and found["tenant_id"] != viewer):
            raise NotFound(f"no feedback {feedback_id}")
        return found

    async def audit(self, *, before: int | None, limit: int) -> list[dict[str, Any]]:
        return await self._views.audit_page(before=before, limit=min(limit, PAGE_MAX))
