"""Pausing and resuming a server, by its owner over HTTP or by another service over `catalog.rpc`."""

from uuid import uuid4

from shared.contracts import PauseServerRequest, RpcError, ServerState, ServerView
from tests.integration.catalog.support import create_server, error_locs, eventually, unique


async def enabled(api, **fields) -> dict:
    server = await create_server(api, **fields)
    assert (await api.post(f"/servers/{server['id']}/test")).json()["ok"] is True
    return (await api.post(f"/servers/{server['id']}/enable")).json()


async def test_the_owner_pauses_and_resumes_with_a_reason(new_tenant, probe_worker, bus):
    tenant = await new_tenant()
    server = await enabled(tenant.api)
    path = f"/servers/{server['id']}"

    paused = await tenant.api.post(f"{path}/pause", json={"reason": "IP listed on a blocklist"})

    assert paused.status_code == 200
    body = paused.json()
    assert body["state"] == "paused"
    assert (body["pause"]["reason"], body["pause"]["by"]) == ("IP listed on a blocklist", "tenant")
    assert (await tenant.api.get(path)).json()["pause"] == body["pause"]

    enabling = await tenant.api.post(f"{path}/enable")
    assert (
        enabling.status_code == 409
        and "is paused (IP listed on a blocklist); resume it" in enabling.json()["detail"]
    )
    again = await tenant.api.post(f"{path}/pause", json={"reason": "another"})
    assert again.json()["pause"]["reason"] == "IP listed on a blocklist", "the first reason stays"

    resumed = await tenant.api.post(f"{path}/resume")
    assert (resumed.json()["state"], resumed.json()["pause"]) == ("active", None)

    await eventually(
        lambda: any(
            e.server and str(e.server.id) == server["id"] and e.server.version == resumed.json()["version"]
            for e in bus.events
        )
    )
    published = [e.server for e in bus.events if e.server and str(e.server.id) == server["id"]]
    assert [(s.state, s.pause_reason) for s in published[-2:]] == [
        (ServerState.PAUSED, "IP listed on a blocklist"),
        (ServerState.ACTIVE, None),
    ]


async def test_pause_and_resume_refuse_servers_in_the_wrong_state(operator, probe_worker):
    inactive = await create_server(operator)
    refused = await operator.post(f"/servers/{inactive['id']}/pause", json={"reason": "why"})
    assert refused.status_code == 409
    assert "is inactive: it sends nothing, so there is nothing to pause" in refused.json()["detail"]
    not_paused = await operator.post(f"/servers/{inactive['id']}/resume")
    assert not_paused.status_code == 409 and "not paused; enable it" in not_paused.json()["detail"]

    server = await enabled(operator)
    await operator.post(f"/servers/{server['id']}/pause", json={"reason": "why"})
    disabled = await operator.post(f"/servers/{server['id']}/disable")
    assert (disabled.json()["state"], disabled.json()["pause"]) == ("disabled", None)


async def test_a_pause_needs_a_reason_that_cannot_break_a_header(operator, probe_worker):
    server = await enabled(operator)
    path = f"/servers/{server['id']}/pause"

    assert error_locs(await operator.post(path, json={})) == [["body", "reason"]]
    assert error_locs(await operator.post(path, json={"reason": ""})) == [["body", "reason"]]
    injected = await operator.post(path, json={"reason": "ok\r\nX-Evil: 1"})
    assert (
        error_locs(injected) == [["body", "reason"]]
        and "CR, LF or NUL" in injected.json()["detail"][0]["msg"]
    )


async def test_only_the_owner_may_pause_a_server(operator, new_tenant, probe_worker):
    pool = await enabled(operator)
    plan = (await operator.post("/plans", json={"name": unique("plan"), "server_ids": [pool["id"]]})).json()
    alice = await new_tenant(plan["id"])
    bob = await new_tenant()
    bobs = await enabled(bob.api)

    shared = await alice.api.post(f"/servers/{pool['id']}/pause", json={"reason": "mine now"})
    assert shared.status_code == 403 and "only the operator can change it" in shared.json()["detail"]
    assert (await alice.api.post(f"/servers/{pool['id']}/resume")).status_code == 403
    assert (await alice.api.post(f"/servers/{bobs['id']}/pause", json={"reason": "x"})).status_code == 404
    assert (await alice.api.post(f"/servers/{bobs['id']}/resume")).status_code == 404

    by_operator = await operator.post(f"/servers/{bobs['id']}/pause", json={"reason": "abuse report"})
    assert by_operator.json()["pause"]["by"] == "operator"


async def test_another_service_pauses_a_server_over_rpc(operator, probe_worker, bus):
    server = await enabled(operator)

    reply = ServerView.model_validate(
        await bus.ask(PauseServerRequest(server_id=server["id"], reason="bounce rate 12% over 500 messages"))
    )

    assert (reply.state, reply.pause_reason) == (ServerState.PAUSED, "bounce rate 12% over 500 messages")
    pause = (await operator.get(f"/servers/{server['id']}")).json()["pause"]
    assert (pause["reason"], pause["by"]) == ("bounce rate 12% over 500 messages", "bounces")

    again = ServerView.model_validate(
        await bus.ask(PauseServerRequest(server_id=server["id"], reason="later"))
    )
    assert (again.version, again.pause_reason) == (reply.version, "bounce rate 12% over 500 messages")

    unknown = uuid4()
    assert RpcError.model_validate(
        await bus.ask(PauseServerRequest(server_id=unknown, reason="x"))
    ).error == (f"server {unknown} not found")
    inactive = await create_server(operator)
    refused = RpcError.model_validate(await bus.ask(PauseServerRequest(server_id=inactive["id"], reason="x")))
    assert "is inactive: it sends nothing" in refused.error
