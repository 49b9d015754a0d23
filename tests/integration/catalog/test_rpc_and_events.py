"""What other services get from the catalog: events from the outbox, in order, and replies on catalog.rpc."""

import asyncio
import json
from uuid import UUID, uuid4

from shared.contracts import (
    CatalogEvent,
    CatalogEventKind,
    CatalogSnapshot,
    PolicyRequest,
    RpcError,
    SendingPolicy,
    ServerSettingsReply,
    ServerSettingsRequest,
    SnapshotRequest,
)
from tests.integration.catalog.support import PASSWORD, create_server, eventually, unique
from tests.unit.catalog.dkim_keys import pem, rsa_key

DKIM_PEM = pem(rsa_key())


def subject_id(event: CatalogEvent) -> str:
    subject = event.server or event.plan or event.tenant
    return str(subject.id if subject else event.policy.campaign_id)


async def test_every_change_is_published_once_in_order(operator, new_tenant, bus, campaigns):
    before = len(bus.events)
    plan = (await operator.post("/plans", json={"name": unique("plan")})).json()
    tenant = await new_tenant(plan["id"])
    server = await create_server(tenant.api, name="s")
    await tenant.api.patch(f"/servers/{server['id']}", json={"name": "renamed"})
    await operator.put(f"/plans/{plan['id']}/servers", json={"server_ids": []})
    campaign = campaigns.new(tenant)
    await tenant.api.put(f"/campaigns/{campaign}/sending-policy", json={"use_all": True})
    await operator.patch(f"/tenants/{tenant.id}", json={"plan_id": None})

    # The last change's event: once it is in, every earlier one is too (they arrive in order).
    await eventually(
        lambda: any(
            e.tenant and str(e.tenant.id) == tenant.id and e.tenant.plan_id is None for e in bus.events
        )
    )
    ids = [event.event_id for event in bus.events]
    assert ids == sorted(set(ids)), "events arrive once each, in the order they were recorded"
    ours = [
        event
        for event in bus.events[before:]
        if subject_id(event) in {plan["id"], tenant.id, server["id"], campaign}
    ]
    assert [event.kind for event in ours] == [
        CatalogEventKind.PLAN_CHANGED,
        CatalogEventKind.TENANT_CHANGED,
        CatalogEventKind.SERVER_CHANGED,
        CatalogEventKind.SERVER_CHANGED,
        CatalogEventKind.PLAN_CHANGED,
        CatalogEventKind.POLICY_CHANGED,
        CatalogEventKind.TENANT_CHANGED,
    ]
    created, renamed = ours[2].server, ours[3].server
    assert (created.name, created.version, renamed.name, renamed.version) == ("s", 1, "renamed", 2)
    assert created.tenant_id == UUID(tenant.id)
    assert ours[5].policy.campaign_id == UUID(campaign)
    assert ours[6].tenant.plan_id is None


async def test_snapshot_holds_everything_a_consumer_needs(operator, new_tenant, bus, probe_worker):
    pool = await create_server(
        operator,
        name="p",
        warmup={"kind": "table", "start_date": "2026-01-01", "table": [10, 20]},
        destination_rules=[{"domain": "gmail.com", "limits": {"per_hour": 100}}],
        identity={"from_domains": ["example.com"], "dkim_selector": "s1", "dkim_private_key": DKIM_PEM},
        bounce_handling={"max_complaint_rate": 0.002},
    )
    await operator.post(f"/servers/{pool['id']}/test")
    await operator.post(f"/servers/{pool['id']}/enable")
    await operator.post(f"/servers/{pool['id']}/pause", json={"reason": "maintenance"})
    plan = (
        await operator.post(
            "/plans", json={"name": unique("plan"), "server_ids": [pool["id"]], "managed_pool": True}
        )
    ).json()
    tenant = await new_tenant(plan["id"])
    await eventually(lambda: any(e.tenant and str(e.tenant.id) == tenant.id for e in bus.events))

    raw = await bus.ask(SnapshotRequest())
    snapshot = CatalogSnapshot.model_validate(raw)

    servers = {str(server.id): server for server in snapshot.servers}
    server = servers[pool["id"]]
    assert (server.state, server.vendor, server.pause_reason) == ("paused", "smtp", "maintenance")
    assert server.warmup.table == [10, 20] and server.destination_rules[0].domain == "gmail.com"
    assert (server.identity.from_domains, server.identity.dkim_selector) == (["example.com"], "s1")
    assert server.bounce_handling.max_complaint_rate == 0.002
    assert DKIM_PEM.splitlines()[3] not in json.dumps(raw), "never the key"
    plans = {str(p.id): p for p in snapshot.plans}
    assert [str(i) for i in plans[plan["id"]].server_ids] == [pool["id"]]
    assert plans[plan["id"]].managed_pool is True
    assert {str(t.id): str(t.plan_id) for t in snapshot.tenants}[tenant.id] == plan["id"]
    assert snapshot.last_event_id >= max(event.event_id for event in bus.events)


async def test_policy_request_answers_the_stored_policy_or_the_default(new_tenant, bus, campaigns):
    tenant = await new_tenant()
    server = await create_server(tenant.api, name="s")
    campaign = UUID(campaigns.new(tenant))
    await tenant.api.put(
        f"/campaigns/{campaign}/sending-policy",
        json={"use_all": False, "selection": [{"server_id": server["id"], "weight": 2}]},
    )

    stored = SendingPolicy.model_validate(
        await bus.ask(PolicyRequest(campaign_id=campaign, tenant_id=tenant.id))
    )
    assert (stored.use_all, stored.version, str(stored.selection[0].server_id)) == (False, 1, server["id"])

    unknown = uuid4()
    default = SendingPolicy.model_validate(
        await bus.ask(PolicyRequest(campaign_id=unknown, tenant_id=tenant.id))
    )
    assert (default.campaign_id, default.use_all, default.selection, default.version) == (
        unknown,
        True,
        [],
        0,
    )


async def test_server_settings_request_answers_decrypted_settings(operator, bus):
    server = await create_server(operator, name="s")

    reply = ServerSettingsReply.model_validate(await bus.ask(ServerSettingsRequest(server_id=server["id"])))

    assert (str(reply.server_id), reply.type, reply.vendor, reply.version) == (
        server["id"],
        "smtp",
        "smtp",
        1,
    )
    assert reply.settings.type_settings["password"] == PASSWORD
    assert reply.settings.type_settings["host"] == server["settings"]["host"]


async def test_a_request_for_an_unknown_server_is_answered_with_the_reason(bus):
    unknown = uuid4()

    reply = RpcError.model_validate(await bus.ask(ServerSettingsRequest(server_id=unknown)))

    assert reply.error == f"server {unknown} not found"


async def test_replies_are_delivered_without_errors_or_redeliveries(bus, catalog_log):
    # Only what this test caused: other tests of the shared catalog send it malformed messages on purpose.
    logged_before = len(catalog_log.read_text())
    for _ in range(3):
        await bus.ask(SnapshotRequest())
    await bus.ask(ServerSettingsRequest(server_id=uuid4()))
    await asyncio.sleep(0.3)  # a failed reply would be logged just after it was sent

    log = catalog_log.read_text()[logged_before:]
    assert "Traceback" not in log
    assert "dead-lettered" not in log
