import random
from collections import Counter
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chisquare

from services.router.domain.selection import eligible_servers, pick_by_weight, stop_reason
from services.router.domain.view import RoutingView
from shared.contracts import (
    CatalogEvent,
    CatalogEventKind,
    CatalogSnapshot,
    PlanView,
    SendingPolicy,
    ServerState,
    ServerView,
    TenantView,
    WeightedServer,
)

TENANT = uuid4()
OTHER_TENANT = uuid4()


def server(state=ServerState.ACTIVE, tenant=TENANT, **kw) -> ServerView:
    return ServerView(
        id=kw.pop("id", uuid4()), tenant_id=tenant, name="s", type="smtp", vendor="smtp", state=state, **kw
    )


def view_with(*servers, plan_servers=(), plan_for=TENANT) -> RoutingView:
    plan = PlanView(id=uuid4(), name="p", server_ids=list(plan_servers))
    view = RoutingView()
    view.load(
        CatalogSnapshot(
            last_event_id=1,
            servers=list(servers),
            plans=[plan],
            tenants=[
                TenantView(id=plan_for, name="t", plan_id=plan.id),
                TenantView(id=OTHER_TENANT, name="o"),
            ],
        )
    )
    return view


def selection(*pairs) -> SendingPolicy:
    return SendingPolicy(
        campaign_id=uuid4(),
        tenant_id=TENANT,
        use_all=False,
        selection=[WeightedServer(server_id=s.id, weight=w) for s, w in pairs],
    )


def test_use_all_takes_own_and_plan_granted_servers_with_equal_weights():
    own, pool, foreign = server(), server(tenant=None), server(tenant=OTHER_TENANT)
    view = view_with(own, pool, foreign, plan_servers=[pool.id])
    candidates = eligible_servers(SendingPolicy(campaign_id=uuid4(), tenant_id=TENANT), view)
    assert candidates.weights == {own.id: 1.0, pool.id: 1.0}
    assert candidates.mode == "use_all"


def test_selection_excludes_inactive_disabled_paused_with_reasons():
    active, inactive, disabled, paused = (
        server(),
        server(ServerState.INACTIVE),
        server(ServerState.DISABLED),
        server(ServerState.PAUSED),
    )
    view = view_with(active, inactive, disabled, paused)
    candidates = eligible_servers(selection((active, 1), (inactive, 2), (disabled, 3), (paused, 4)), view)
    assert candidates.weights == {active.id: 1}
    reasons = {e.server_id: e.reason for e in candidates.excluded}
    assert reasons[inactive.id].startswith("inactive")
    assert reasons[disabled.id] == "disabled"
    assert reasons[paused.id] == "paused"


def test_selection_never_widens_to_servers_outside_it():
    selected = server(ServerState.INACTIVE)
    outside = server()
    view = view_with(selected, outside)
    candidates = eligible_servers(selection((selected, 1)), view)
    assert candidates.weights == {}
    assert stop_reason(candidates) == "every server in the campaign's selection is ineligible"


def test_selected_server_of_another_tenant_is_refused():
    foreign = server(tenant=OTHER_TENANT)
    view = view_with(foreign)
    candidates = eligible_servers(selection((foreign, 1)), view)
    assert candidates.weights == {}
    assert "not granted" in candidates.excluded[0].reason


def test_unknown_server_in_selection_is_named():
    ghost = server()
    candidates = eligible_servers(selection((ghost, 1)), view_with())
    assert candidates.excluded[0].server_id == ghost.id
    assert "unknown server" in candidates.excluded[0].reason


def test_weighted_pick_matches_weights_over_100k_picks():
    ids = [uuid4() for _ in range(3)]
    weights = dict(zip(ids, [1.0, 2.0, 7.0], strict=True))
    rng = random.Random(42)
    counts = Counter(pick_by_weight(weights, rng) for _ in range(100_000))
    observed = [counts[i] for i in ids]
    expected = [10_000, 20_000, 70_000]
    assert chisquare(observed, expected).pvalue > 0.001


def test_chi_square_would_catch_a_two_percent_skew():
    # The test above is only worth something if a 2% skew fails it.
    observed = [10_000 + 2_000, 20_000, 70_000 - 2_000]
    assert chisquare(observed, [10_000, 20_000, 70_000]).pvalue < 0.001


@given(st.lists(st.floats(min_value=0.01, max_value=100), min_size=1, max_size=8), st.integers(0, 2**32))
def test_pick_only_returns_candidates_and_prefers_not_avoided(weights, seed):
    ids = [uuid4() for _ in weights]
    table = dict(zip(ids, weights, strict=True))
    rng = random.Random(seed)
    avoid = frozenset(ids[:1])
    chosen = pick_by_weight(table, rng, avoid)
    assert chosen in table
    if len(ids) > 1:
        assert chosen not in avoid


def test_older_event_does_not_undo_newer_state():
    s = server(ServerState.INACTIVE)
    view = view_with(s)
    enabled = s.model_copy(update={"state": ServerState.ACTIVE})
    view.apply(CatalogEvent(event_id=5, kind=CatalogEventKind.SERVER_CHANGED, server=enabled))
    view.apply(CatalogEvent(event_id=3, kind=CatalogEventKind.SERVER_CHANGED, server=s))
    assert view.servers[s.id].state == ServerState.ACTIVE
    # A snapshot taken before event 5 does not undo it either.
    view.load(CatalogSnapshot(last_event_id=4, servers=[s], plans=[], tenants=[]))
    assert view.servers[s.id].state == ServerState.ACTIVE


def test_snapshot_forgets_deleted_servers():
    s = server()
    view = view_with(s)
    view.load(CatalogSnapshot(last_event_id=9, servers=[], plans=[], tenants=[]))
    assert s.id not in view.servers


@pytest.mark.parametrize("weight", [0, -1])
def test_weights_must_be_positive(weight):
    with pytest.raises(ValueError):
        WeightedServer(server_id=uuid4(), weight=weight)
