"""Checks on a campaign's server selection, the default policy, and what a managed pool allows."""

from uuid import uuid4

import pytest

from services.catalog.domain.plans import allows_own_servers
from services.catalog.domain.policies import check_narrowing_allowed, check_selection, default_policy, widened
from shared.contracts import PlanView, SendingPolicy, WeightedServer
from shared.errors import Forbidden, InvalidInput

MINE, GRANTED, FOREIGN = uuid4(), uuid4(), uuid4()
USABLE = {MINE, GRANTED}


def pick(*ids) -> list[WeightedServer]:
    return [WeightedServer(server_id=i, weight=1) for i in ids]


def test_usable_selections_pass():
    check_selection(False, pick(MINE, GRANTED), USABLE)
    check_selection(True, [], USABLE)


def test_an_empty_selection_needs_use_all():
    with pytest.raises(InvalidInput) as refused:
        check_selection(False, [], USABLE)
    assert [e.loc for e in refused.value.errors] == [("selection",)]


def test_each_unusable_or_repeated_server_is_named():
    with pytest.raises(InvalidInput) as refused:
        check_selection(False, pick(MINE, FOREIGN, MINE), USABLE)
    errors = refused.value.errors
    assert [e.loc for e in errors] == [("selection", 1, "server_id"), ("selection", 2, "server_id")]
    assert str(FOREIGN) in errors[0].message and "more than once" in errors[1].message


def test_unusable_servers_are_refused_even_with_use_all():
    with pytest.raises(InvalidInput):
        check_selection(True, pick(FOREIGN), USABLE)


def test_the_default_uses_every_server():
    campaign, tenant = uuid4(), uuid4()
    policy = default_policy(campaign, tenant)
    assert (policy.campaign_id, policy.tenant_id, policy.use_all, policy.selection, policy.version) == (
        campaign,
        tenant,
        True,
        [],
        0,
    )


def test_a_managed_pool_refuses_narrowing_but_not_using_all():
    managed = PlanView(id=uuid4(), name="Managed", allow_own_servers=False, managed_pool=True)
    check_narrowing_allowed(managed, use_all=True)
    check_narrowing_allowed(PlanView(id=uuid4(), name="Open"), use_all=False)
    check_narrowing_allowed(None, use_all=False)
    with pytest.raises(Forbidden, match="'Managed' is a managed pool: .* the selection cannot be narrowed"):
        check_narrowing_allowed(managed, use_all=False)


def test_widening_drops_the_selection():
    narrowed = SendingPolicy(
        campaign_id=uuid4(), tenant_id=uuid4(), use_all=False, selection=pick(MINE), version=3
    )
    assert widened(narrowed) == narrowed.model_copy(update={"use_all": True, "selection": []})


def test_a_managed_pool_never_allows_own_servers():
    assert allows_own_servers(managed_pool=True, allow_own_servers=None) is False
    assert allows_own_servers(managed_pool=False, allow_own_servers=None) is True
    assert allows_own_servers(managed_pool=False, allow_own_servers=False) is False
    with pytest.raises(InvalidInput) as refused:
        allows_own_servers(managed_pool=True, allow_own_servers=True)
    assert [e.loc for e in refused.value.errors] == [("allow_own_servers",)]
