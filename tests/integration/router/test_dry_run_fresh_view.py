"""A dry run just after a server was enabled sees it, even before the catalog's event arrives.

Seen in a CI run: the e2e dry run, asked right after its servers were enabled, answered with no
server at all, because the router's view had not heard of them yet. Routing already decides on
a fresh snapshot before it stops a campaign; the dry run now does the same.
"""

import random
from datetime import UTC, datetime
from uuid import uuid4

from services.router.app.dry_run import dry_run
from services.router.app.routing import Router
from services.router.domain.view import RoutingView
from shared.contracts import ServerState, ServerView
from tests.integration.router.doubles import CountingMetrics, Unused
from tests.integration.router.harness import FakeCatalog


class NoRooms:
    async def remaining(self, bucket):  # no server here has limits, so nothing asks
        raise AssertionError("not asked for a server without limits")


async def test_a_dry_run_refreshes_a_view_that_has_not_heard_of_the_servers_yet():
    tenant = uuid4()
    server = ServerView(
        id=uuid4(),
        name="just enabled",
        type="smtp",
        vendor="smtp",
        state=ServerState.ACTIVE,
        tenant_id=tenant,
    )
    router = Router(
        view=RoutingView(),  # loaded before the server was enabled; its event is still on the way
        catalog=FakeCatalog(server),
        outbound=Unused(),
        held=Unused(),
        capacity=Unused(),
        metrics=CountingMetrics(),
        rng=random.Random(1),
    )

    candidates, forecast = await dry_run(router, NoRooms(), tenant, uuid4(), 10, datetime.now(UTC))

    assert list(candidates.weights) == [server.id]
    assert [share.server_id for share in forecast.servers] == [server.id]
