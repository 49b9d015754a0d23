"""The catalog's `GET /metrics` on its servers: each paused server with the cause and reason of its
pause, and the servers per vendor and state (read by a background round, not per scrape)."""

import asyncio

from shared.contracts import PauseServerRequest, ServerView
from tests.integration.catalog.test_pause import enabled
from tests.support.metrics import scrape, total
from tests.support.waiting import eventually_async

REASON = "bounce rate 7.2 % over the last 24 h (36 of 500 sent) is above this server's 5 % limit. " * 3


async def series(catalog, name: str, server_id: str) -> list:
    samples = await asyncio.to_thread(scrape, catalog.url)
    return [s for s in samples if s.name == name and s.labels.get("server_id") == server_id]


async def test_a_pause_shows_with_its_cause_and_reason_until_resumed(catalog, operator, probe_worker, bus):
    server = await enabled(operator)
    server_id = server["id"]
    ServerView.model_validate(await bus.ask(PauseServerRequest(server_id=server_id, reason=REASON[:500])))

    paused = await eventually_async(
        lambda: series(catalog, "sendpool_catalog_server_paused", server_id),
        timeout_seconds=10,
        interval_seconds=0.1,
        what="the paused server's series",
    )
    assert [(s.labels["vendor"], s.labels["cause"], s.value) for s in paused] == [("smtp", "bounce_rate", 1)]
    [info] = await series(catalog, "sendpool_catalog_server_pause_info", server_id)
    assert info.labels["reason"] == REASON[:120]
    samples = await asyncio.to_thread(scrape, catalog.url)
    assert total(samples, "sendpool_catalog_servers", vendor="smtp", state="paused") >= 1

    assert (await operator.post(f"/servers/{server_id}/resume")).status_code == 200

    async def gone() -> bool:
        return not await series(catalog, "sendpool_catalog_server_paused", server_id) and not await series(
            catalog, "sendpool_catalog_server_pause_info", server_id
        )

    await eventually_async(
        gone, timeout_seconds=10, interval_seconds=0.1, what="the resumed server's series gone"
    )


async def test_the_operators_pause_is_told_apart(catalog, operator, probe_worker):
    server = await enabled(operator)
    assert (
        await operator.post(f"/servers/{server['id']}/pause", json={"reason": "abuse report"})
    ).status_code == 200

    paused = await eventually_async(
        lambda: series(catalog, "sendpool_catalog_server_paused", server["id"]),
        timeout_seconds=10,
        interval_seconds=0.1,
        what="the paused server's series",
    )
    assert [s.labels["cause"] for s in paused] == ["operator"]
