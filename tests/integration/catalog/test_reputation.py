"""The bounces service's `ServerReputationReport` on `catalog.rpc`: kept beside the server, shown in
`GET /servers`, `GET /servers/{id}`, the summaries and the pool view, never a change of the server."""

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from shared.contracts import (
    CatalogEventKind,
    PauseServerRequest,
    ServerReputation,
    ServerReputationReport,
    ServerState,
    ServerView,
    SnapshotRequest,
)
from shared.topology import CATALOG_RPC_QUEUE_NAME
from tests.integration.catalog.support import all_servers, create_server, eventually, unique
from tests.support.waiting import eventually_async


async def enabled(api, **fields) -> dict:
    server = await create_server(api, **fields)
    assert (await api.post(f"/servers/{server['id']}/test")).json()["ok"] is True
    return (await api.post(f"/servers/{server['id']}/enable")).json()


def reputation(
    sent: int, bounced: int, complained: int = 0, *, at: datetime | None = None
) -> ServerReputation:
    return ServerReputation(
        window_hours=24,
        sent=sent,
        bounced=bounced,
        complained=complained,
        bounce_rate=bounced / sent if sent else None,
        complaint_rate=complained / sent if sent else None,
        measured_at=at or datetime.now(UTC),
    )


async def report(bus, server_id, rep: ServerReputation) -> None:
    """As the bounces service sends it: no reply-to, nobody waits."""
    await bus.broker.publish(
        ServerReputationReport(server_id=server_id, reputation=rep).model_dump_json().encode(),
        queue=CATALOG_RPC_QUEUE_NAME,
        content_type="application/json",
    )


async def shown(api, server_id: str, sent: int) -> dict:
    async def reported() -> dict | None:
        body = (await api.get(f"/servers/{server_id}")).json()
        return body if body["reputation"] and body["reputation"]["sent"] == sent else None

    return await eventually_async(
        reported, timeout_seconds=10, interval_seconds=0.05, what="the reputation shown"
    )


async def test_a_report_is_shown_with_the_server_and_bumps_no_version_nor_event(operator, probe_worker, bus):
    server = await enabled(operator)
    assert server["reputation"] is None, "nothing reported yet"

    await report(bus, server["id"], reputation(400, 8, 1))
    body = await shown(operator, server["id"], 400)

    assert body["reputation"] | {"measured_at": None} == {
        "window_hours": 24,
        "sent": 400,
        "bounced": 8,
        "complained": 1,
        "bounce_rate": 0.02,
        "complaint_rate": 0.0025,
        "measured_at": None,
    }
    assert (body["version"], body["updated_at"]) == (server["version"], server["updated_at"])
    listed = next(s for s in await all_servers(operator, q=server["name"]) if s["id"] == server["id"])
    assert listed["reputation"] == body["reputation"]
    snapshot = await bus.ask(SnapshotRequest())
    assert snapshot is not None
    in_snapshot = next(ServerView.model_validate(s) for s in snapshot["servers"] if s["id"] == server["id"])
    assert in_snapshot.reputation is not None and in_snapshot.reputation.sent == 400
    await eventually(lambda: any(e.server and str(e.server.id) == server["id"] for e in bus.events))
    assert [e.server.version for e in bus.events if e.server and str(e.server.id) == server["id"]][
        -1
    ] == server["version"], "the last event about the server is its enabling"


async def test_an_older_report_never_replaces_a_newer_one(operator, probe_worker, bus):
    server = await enabled(operator)
    now = datetime.now(UTC)
    await report(bus, server["id"], reputation(500, 5, at=now))
    await shown(operator, server["id"], 500)

    # Two bounces replicas: the one that measured earlier is heard last.
    await report(bus, server["id"], reputation(300, 3, at=now - timedelta(seconds=30)))
    await report(bus, server["id"], reputation(600, 6, at=now + timedelta(seconds=1)))
    await shown(operator, server["id"], 600)
    assert (await operator.get(f"/servers/{server['id']}")).json()["reputation"]["sent"] == 600


async def test_reports_about_unknown_servers_or_malformed_ones_change_nothing(operator, probe_worker, bus):
    await report(bus, uuid4(), reputation(100, 100))
    for hostile in (
        {"kind": "server_reputation", "server_id": str(uuid4()), "reputation": {"sent": -1}},
        {"kind": "server_reputation", "server_id": "not-a-uuid", "reputation": reputation(1, 0).model_dump()},
    ):
        await bus.broker.publish(
            json.dumps(hostile, default=str).encode(),
            queue=CATALOG_RPC_QUEUE_NAME,
            content_type="application/json",
        )
    # The catalog keeps answering, and a report behind those is still taken.
    server = await enabled(operator)
    await report(bus, server["id"], reputation(250, 1))
    await shown(operator, server["id"], 250)


async def test_the_pool_and_the_summaries_show_the_worst_rates_and_the_servers_over_their_limits(
    operator, new_tenant, probe_worker, bus
):
    tenant = await new_tenant()
    limits = {"max_bounce_rate": 0.05, "max_complaint_rate": 0.001, "min_volume": 200}
    bad = await enabled(tenant.api, name=unique("bad"), bounce_handling=limits)
    fine = await enabled(tenant.api, name=unique("fine"), bounce_handling=limits)
    young = await enabled(tenant.api, name=unique("young"), bounce_handling=limits)
    await report(bus, bad["id"], reputation(1000, 90, 2))  # 9 % bounces, 0.2 % complaints
    await report(bus, fine["id"], reputation(1000, 50, 1))  # exactly at both limits: within them
    await report(bus, young["id"], reputation(10, 10))  # 100 %, but fewer than min_volume sent
    await shown(tenant.api, young["id"], 10)
    await shown(tenant.api, bad["id"], 1000)
    await shown(tenant.api, fine["id"], 1000)

    summary = (await tenant.api.get("/servers/summary")).json()["reputation"]
    assert summary["reported"] == 3
    assert [(s["server_id"], s["over_limits"]) for s in summary["over_limits"]] == [
        (bad["id"], ["bounce", "complaint"])
    ]
    assert summary["worst_bounce"]["server_id"] == bad["id"], (
        "not the young server: its rate does not count yet"
    )
    assert summary["worst_bounce"]["bounce_rate"] == 0.09
    assert summary["worst_complaint"]["server_id"] == bad["id"]

    pool = (await operator.get("/pool")).json()["summary"]["reputation"]
    over = {s["server_id"]: s for s in pool["over_limits"]}
    assert bad["id"] in over and fine["id"] not in over and young["id"] not in over
    assert over[bad["id"]] | {"measured_at": None} == {
        "server_id": bad["id"],
        "name": bad["name"],
        "state": "active",
        "window_hours": 24,
        "sent": 1000,
        "bounced": 90,
        "complained": 2,
        "bounce_rate": 0.09,
        "complaint_rate": 0.002,
        "over_limits": ["bounce", "complaint"],
        "measured_at": None,
    }
    assert pool["worst_bounce"]["bounce_rate"] >= 0.09 and pool["reported"] >= 3


async def test_a_pause_on_request_is_an_event_with_the_reason_and_the_rates(operator, probe_worker, bus):
    server = await enabled(operator)
    await report(bus, server["id"], reputation(500, 36))
    await shown(operator, server["id"], 500)
    reason = "bounce rate 7.2 % over the last 24 h (36 of 500 sent) is above this server's 5 % limit"

    reply = ServerView.model_validate(
        await bus.ask(PauseServerRequest(server_id=server["id"], reason=reason))
    )

    assert (reply.state, reply.pause_reason) == (ServerState.PAUSED, reason)
    await eventually(
        lambda: any(
            e.server and str(e.server.id) == server["id"] and e.server.version == reply.version
            for e in bus.events
        )
    )
    event = next(
        e
        for e in bus.events
        if e.server and str(e.server.id) == server["id"] and e.server.version == reply.version
    )
    assert event.kind is CatalogEventKind.SERVER_CHANGED
    assert event.server is not None and (event.server.state, event.server.pause_reason) == (
        ServerState.PAUSED,
        reason,
    )
    assert event.server.reputation is not None and event.server.reputation.bounced == 36
    body = (await operator.get(f"/servers/{server['id']}")).json()
    assert (body["pause"]["reason"], body["pause"]["by"], body["reputation"]["bounced"]) == (
        reason,
        "bounces",
        36,
    )


async def test_a_deleted_server_takes_its_reputation_with_it(operator, probe_worker, bus):
    server = await enabled(operator)
    await report(bus, server["id"], reputation(222, 2))
    await shown(operator, server["id"], 222)

    assert (await operator.delete(f"/servers/{server['id']}")).status_code == 204
    await report(bus, server["id"], reputation(333, 3))  # late: the server is gone, nothing is kept
    fresh = await enabled(operator)
    await report(bus, fresh["id"], reputation(444, 4))
    await shown(operator, fresh["id"], 444)  # the report behind the late one was taken: it was not stuck
    assert (await operator.get(f"/servers/{server['id']}")).status_code == 404
