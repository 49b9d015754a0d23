"""The router's promises end to end, with two router replicas and two delivery workers running."""

import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from tests.support.api import TenantClient
from tests.support.infra import free_port
from tests.support.processes import ServiceProcess
from tests.support.smtp import SmtpSink
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def per_minute(sink: SmtpSink) -> Counter:
    return Counter(int(m.received_at // 60) for m in sink.messages)


def wait_for_early_in_a_minute(latest_second: int = 30) -> None:
    """Start a timed test early in a calendar minute, so its first burst cannot straddle a boundary."""
    while not 1 <= datetime.now(UTC).second <= latest_second:
        time.sleep(0.5)


def test_a_50_per_minute_cap_holds_across_two_router_replicas_and_the_rest_waits(pipeline):
    tenant = TenantClient.create(pipeline.operator, pipeline.scheduler_url, "capped")
    with SmtpSink() as sink:
        server = tenant.smtp_server("capped", sink.port, limits={"per_minute": 50})
        campaign_id = tenant.campaign(tenant.recipients_list(70))
        tenant.narrow(campaign_id, {server["id"]: 1})
        wait_for_early_in_a_minute()
        tenant.launch(campaign_id)

        status = tenant.wait_until(campaign_id, "completed", timeout=200)
        assert status["counts"] == {"sent": 70}, "capped messages waited; none was dropped or failed"
        minutes = per_minute(sink)
        assert len(sink.messages) == 70
        assert max(minutes.values()) <= 50, minutes
        assert len(minutes) >= 2, "70 messages under a 50/minute cap need two minutes"


def test_a_backlog_queued_while_no_worker_ran_goes_out_at_the_servers_rate(pipeline):
    """Counted when routed, 40 messages wait in the queue while both workers are down; without
    admission at send time, the restarted workers sent them all within a fraction of a second."""
    tenant = TenantClient.create(pipeline.operator, pipeline.scheduler_url, "backlog")
    with SmtpSink() as sink:
        server = tenant.smtp_server("paced", sink.port, limits={"per_second": 5})
        campaign_id = tenant.campaign(tenant.recipients_list(40))
        tenant.narrow(campaign_id, {server["id"]: 1})
        workers = ("delivery", "delivery-2")
        for label in workers:
            pipeline.services[label].stop()
        try:
            tenant.launch(campaign_id)
            wait_for(
                lambda: tenant.status(campaign_id)["counts"].get("routed") == 40,
                60, 0.2, "all 40 messages routed (5 per second) into the stopped workers' queue",
            )  # fmt: skip
            time.sleep(3)  # every one of them is late now (SENDPOOL_DELIVERY_LATE_AFTER_SECONDS is 2)
        finally:
            for label in workers:
                stopped = pipeline.services[label]
                pipeline.services[label] = ServiceProcess(
                    "delivery",
                    free_port(),
                    pipeline.env,
                    stopped.log_path.with_name(f"{label}-restarted.log"),
                )
                pipeline.services[label].start()

        assert tenant.wait_until(campaign_id, "completed", timeout=120)["counts"] == {"sent": 40}
        received = sorted(m.received_at for m in sink.messages)
        per_second = Counter(int(at) for at in received)
        # The cap governs when sends start; a send admitted late in one second (the first ones
        # also open the SMTP connections) may arrive in the next. So any k whole seconds at the
        # sink hold at most k seconds of admissions plus one second still on its way.
        first, last = min(per_second), max(per_second)
        for k in range(1, last - first + 2):
            for start in range(first, last - k + 2):
                arrived = sum(per_second[second] for second in range(start, start + k))
                assert arrived <= 5 * (k + 1), (k, start, per_second)
        assert received[-1] - received[0] >= 5, "40 at 5 per second take at least 7 s"


def test_warmup_day_one_cap_is_respected_and_its_share_goes_to_the_other_server(pipeline):
    tenant = TenantClient.create(pipeline.operator, pipeline.scheduler_url, "warmup")
    today = datetime.now(UTC).date()
    with SmtpSink() as warming, SmtpSink() as warm:
        ramp = {
            "kind": "linear",
            "start_date": today.isoformat(),
            "start_volume": 30,
            "target_volume": 1000,
            "days": 10,
        }
        new = tenant.smtp_server("warming", warming.port, warmup=ramp)
        old = tenant.smtp_server("warm", warm.port)
        campaign_id = tenant.campaign(tenant.recipients_list(200))
        tenant.narrow(campaign_id, {new["id"]: 1, old["id"]: 1})
        tenant.launch(campaign_id)

        status = tenant.wait_until(campaign_id, "completed")
        assert status["counts"] == {"sent": 200}
        assert len(warming.messages) == 30, "day 1 of the ramp allows 30, and its 50% share is more than that"
        assert len(warm.messages) == 170


def test_a_rule_for_a_receiver_caps_one_server_and_covers_the_providers_other_domains(pipeline):
    tenant = TenantClient.create(pipeline.operator, pipeline.scheduler_url, "per-domain")
    with SmtpSink() as ruled, SmtpSink() as free:
        rules = [{"domain": "gmail.com", "limits": {"per_hour": 10}}]
        limited = tenant.smtp_server("ruled", ruled.port, destination_rules=rules)
        other = tenant.smtp_server("free", free.port)
        emails = (
            [f"g{i}@gmail.com" for i in range(30)]
            + [f"m{i}@googlemail.com" for i in range(30)]
            + [f"x{i}@example.org" for i in range(60)]
        )
        campaign_id = tenant.campaign(tenant.recipients_list(0, emails=emails))
        tenant.narrow(campaign_id, {limited["id"]: 3, other["id"]: 1})
        tenant.launch(campaign_id)

        assert tenant.wait_until(campaign_id, "completed")["counts"] == {"sent": 120}
        to_google = [
            r for m in ruled.messages for r in m.rcpt_tos if r.endswith(("gmail.com", "googlemail.com"))
        ]
        assert len(to_google) == 10, "10 per hour to Google, whichever of its domains"
        to_others = [r for m in ruled.messages for r in m.rcpt_tos if r.endswith("example.org")]
        assert len(to_others) > 30, "the rule throttles one receiver, not the server"


def test_all_inactive_selection_stops_and_resume_after_a_fix_sends_every_held_message(pipeline):
    tenant = TenantClient.create(pipeline.operator, pipeline.scheduler_url, "resume")
    with SmtpSink() as sink, SmtpSink() as outside:
        server = tenant.smtp_server("not-yet", sink.port, enable=False)
        tenant.smtp_server("outside-selection", outside.port)
        campaign_id = tenant.campaign(tenant.recipients_list(40))
        tenant.narrow(campaign_id, {server["id"]: 1})
        tenant.launch(campaign_id)
        stopped = tenant.wait_until(campaign_id, "stopped")
        assert server["id"] in stopped["stop_reason"]
        wait_for(lambda: tenant.status(campaign_id)["counts"].get("held") == 40, what="40 held")

        tenant.catalog.post(f"/servers/{server['id']}/test").raise_for_status()
        tenant.catalog.post(f"/servers/{server['id']}/enable").raise_for_status()
        tenant.resume(campaign_id)

        assert tenant.wait_until(campaign_id, "completed")["counts"] == {"sent": 40}
        assert sorted(r for m in sink.messages for r in m.rcpt_tos) == sorted(
            f"user{i:06d}@example.com" for i in range(40)
        )
        assert outside.messages == [], "a narrowed selection never falls back outside it"


@pytest.mark.parametrize(
    ("action", "body"), [("pause", {"reason": "reputation alert from the vendor"}), ("disable", None)]
)
def test_messages_queued_at_a_server_that_is_paused_or_disabled_move_to_the_others_of_the_selection(
    pipeline, action, body
):
    tenant = TenantClient.create(pipeline.operator, pipeline.scheduler_url, f"failover-{action}")
    # A slow receiver: mail piles up in its queue while the other server drains quickly.
    with SmtpSink(delay=0.5) as slow, SmtpSink() as fast, SmtpSink() as outside:
        stuck = tenant.smtp_server("slow", slow.port)
        other = tenant.smtp_server("fast", fast.port)
        tenant.smtp_server("outside-selection", outside.port)
        campaign_id = tenant.campaign(tenant.recipients_list(300))
        tenant.narrow(campaign_id, {stuck["id"]: 1, other["id"]: 1})
        tenant.launch(campaign_id)

        wait_for(lambda: len(slow.messages) >= 5, what="the slow server to start receiving")
        tenant.catalog.post(f"/servers/{stuck['id']}/{action}", json=body).raise_for_status()
        disabled_at = time.time()

        status = tenant.wait_until(campaign_id, "completed")
        assert status["counts"] == {"sent": 300}
        delivered = [r for sink in (slow, fast) for m in sink.messages for r in m.rcpt_tos]
        assert len(delivered) == len(set(delivered)) == 300
        assert len(slow.messages) < 100, "its ~150 share moved to the other server"
        late = [m for m in slow.messages if m.received_at > disabled_at + 5]
        assert late == [], f"nothing goes through a server after {action} once workers and routers know"
        assert outside.messages == []


def test_dry_run_forecasts_the_split_and_the_time_at_current_caps(pipeline):
    tenant = TenantClient.create(pipeline.operator, pipeline.scheduler_url, "dry-run")
    with SmtpSink() as a, SmtpSink() as b:
        capped = tenant.smtp_server("capped", a.port, limits={"per_hour": 100})
        fast = tenant.smtp_server("fast", b.port, limits={"per_second": 50})
        campaign_id = tenant.campaign(tenant.recipients_list(5))
        tenant.narrow(campaign_id, {capped["id"]: 1, fast["id"]: 1})

        router = pipeline.services["router"].url
        response = tenant.catalog.post(f"{router}/campaigns/{campaign_id}/dry-run", json={"messages": 1000})
        assert response.status_code == 200, response.text
        forecast = response.json()
        shares = {s["server_id"]: s["expected_messages"] for s in forecast["servers"]}
        assert shares == {capped["id"]: 100, fast["id"]: 900}, "the capped server's excess flows to the other"
        assert 10 <= forecast["seconds_to_send"] <= 20  # 900 at 50 per second
        assert a.messages == [] and b.messages == [], "a dry run sends nothing"

        # Another tenant naming this campaign sees only its own (here: no) servers, never this one's.
        other = TenantClient.create(pipeline.operator, pipeline.scheduler_url, "intruder")
        intruder = other.catalog.post(
            f"{router}/campaigns/{campaign_id}/dry-run", json={"messages": 10}
        ).json()
        assert intruder["mode"] == "use_all" and intruder["servers"] == []
