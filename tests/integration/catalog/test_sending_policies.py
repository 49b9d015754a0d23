"""A campaign's sending policy: set by the tenant owning the campaign (as the scheduler says), over
servers it may use."""

from uuid import UUID, uuid4

from tests.integration.catalog.support import create_server, error_locs, unique


async def test_policy_defaults_to_use_all_then_stores_a_weighted_selection(operator, new_tenant, campaigns):
    pool = (await create_server(operator))["id"]
    plan = (await operator.post("/plans", json={"name": unique("plan"), "server_ids": [pool]})).json()
    tenant = await new_tenant(plan["id"])
    own = (await create_server(tenant.api))["id"]
    campaign = campaigns.new(tenant)
    path = f"/campaigns/{campaign}/sending-policy"

    default = await tenant.api.get(path)
    assert default.status_code == 200
    assert default.json() == {
        "campaign_id": campaign,
        "tenant_id": tenant.id,
        "use_all": True,
        "selection": [],
        "version": 0,
    }

    selection = [{"server_id": own, "weight": 3.0}, {"server_id": pool, "weight": 1.0}]
    stored = await tenant.api.put(path, json={"use_all": False, "selection": selection})
    assert stored.status_code == 200
    assert stored.json()["selection"] == selection
    assert (stored.json()["use_all"], stored.json()["version"]) == (False, 1)
    assert (await tenant.api.get(path)).json() == stored.json()

    back_to_all = await tenant.api.put(path, json={"use_all": True})
    assert (back_to_all.json()["use_all"], back_to_all.json()["version"]) == (True, 2)


async def test_policy_refuses_servers_the_tenant_may_not_use(operator, new_tenant, campaigns):
    not_granted = (await create_server(operator))["id"]
    alice = await new_tenant()
    bob = await new_tenant()
    alices = (await create_server(alice.api))["id"]
    bobs = (await create_server(bob.api))["id"]
    path = f"/campaigns/{campaigns.new(alice)}/sending-policy"

    def selecting(*ids: str) -> dict:
        return {"use_all": False, "selection": [{"server_id": i, "weight": 1} for i in ids]}

    foreign = await alice.api.put(path, json=selecting(alices, bobs))
    assert foreign.status_code == 422
    assert error_locs(foreign) == [["body", "selection", 1, "server_id"]]
    assert bobs in foreign.json()["detail"][0]["msg"]

    pool = await alice.api.put(path, json=selecting(not_granted))
    assert pool.status_code == 422 and not_granted in pool.json()["detail"][0]["msg"]

    empty = await alice.api.put(path, json={"use_all": False, "selection": []})
    assert empty.status_code == 422 and error_locs(empty) == [["body", "selection"]]

    twice = await alice.api.put(path, json=selecting(alices, alices))
    assert twice.status_code == 422 and error_locs(twice) == [["body", "selection", 1, "server_id"]]

    weightless = await alice.api.put(
        path, json={"use_all": False, "selection": [{"server_id": alices, "weight": 0}]}
    )
    assert weightless.status_code == 422
    assert error_locs(weightless) == [["body", "selection", 0, "weight"]]


async def test_only_the_campaigns_owner_or_the_operator_sets_its_policy(operator, new_tenant, campaigns):
    alice = await new_tenant()
    bob = await new_tenant()
    alices_campaign = campaigns.new(alice)
    path = f"/campaigns/{alices_campaign}/sending-policy"

    # Another tenant's campaign is as unknown as one that does not exist, set first or not.
    assert (await bob.api.put(path, json={"use_all": True})).status_code == 404
    assert (await bob.api.get(path)).status_code == 404
    assert (await alice.api.put(path, json={"use_all": True})).status_code == 200
    assert (await bob.api.put(path, json={"use_all": True})).status_code == 404
    assert (await alice.api.get(path)).json()["tenant_id"] == alice.id

    # The operator may set any campaign's policy; it stays the owner's, under the owner's rules.
    as_operator = await operator.put(path, json={"use_all": True})
    assert as_operator.status_code == 200 and as_operator.json()["tenant_id"] == alice.id
    assert (await operator.get(path)).json()["version"] == 2

    nobodys = f"/campaigns/{uuid4()}/sending-policy"
    for caller in (alice.api, operator):
        unknown = await caller.put(nobodys, json={"use_all": True})
        assert unknown.status_code == 404 and "not found" in unknown.json()["detail"]


async def test_a_managed_pool_tenant_cannot_narrow_a_campaign(operator, new_tenant, campaigns):
    pool = (await create_server(operator))["id"]
    plan = (
        await operator.post("/plans", json={"name": "Managed", "managed_pool": True, "server_ids": [pool]})
    ).json()
    tenant = await new_tenant(plan["id"])
    path = f"/campaigns/{campaigns.new(tenant)}/sending-policy"

    narrowed = await tenant.api.put(
        path, json={"use_all": False, "selection": [{"server_id": pool, "weight": 1}]}
    )

    assert narrowed.status_code == 403
    assert narrowed.json()["detail"] == (
        "your plan 'Managed' is a managed pool: campaigns send through all of its servers, "
        "and the selection cannot be narrowed"
    )
    assert (await tenant.api.put(path, json={"use_all": True})).status_code == 200


async def test_a_policy_is_not_stored_while_the_scheduler_cannot_confirm_the_owner(
    new_tenant, campaigns, bus
):
    tenant = await new_tenant()
    campaign = campaigns.new(tenant)
    campaigns.silent_about.add(UUID(campaign))
    path = f"/campaigns/{campaign}/sending-policy"

    refused = await tenant.api.put(path, json={"use_all": True})

    assert refused.status_code == 503
    assert "could not be verified with the scheduler" in refused.json()["detail"]
    assert not any(e.policy and str(e.policy.campaign_id) == campaign for e in bus.events)
    campaigns.silent_about.clear()
    assert (await tenant.api.get(path)).json()["version"] == 0
