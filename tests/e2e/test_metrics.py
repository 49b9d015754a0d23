"""Every service's `GET /metrics`, summed across replicas as Prometheus would, against a campaign's counts."""

import pytest

from tests.support.api import CONTENT, tenant_of
from tests.support.metrics import scrape, total
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually
from tools.stack.campaigns import draft_campaign, enabled_smtp_server, recipient_addresses, wait_for_state

pytestmark = pytest.mark.e2e

RECIPIENTS = 20
ROUTERS = ("router", "router-2")
WORKERS = ("delivery", "delivery-2")


def summed(pipeline, replicas: tuple[str, ...], name: str, **labels: str) -> float:
    return sum(total(scrape(pipeline.services[replica].url), name, **labels) for replica in replicas)


def test_routers_and_workers_metrics_add_up_to_the_campaigns_counts(pipeline):
    tenant = tenant_of(pipeline, "metrics")
    scheduler = pipeline.scheduler_url
    with SmtpSink() as a, SmtpSink() as b:
        servers = [enabled_smtp_server(tenant, name, sink.port).id for name, sink in (("a", a), ("b", b))]
        campaign = draft_campaign(tenant, recipient_addresses(RECIPIENTS), CONTENT)
        tenant.set_sending_policy(campaign.id, dict.fromkeys(servers, 1))
        routed_before = summed(pipeline, ROUTERS, "sendpool_router_decisions_total", outcome="routed")
        received_before = summed(
            pipeline, ROUTERS, "faststream_received_messages_total", handler="sendpool.send.send.requested"
        )
        before = scrape(scheduler)

        tenant.launch(campaign.id)
        status = wait_for_state(tenant, campaign.id, "completed", timeout_seconds=60)

        sent_per_server = {
            str(server): len(sink.messages) for server, sink in zip(servers, (a, b), strict=True)
        }
        assert status.per_server == sent_per_server and sum(sent_per_server.values()) == RECIPIENTS
        for server in sent_per_server:
            assert (
                summed(pipeline, ROUTERS, "sendpool_router_routed_total", server_id=server)
                == (sent_per_server[server])
            )
            sent = {"vendor": "smtp", "server_id": server, "status": "sent"}
            assert (
                summed(pipeline, WORKERS, "sendpool_delivery_outcomes_total", **sent)
                == sent_per_server[server]
            )
            assert (
                not summed(pipeline, WORKERS, "sendpool_delivery_outcomes_total", server_id=server)
                - (sent_per_server[server])
            ), "no other outcome for a server that accepts everything"
        assert summed(pipeline, WORKERS, "sendpool_delivery_send_seconds_count", vendor="smtp") >= RECIPIENTS
        # Other tests' leftovers may pass through routing too: at least this campaign's messages.
        assert summed(pipeline, ROUTERS, "sendpool_router_decisions_total", outcome="routed") >= (
            routed_before + RECIPIENTS
        )
        # FastStream counts broker messages: the campaign's recipients came in batches, fewer messages.
        received = summed(
            pipeline, ROUTERS, "faststream_received_messages_total", handler="sendpool.send.send.requested"
        )
        assert received_before + 1 <= received < received_before + RECIPIENTS

        # The scheduler completes a run once the last status is folded: its counters are current.
        after = scrape(scheduler)
        for name in (
            "sendpool_scheduler_campaigns_launched_total",
            "sendpool_scheduler_campaigns_completed_total",
        ):
            assert total(after, name) == total(before, name) + 1, name
        folded = total(after, "sendpool_scheduler_statuses_total", status="sent")
        assert folded == total(before, "sendpool_scheduler_statuses_total", status="sent") + RECIPIENTS


def test_a_stopped_campaigns_messages_are_counted_held(pipeline):
    tenant = tenant_of(pipeline, "metrics-held")
    with SmtpSink() as sink:
        never_enabled = tenant.create_smtp_server("never-enabled", host="127.0.0.1", port=sink.port)
        campaign = draft_campaign(tenant, recipient_addresses(5), CONTENT)
        tenant.set_sending_policy(campaign.id, {never_enabled.id: 1})
        held_before = summed(pipeline, ROUTERS, "sendpool_router_decisions_total", outcome="held")

        tenant.launch(campaign.id)

        eventually(lambda: tenant.campaign(campaign.id).counts.get("held", 0) == 5, what="all 5 held")
        held = summed(pipeline, ROUTERS, "sendpool_router_decisions_total", outcome="held")
        assert held >= held_before + 5
        assert summed(pipeline, ROUTERS, "sendpool_router_routed_total", server_id=str(never_enabled.id)) == 0
