"""Who sees and changes which server, and whether a plan lets a tenant add one of its own."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from services.catalog.domain.access import (
    OPERATOR,
    Actor,
    Visibility,
    own_server_refusal,
    require_managed,
    visibility,
)
from services.catalog.domain.servers import new_server
from shared.contracts import PlanView, SendingLimits
from shared.errors import Forbidden, NotFound

ALICE, BOB = Actor(uuid4()), Actor(uuid4())


def server_of(owner: Actor | None):
    return new_server(
        tenant_id=owner.tenant_id if owner else None,
        name="s",
        type="smtp",
        vendor="smtp",
        settings={},
        sealed_secrets="",
        limits=SendingLimits(),
        now=datetime.now(UTC),
    )


def test_visibility_of_own_granted_and_other_servers():
    pool, granted, alices = server_of(None), server_of(None), server_of(ALICE)
    grants = {granted.id}
    assert visibility(ALICE, alices, grants) is Visibility.MANAGED
    assert visibility(ALICE, granted, grants) is Visibility.SHARED
    assert visibility(ALICE, pool, grants) is Visibility.HIDDEN
    assert visibility(BOB, alices, grants) is Visibility.HIDDEN
    assert all(visibility(OPERATOR, s, set()) is Visibility.MANAGED for s in (pool, granted, alices))


def test_a_tenant_owned_server_is_never_shared_even_if_listed_as_granted():
    alices = server_of(ALICE)
    assert visibility(BOB, alices, {alices.id}) is Visibility.HIDDEN


def test_changing_a_hidden_server_is_not_found_and_a_shared_one_forbidden():
    granted, alices = server_of(None), server_of(ALICE)
    with pytest.raises(NotFound):
        require_managed(BOB, alices, set(), alices.id)
    with pytest.raises(NotFound):
        require_managed(BOB, None, set(), uuid4())
    with pytest.raises(Forbidden, match="only the operator"):
        require_managed(BOB, granted, {granted.id}, granted.id)
    assert require_managed(ALICE, alices, set(), alices.id) is alices


def plan(**fields) -> PlanView:
    return PlanView(id=uuid4(), name="Basic", **fields)


def test_own_servers_follow_the_plan():
    assert own_server_refusal(None, 50) is None
    assert own_server_refusal(plan(), 50) is None
    assert "does not allow" in own_server_refusal(plan(allow_own_servers=False), 0)
    assert own_server_refusal(plan(server_quota=2), 1) is None
    assert "allows 2 server(s) of your own and you have 2" in own_server_refusal(plan(server_quota=2), 2)
    assert own_server_refusal(plan(server_quota=0), 0) is not None


def test_the_platforms_cap_on_servers_per_tenant_holds_under_every_plan():
    assert own_server_refusal(None, 2, servers_max=3) is None
    for tenants_plan in (None, plan(), plan(server_quota=10)):
        refusal = own_server_refusal(tenants_plan, 3, servers_max=3)
        assert refusal is not None and "at most 3 server(s) of its own and you have 3" in refusal
    managed = plan(allow_own_servers=False, managed_pool=True)
    assert "'Basic' is a managed pool: the operator chooses its servers" in own_server_refusal(managed, 0)
