"""A campaign's sending policy: every server the tenant may use, or a weighted selection of them."""

from collections.abc import Collection
from uuid import UUID

from shared.contracts import PlanView, SendingPolicy, WeightedServer
from shared.errors import FieldError, Forbidden, InvalidInput


def default_policy(campaign_id: UUID, tenant_id: UUID) -> SendingPolicy:
    return SendingPolicy(campaign_id=campaign_id, tenant_id=tenant_id, use_all=True, selection=[], version=0)


def check_selection(use_all: bool, selection: list[WeightedServer], usable_ids: Collection[UUID]) -> None:
    """Refuse a selection the tenant could not route through; each error names the offending entry."""
    errors: list[FieldError] = []
    if not use_all and not selection:
        errors.append(FieldError(("selection",), "name at least one server when use_all is false"))
    seen: set[UUID] = set()
    for position, entry in enumerate(selection):
        loc = ("selection", position, "server_id")
        if entry.server_id in seen:
            errors.append(FieldError(loc, f"server {entry.server_id} is listed more than once"))
        elif entry.server_id not in usable_ids:
            errors.append(
                FieldError(
                    loc, f"server {entry.server_id} is not one of your servers or granted by your plan"
                )
            )
        seen.add(entry.server_id)
    if errors:
        raise InvalidInput(*errors)


def check_narrowing_allowed(plan: PlanView | None, use_all: bool) -> None:
    """On a managed pool the operator decides where mail goes: a campaign uses every granted server."""
    if not use_all and plan is not None and plan.managed_pool:
        raise Forbidden(
            f"your plan {plan.name!r} is a managed pool: campaigns send through all of its servers, "
            "and the selection cannot be narrowed"
        )


def widened(policy: SendingPolicy) -> SendingPolicy:
    """The policy sending through every server the tenant may use, as a managed pool requires."""
    return policy.model_copy(update={"use_all": True, "selection": []})
