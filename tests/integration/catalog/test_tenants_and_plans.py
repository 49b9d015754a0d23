"""Operator endpoints: tenants, their tokens, plans; and who may call them."""

from uuid import uuid4

from tests.integration.catalog.support import create_server, error_locs, eventually, unique


async def test_operator_creates_lists_and_moves_tenants(operator, anonymous):
    plan = (await operator.post("/plans", json={"name": unique("plan")})).json()

    created = await operator.post("/tenants", json={"name": "Acme", "plan_id": plan["id"]})
    assert created.status_code == 201
    tenant = created.json()
    assert tenant["name"] == "Acme" and tenant["plan_id"] == plan["id"]
    assert tenant["token"].startswith("spt_")

    listed = (await operator.get("/tenants")).json()
    assert {"id": tenant["id"], "name": "Acme", "plan_id": plan["id"]} in listed
    assert all("token" not in row for row in listed)

    moved = await operator.patch(f"/tenants/{tenant['id']}", json={"plan_id": None})
    assert moved.status_code == 200 and moved.json()["plan_id"] is None

    token = await operator.post(f"/tenants/{tenant['id']}/tokens")
    assert token.status_code == 201
    further = token.json()["token"]
    assert further != tenant["token"]
    as_tenant = await anonymous.get("/servers", headers={"Authorization": f"Bearer {further}"})
    assert as_tenant.status_code == 200


async def test_tenant_refers_to_missing_plan_or_tenant(operator):
    missing = str(uuid4())

    no_plan = await operator.post("/tenants", json={"name": "x", "plan_id": missing})
    assert no_plan.status_code == 422
    assert error_locs(no_plan) == [["body", "plan_id"]]

    assert (await operator.patch(f"/tenants/{missing}", json={"plan_id": None})).status_code == 404
    no_tenant = await operator.post(f"/tenants/{missing}/tokens")
    assert no_tenant.status_code == 404
    assert missing in no_tenant.json()["detail"]

    assert (await operator.post("/tenants", json={"name": ""})).status_code == 422


async def test_plans_grant_pool_servers_only(operator, new_tenant):
    pool_server = (await create_server(operator))["id"]
    created = await operator.post(
        "/plans",
        json={"name": "Basic", "allow_own_servers": False, "server_quota": 2, "server_ids": [pool_server]},
    )
    assert created.status_code == 201
    plan = created.json()
    assert plan["server_ids"] == [pool_server]
    assert (plan["allow_own_servers"], plan["server_quota"]) == (False, 2)

    tenant = await new_tenant()
    own = await create_server(tenant.api)
    refused = await operator.put(
        f"/plans/{plan['id']}/servers", json={"server_ids": [pool_server, own["id"]]}
    )
    assert refused.status_code == 422
    assert error_locs(refused) == [["body", "server_ids", 1]]
    assert "pool servers only" in refused.json()["detail"][0]["msg"]

    another = (await create_server(operator))["id"]
    granted = await operator.put(f"/plans/{plan['id']}/servers", json={"server_ids": [another, pool_server]})
    assert granted.status_code == 200
    assert granted.json()["server_ids"] == [another, pool_server]

    listed = {row["id"]: row for row in (await operator.get("/plans")).json()}
    assert listed[plan["id"]]["server_ids"] == [another, pool_server]

    assert (await operator.put(f"/plans/{uuid4()}/servers", json={"server_ids": []})).status_code == 404
    unknown = await operator.post("/plans", json={"name": "p", "server_ids": [str(uuid4())]})
    assert unknown.status_code == 422 and error_locs(unknown) == [["body", "server_ids", 0]]


async def test_operator_endpoints_refuse_tenants_and_anonymous_callers(operator, anonymous, new_tenant):
    tenant = await new_tenant()
    for method, path in [
        ("POST", "/tenants"),
        ("GET", "/tenants"),
        ("PATCH", f"/tenants/{tenant.id}"),
        ("POST", f"/tenants/{tenant.id}/tokens"),
        ("POST", "/plans"),
        ("GET", "/plans"),
        ("PUT", f"/plans/{uuid4()}/servers"),
        ("GET", f"/plans/{uuid4()}"),
        ("PATCH", f"/plans/{uuid4()}"),
    ]:
        as_tenant = await tenant.api.request(method, path, json={})
        assert as_tenant.status_code == 403, (method, path)
        assert "operator" in as_tenant.json()["detail"]
        assert (await anonymous.request(method, path, json={})).status_code == 401, (method, path)

    forged = await anonymous.get("/servers", headers={"Authorization": f"Bearer spt_{tenant.id}.abc.0000"})
    assert forged.status_code == 401


async def test_a_managed_pool_is_the_operators_choice(operator, new_tenant, bus):
    pool_server = (await create_server(operator))["id"]
    created = await operator.post(
        "/plans", json={"name": "Managed", "managed_pool": True, "server_ids": [pool_server]}
    )
    assert created.status_code == 201
    plan = created.json()
    assert (plan["managed_pool"], plan["allow_own_servers"]) == (True, False)
    tenant = await new_tenant(plan["id"])

    listed = await tenant.api.get("/servers")
    assert [(row["id"], row["shared"]) for row in listed.json()["items"]] == [(pool_server, True)]
    assert (await tenant.api.patch(f"/servers/{pool_server}", json={"name": "mine"})).status_code == 403
    own = await tenant.api.post(
        "/servers", json={"name": "own", "type": "smtp", "settings": {"host": "mx.example"}}
    )
    assert own.status_code == 403
    assert "'Managed' is a managed pool: the operator chooses its servers" in own.json()["detail"]

    contradiction = await operator.post(
        "/plans", json={"name": "x", "managed_pool": True, "allow_own_servers": True}
    )
    assert contradiction.status_code == 422 and error_locs(contradiction) == [["body", "allow_own_servers"]]
    await eventually(
        lambda: any(e.plan and str(e.plan.id) == plan["id"] and e.plan.managed_pool for e in bus.events)
    )


async def test_moving_a_tenant_onto_a_managed_pool_widens_its_narrowed_campaigns(
    operator, new_tenant, bus, campaigns
):
    tenant = await new_tenant()
    own = (await create_server(tenant.api))["id"]
    narrowed, open_ = campaigns.new(tenant), campaigns.new(tenant)
    await tenant.api.put(
        f"/campaigns/{narrowed}/sending-policy",
        json={"use_all": False, "selection": [{"server_id": own, "weight": 1}]},
    )
    await tenant.api.put(f"/campaigns/{open_}/sending-policy", json={"use_all": True})
    managed = (await operator.post("/plans", json={"name": unique("managed"), "managed_pool": True})).json()

    await operator.patch(f"/tenants/{tenant.id}", json={"plan_id": managed["id"]})

    widened = (await tenant.api.get(f"/campaigns/{narrowed}/sending-policy")).json()
    assert (widened["use_all"], widened["selection"], widened["version"]) == (True, [], 2)
    assert (await tenant.api.get(f"/campaigns/{open_}/sending-policy")).json()["version"] == 1
    await eventually(
        lambda: any(
            e.policy and str(e.policy.campaign_id) == narrowed and e.policy.version == 2 for e in bus.events
        )
    )


async def test_operator_reads_and_changes_a_plan(operator, new_tenant, bus):
    plan = (await operator.post("/plans", json={"name": unique("plan"), "server_quota": 1})).json()
    assert (await operator.get(f"/plans/{plan['id']}")).json() == plan
    assert (await operator.get(f"/plans/{uuid4()}")).status_code == 404
    assert (await operator.patch(f"/plans/{uuid4()}", json={"name": "x"})).status_code == 404

    tenant = await new_tenant(plan["id"])
    await create_server(tenant.api)
    refused = await tenant.api.post(
        "/servers", json={"name": "second", "type": "smtp", "settings": {"host": "mx.example"}}
    )
    assert refused.status_code == 403, "the quota of 1 is reached"

    changed = await operator.patch(f"/plans/{plan['id']}", json={"name": "Bigger", "server_quota": None})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["server_quota"]) == ("Bigger", None)
    assert changed.json()["allow_own_servers"] is True, "fields left out stay as they are"
    second = await tenant.api.post(
        "/servers", json={"name": "second", "type": "smtp", "settings": {"host": "mx.example"}}
    )
    assert second.status_code == 201, "no limit any more"
    await eventually(
        lambda: any(e.plan and str(e.plan.id) == plan["id"] and e.plan.name == "Bigger" for e in bus.events)
    )

    for body, loc in [
        ({"name": None}, "name"),
        ({"server_quota": -1}, "server_quota"),
        ({"managed_pool": True, "allow_own_servers": True}, "allow_own_servers"),
        ({"colour": "red"}, "colour"),
    ]:
        bad = await operator.patch(f"/plans/{plan['id']}", json=body)
        assert bad.status_code == 422 and error_locs(bad) == [["body", loc]], (body, bad.text)


async def test_turning_a_plan_into_a_managed_pool_widens_its_tenants_narrowed_campaigns(
    operator, new_tenant, campaigns
):
    plan = (await operator.post("/plans", json={"name": unique("plan")})).json()
    tenant = await new_tenant(plan["id"])
    own = (await create_server(tenant.api))["id"]
    narrowed = campaigns.new(tenant)
    await tenant.api.put(
        f"/campaigns/{narrowed}/sending-policy",
        json={"use_all": False, "selection": [{"server_id": own, "weight": 1}]},
    )

    managed = await operator.patch(f"/plans/{plan['id']}", json={"managed_pool": True})

    assert (managed.json()["managed_pool"], managed.json()["allow_own_servers"]) == (True, False)
    widened = (await tenant.api.get(f"/campaigns/{narrowed}/sending-policy")).json()
    assert (widened["use_all"], widened["selection"]) == (True, [])
