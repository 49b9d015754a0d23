"""Deleting a server: who may, what goes with it, and what the other services hear."""

import asyncio
from uuid import UUID, uuid4

import asyncpg

from shared.contracts import (
    CatalogEventKind,
    CatalogSnapshot,
    RpcError,
    ServerSettingsRequest,
    SnapshotRequest,
)
from tests.integration.catalog.support import all_servers, create_server, eventually, unique


def deleted_event(bus, server_id: str):
    found = [
        e for e in bus.events if e.kind is CatalogEventKind.SERVER_DELETED and str(e.deleted_id) == server_id
    ]
    return found[0] if found else None


async def test_the_owner_deletes_its_server_and_it_is_gone(operator, new_tenant, bus):
    plan = (await operator.post("/plans", json={"name": unique("plan"), "server_quota": 1})).json()
    tenant = await new_tenant(plan["id"])
    server = await create_server(tenant.api)
    path = f"/servers/{server['id']}"

    deleted = await tenant.api.delete(path)

    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await tenant.api.get(path)).status_code == 404
    assert (await operator.get(path)).status_code == 404
    assert server["id"] not in {s["id"] for s in await all_servers(tenant.api)}
    assert (await tenant.api.delete(path)).status_code == 404
    settings = RpcError.model_validate(await bus.ask(ServerSettingsRequest(server_id=server["id"])))
    assert settings.error == f"server {server['id']} not found", "its secrets went with it"
    await create_server(tenant.api)  # the plan allows one server of its own: the deleted one no longer counts

    await eventually(lambda: deleted_event(bus, server["id"]) is not None)
    event = deleted_event(bus, server["id"])
    assert (event.server, event.plan) == (None, None)


async def test_a_tenant_may_delete_only_its_own_servers(operator, new_tenant):
    granted = await create_server(operator)
    plan = (
        await operator.post("/plans", json={"name": unique("plan"), "server_ids": [granted["id"]]})
    ).json()
    managed = (
        await operator.post(
            "/plans", json={"name": unique("plan"), "server_ids": [granted["id"]], "managed_pool": True}
        )
    ).json()
    alice = await new_tenant(plan["id"])
    carol = await new_tenant(managed["id"])
    bob = await new_tenant()
    bobs = await create_server(bob.api)
    hidden_pool = await create_server(operator)

    for tenant in (alice, carol):
        shared = await tenant.api.delete(f"/servers/{granted['id']}")
        assert shared.status_code == 403
        assert "only the operator can change it" in shared.json()["detail"]
    assert (await alice.api.delete(f"/servers/{bobs['id']}")).status_code == 404
    assert (await alice.api.delete(f"/servers/{hidden_pool['id']}")).status_code == 404
    assert (await alice.api.delete(f"/servers/{uuid4()}")).status_code == 404
    assert (await operator.get(f"/servers/{granted['id']}")).status_code == 200
    assert (await bob.api.get(f"/servers/{bobs['id']}")).status_code == 200

    assert (await operator.delete(f"/servers/{bobs['id']}")).status_code == 204, "the operator may"
    assert (await bob.api.get(f"/servers/{bobs['id']}")).status_code == 404
    assert (await operator.delete(f"/servers/{uuid4()}")).status_code == 404


async def test_a_deleted_pool_server_leaves_its_plans_and_the_snapshot(operator, new_tenant, bus, campaigns):
    gone, kept = await create_server(operator), await create_server(operator)
    both = (
        await operator.post("/plans", json={"name": unique("plan"), "server_ids": [gone["id"], kept["id"]]})
    ).json()
    only_gone = (
        await operator.post("/plans", json={"name": unique("plan"), "server_ids": [gone["id"]]})
    ).json()
    only_kept = (
        await operator.post("/plans", json={"name": unique("plan"), "server_ids": [kept["id"]]})
    ).json()
    tenant = await new_tenant(both["id"])
    campaign = campaigns.new(tenant)
    narrowed = {"use_all": False, "selection": [{"server_id": gone["id"], "weight": 1}]}
    assert (await tenant.api.put(f"/campaigns/{campaign}/sending-policy", json=narrowed)).status_code == 200
    # Events arrive in order: once the last one of the set-up is in, so are the plans' own.
    await eventually(lambda: any(e.policy and str(e.policy.campaign_id) == campaign for e in bus.events))
    before = len(bus.events)

    assert (await operator.delete(f"/servers/{gone['id']}")).status_code == 204

    plans = {p["id"]: p["server_ids"] for p in (await operator.get("/plans")).json()}
    assert (plans[both["id"]], plans[only_gone["id"]], plans[only_kept["id"]]) == (
        [kept["id"]],
        [],
        [kept["id"]],
    )
    await eventually(
        lambda: sum(1 for e in bus.events[before:] if e.plan and str(e.plan.id) == only_gone["id"])
    )
    ours = [
        e
        for e in bus.events[before:]
        if str(e.deleted_id) == gone["id"]
        or (e.plan and str(e.plan.id) in {both["id"], only_gone["id"], only_kept["id"]})
    ]
    assert [(e.kind, e.deleted_id or e.plan.id) for e in ours] == [
        (CatalogEventKind.SERVER_DELETED, UUID(gone["id"])),
        (CatalogEventKind.PLAN_CHANGED, UUID(both["id"])),
        (CatalogEventKind.PLAN_CHANGED, UUID(only_gone["id"])),
    ]
    assert [[str(i) for i in e.plan.server_ids] for e in ours[1:]] == [[kept["id"]], []]

    snapshot = CatalogSnapshot.model_validate(await bus.ask(SnapshotRequest()))
    assert gone["id"] not in {str(s.id) for s in snapshot.servers}
    assert kept["id"] in {str(s.id) for s in snapshot.servers}
    assert all(UUID(gone["id"]) not in p.server_ids for p in snapshot.plans)
    assert snapshot.last_event_id >= ours[-1].event_id

    policy = (await tenant.api.get(f"/campaigns/{campaign}/sending-policy")).json()
    assert (policy["use_all"], policy["selection"]) == (False, narrowed["selection"]), "never widened"


async def test_granting_a_server_that_is_being_deleted_names_it_instead_of_failing(operator, database_url):
    server = (await create_server(operator))["id"]
    plan = (await operator.post("/plans", json={"name": unique("plan")})).json()
    deleting = await asyncpg.connect(database_url)
    try:
        transaction = deleting.transaction()
        await transaction.start()
        await deleting.execute("DELETE FROM catalog.servers WHERE id = $1", UUID(server))  # not committed yet
        grant = asyncio.create_task(
            operator.put(f"/plans/{plan['id']}/servers", json={"server_ids": [server]})
        )
        await asyncio.sleep(0.5)
        assert not grant.done(), "the grant waits for the deletion to end"
        await transaction.commit()
        granted = await grant
    finally:
        await deleting.close()

    assert granted.status_code == 422, granted.text
    assert granted.json()["detail"][0]["loc"] == ["body", "server_ids", 0]
    assert "not found" in granted.json()["detail"][0]["msg"]
