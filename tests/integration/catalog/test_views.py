"""Server listing with search, filters and pages; a tenant's summary; the operator's pool view."""

from datetime import UTC, datetime, timedelta

from tests.integration.catalog.support import (
    GOOD_HOST,
    all_servers,
    create_server,
    error_locs,
    smtp_settings,
    unique,
)

TODAY = datetime.now(UTC).date()


async def active_server(api, **fields) -> dict:
    """A server that passed its test (against the stand-in probe worker) and is enabled."""
    server = await create_server(api, **fields)
    assert (await api.post(f"/servers/{server['id']}/test")).json()["ok"] is True
    return (await api.post(f"/servers/{server['id']}/enable")).json()


async def test_search_filters_and_pages(operator, new_tenant, probe_worker):
    tag = unique("fleet")
    tenant = await new_tenant()
    alpha = await active_server(tenant.api, name=f"{tag} alpha")
    beta = await create_server(
        tenant.api, name=f"{tag} beta", settings=smtp_settings(host=f"{tag}.relay.example")
    )
    gamma = await create_server(tenant.api, name="gamma", type="sendgrid_api", settings={"api_key": "k"})
    await operator.post(f"/servers/{gamma['id']}/disable")
    await create_server(operator, name=f"{tag} pool server")  # the operator's, not the tenant's

    def ids(page) -> list[str]:
        return [row["id"] for row in page.json()["items"]]

    everything = await tenant.api.get("/servers")
    assert everything.json()["total"] == 3 and ids(everything) == [alpha["id"], beta["id"], gamma["id"]]

    by_name = await tenant.api.get("/servers", params={"q": tag.upper()})
    assert ids(by_name) == [alpha["id"], beta["id"]], "q matches names, whatever the case"
    by_host = await tenant.api.get("/servers", params={"q": f"{tag}.relay"})
    assert ids(by_host) == [beta["id"]], "q matches hosts"
    wildcard = await tenant.api.get("/servers", params={"q": "%"})
    assert wildcard.json()["total"] == 0, "LIKE wildcards in q are taken literally"

    assert ids(await tenant.api.get("/servers", params={"state": "active"})) == [alpha["id"]]
    assert ids(await tenant.api.get("/servers", params={"state": ["inactive", "disabled"]})) == [
        beta["id"],
        gamma["id"],
    ]
    assert ids(await tenant.api.get("/servers", params={"type": "sendgrid_api"})) == [gamma["id"]]
    assert ids(await tenant.api.get("/servers", params={"q": tag, "state": "paused"})) == []

    first = await tenant.api.get("/servers", params={"limit": 2})
    second = await tenant.api.get("/servers", params={"limit": 2, "offset": 2})
    assert (ids(first), first.json()["total"], first.json()["limit"]) == ([alpha["id"], beta["id"]], 3, 2)
    assert (ids(second), second.json()["total"], second.json()["offset"]) == ([gamma["id"]], 3, 2)

    pool_view = await operator.get("/servers", params={"q": tag})
    assert pool_view.json()["total"] == 3, "the operator finds every tenant's servers and the pool's"


async def test_bad_listing_parameters_name_the_parameter(operator):
    unknown_state = await operator.get("/servers", params={"state": "sleeping"})
    assert unknown_state.status_code == 422 and error_locs(unknown_state) == [["query", "state", 0]]
    unknown_type = await operator.get("/servers", params={"type": "carrier-pigeon"})
    assert unknown_type.status_code == 422 and error_locs(unknown_type) == [["query", "type"]]
    assert "carrier-pigeon" in unknown_type.json()["detail"][0]["msg"]
    assert error_locs(await operator.get("/servers", params={"limit": 0})) == [["query", "limit"]]
    assert error_locs(await operator.get("/servers", params={"offset": -1})) == [["query", "offset"]]


async def test_a_tenant_summary_counts_its_own_and_granted_servers(operator, new_tenant, probe_worker):
    granted = await active_server(operator, name=unique("pool"), limits={"per_minute": 100})
    plan = (
        await operator.post("/plans", json={"name": unique("plan"), "server_ids": [granted["id"]]})
    ).json()
    tenant = await new_tenant(plan["id"])
    warmup = {"kind": "linear", "start_date": str(TODAY - timedelta(days=2)), "start_volume": 100,
              "target_volume": 1000, "days": 10}  # fmt: skip
    warming = await active_server(tenant.api, warmup=warmup, limits={"per_hour": 5000})
    await active_server(tenant.api)  # no limits at all
    await create_server(tenant.api, type="sendgrid_api", settings={"api_key": "k"}, limits={"per_second": 50})
    other = await new_tenant()
    await active_server(other.api, limits={"per_hour": 1})

    summary = await tenant.api.get("/servers/summary")

    assert summary.status_code == 200
    assert summary.json() == {
        "counts": {"total": 4, "active": 3, "inactive": 1, "disabled": 0, "paused": 0},
        "vendors": {"sendgrid": 1, "smtp": 3},
        # 6000 (per minute 100) + 300 (day 3 of the ramp caps it below its 5000 an hour); one has no limit.
        "throughput": {"per_hour": 6300, "unlimited_servers": 1},
        "warmup": [
            {"server_id": warming["id"], "name": warming["name"], "phase": "warming", "day": 3, "days": 10,
             "todays_cap": 300},
        ],
        "reputation": {"reported": 0, "worst_bounce": None, "worst_complaint": None, "over_limits": []},
    }  # fmt: skip
    as_operator = await operator.get("/servers/summary", params={"tenant_id": tenant.id})
    assert as_operator.json() == summary.json(), "the operator sees a tenant's summary as the tenant does"
    refused = await tenant.api.get("/servers/summary", params={"tenant_id": other.id})
    assert refused.status_code == 403 and "tenant_id is for the operator" in refused.json()["detail"]


async def test_the_pool_view_counts_every_owner(operator, new_tenant, probe_worker):
    before = (await operator.get("/pool")).json()
    tenant = await new_tenant()
    await active_server(tenant.api, limits={"per_hour": 700})
    paused = await active_server(tenant.api, limits={"per_hour": 10_000})
    await tenant.api.post(f"/servers/{paused['id']}/pause", json={"reason": "maintenance"})
    await create_server(operator, settings=smtp_settings(host=GOOD_HOST))

    pool = await operator.get("/pool")

    assert pool.status_code == 200
    after = pool.json()
    counts, earlier = after["summary"]["counts"], before["summary"]["counts"]
    assert {state: counts[state] - earlier[state] for state in counts} == {
        "total": 3, "active": 1, "inactive": 1, "disabled": 0, "paused": 1,
    }  # fmt: skip
    assert after["summary"]["throughput"]["per_hour"] - before["summary"]["throughput"]["per_hour"] == 700
    owners = {row["tenant_id"]: row for row in after["owners"]}
    assert owners[tenant.id]["counts"] == {"total": 2, "active": 1, "inactive": 0, "disabled": 0, "paused": 1}
    assert owners[tenant.id]["tenant_name"].startswith("tenant-")
    assert after["owners"][0]["tenant_id"] is None, "the operator's pool servers come first"
    assert sum(row["counts"]["total"] for row in after["owners"]) == counts["total"]
    assert counts["total"] == len(await all_servers(operator))

    refused = await tenant.api.get("/pool")
    assert refused.status_code == 403 and "operator" in refused.json()["detail"]
