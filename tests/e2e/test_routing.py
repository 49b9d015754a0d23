"""The router's promises end to end, with two router replicas and two delivery workers running."""

import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from tests.support.api import CONTENT, tenant_of
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually
from tools.stack.campaigns import draft_campaign, enabled_smtp_server, recipient_addresses, wait_for_state

pytestmark = pytest.mark.e2e


def most_in_any_span(times: list[float], seconds: float) -> int:
    """The most of `times` that fall in one span of `seconds` (start inclusive, end exclusive)."""
    ordered = sorted(times)
    return max(sum(1 for later in ordered[i:] if later < start + seconds) for i, start in enumerate(ordered))


def test_a_50_per_minute_cap_holds_across_two_router_replicas_and_the_rest_waits(pipeline):
    """ "50 per minute" means no 60 seconds carry more than 50, whenever they start (a rolling window,
    not calendar minutes), so the test starts at any moment and checks every span."""
    tenant = tenant_of(pipeline, "capped")
    with SmtpSink() as sink:
        server = enabled_smtp_server(tenant, "capped", sink.port, limits={"per_minute": 50})
        campaign = draft_campaign(tenant, recipient_addresses(70), CONTENT)
        tenant.set_sending_policy(campaign.id, {server.id: 1})
        tenant.launch(campaign.id)

        status = wait_for_state(tenant, campaign.id, "completed", timeout_seconds=200)
        assert status.counts == {"sent": 70}, "capped messages waited; none was dropped or failed"
        received = [m.received_at for m in sink.messages]
        assert len(received) == 70
        # The window is counted in whole-second slots (it covers 59 to 60 s of real time), and a send
        # arrives at the sink a moment after it was admitted: so spans of 58 s are checked there.
        assert most_in_any_span(received, 58) <= 50, sorted(received)
        assert max(received) - min(received) >= 58, "the 20 over the cap waited for the window to move on"


def test_a_backlog_queued_while_no_worker_ran_goes_out_at_the_servers_rate(pipeline):
    """Counted when routed, 40 messages wait in the queue while both workers are down; without
    admission at send time, the restarted workers sent them all within a fraction of a second."""
    tenant = tenant_of(pipeline, "backlog")
    with SmtpSink() as sink:
        server = enabled_smtp_server(tenant, "paced", sink.port, limits={"per_second": 5})
        campaign = draft_campaign(tenant, recipient_addresses(40), CONTENT)
        tenant.set_sending_policy(campaign.id, {server.id: 1})
        workers = ("delivery", "delivery-2")
        for label in workers:
            pipeline.stop_service(label, timeout=40)
        try:
            tenant.launch(campaign.id)
            eventually(
                lambda: tenant.campaign(campaign.id).counts.get("routed") == 40,
                timeout_seconds=60,
                interval_seconds=0.2,
                what="all 40 messages routed (5 per second) into the stopped workers' queue",
            )
            time.sleep(3)  # every one of them is late now (SENDPOOL_DELIVERY_LATE_AFTER_SECONDS is 2)
        finally:
            for label in workers:
                pipeline.start_again(label, log_name=f"{label}-restarted")

        assert wait_for_state(tenant, campaign.id, "completed", timeout_seconds=120).counts == {"sent": 40}
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
    tenant = tenant_of(pipeline, "warmup")
    today = datetime.now(UTC).date()
    with SmtpSink() as warming, SmtpSink() as warm:
        ramp = {
            "kind": "linear",
            "start_date": today.isoformat(),
            "start_volume": 30,
            "target_volume": 1000,
            "days": 10,
        }
        new = enabled_smtp_server(tenant, "warming", warming.port, warmup=ramp)
        old = enabled_smtp_server(tenant, "warm", warm.port)
        campaign = draft_campaign(tenant, recipient_addresses(200), CONTENT)
        tenant.set_sending_policy(campaign.id, {new.id: 1, old.id: 1})
        tenant.launch(campaign.id)

        status = wait_for_state(tenant, campaign.id, "completed")
        assert status.counts == {"sent": 200}
        assert len(warming.messages) == 30, "day 1 of the ramp allows 30, and its 50% share is more than that"
        assert len(warm.messages) == 170


def test_a_rule_for_a_receiver_caps_one_server_and_covers_the_providers_other_domains(pipeline):
    tenant = tenant_of(pipeline, "per-domain")
    with SmtpSink() as ruled, SmtpSink() as free:
        rules = [{"domain": "gmail.com", "limits": {"per_hour": 10}}]
        limited = enabled_smtp_server(tenant, "ruled", ruled.port, destination_rules=rules)
        other = enabled_smtp_server(tenant, "free", free.port)
        emails = (
            [f"g{i}@gmail.com" for i in range(30)]
            + [f"m{i}@googlemail.com" for i in range(30)]
            + [f"x{i}@example.org" for i in range(60)]
        )
        campaign = draft_campaign(tenant, emails, CONTENT)
        tenant.set_sending_policy(campaign.id, {limited.id: 3, other.id: 1})
        tenant.launch(campaign.id)

        assert wait_for_state(tenant, campaign.id, "completed").counts == {"sent": 120}
        to_google = [
            r for m in ruled.messages for r in m.rcpt_tos if r.endswith(("gmail.com", "googlemail.com"))
        ]
        assert len(to_google) == 10, "10 per hour to Google, whichever of its domains"
        to_others = [r for m in ruled.messages for r in m.rcpt_tos if r.endswith("example.org")]
        assert len(to_others) > 30, "the rule throttles one receiver, not the server"


def test_all_inactive_selection_stops_and_resume_after_a_fix_sends_every_held_message(pipeline):
    tenant = tenant_of(pipeline, "resume")
    with SmtpSink() as sink, SmtpSink() as outside:
        server = tenant.create_smtp_server("not-yet", host="127.0.0.1", port=sink.port)
        enabled_smtp_server(tenant, "outside-selection", outside.port)
        campaign = draft_campaign(tenant, recipient_addresses(40), CONTENT)
        tenant.set_sending_policy(campaign.id, {server.id: 1})
        tenant.launch(campaign.id)
        stopped = wait_for_state(tenant, campaign.id, "stopped")
        assert str(server.id) in (stopped.stop_reason or "")
        eventually(lambda: tenant.campaign(campaign.id).counts.get("held") == 40, what="40 held")

        tenant.test_server(server.id)
        tenant.enable_server(server.id)
        tenant.resume(campaign.id)

        assert wait_for_state(tenant, campaign.id, "completed").counts == {"sent": 40}
        assert sorted(r for m in sink.messages for r in m.rcpt_tos) == recipient_addresses(40)
        assert outside.messages == [], "a narrowed selection never falls back outside it"


@pytest.mark.parametrize("action", ["pause", "disable"])
def test_messages_queued_at_a_server_that_is_paused_or_disabled_move_to_the_others_of_the_selection(
    pipeline, action
):
    tenant = tenant_of(pipeline, f"failover-{action}")
    # A slow receiver: mail piles up in its queue while the other server drains quickly.
    with SmtpSink(delay=0.5) as slow, SmtpSink() as fast, SmtpSink() as outside:
        stuck = enabled_smtp_server(tenant, "slow", slow.port)
        other = enabled_smtp_server(tenant, "fast", fast.port)
        enabled_smtp_server(tenant, "outside-selection", outside.port)
        campaign = draft_campaign(tenant, recipient_addresses(300), CONTENT)
        tenant.set_sending_policy(campaign.id, {stuck.id: 1, other.id: 1})
        tenant.launch(campaign.id)

        eventually(lambda: len(slow.messages) >= 5, what="the slow server to start receiving")
        if action == "pause":
            tenant.pause_server(stuck.id, "reputation alert from the vendor")
        else:
            tenant.disable_server(stuck.id)
        disabled_at = time.time()

        status = wait_for_state(tenant, campaign.id, "completed")
        assert status.counts == {"sent": 300}
        delivered = [r for sink in (slow, fast) for m in sink.messages for r in m.rcpt_tos]
        assert len(delivered) == len(set(delivered)) == 300
        assert len(slow.messages) < 100, "its ~150 share moved to the other server"
        late = [m for m in slow.messages if m.received_at > disabled_at + 5]
        assert late == [], f"nothing goes through a server after {action} once workers and routers know"
        assert outside.messages == []


def test_dry_run_forecasts_the_split_and_the_time_at_current_caps(pipeline):
    tenant = tenant_of(pipeline, "dry-run")
    with SmtpSink() as a, SmtpSink() as b:
        capped = enabled_smtp_server(tenant, "capped", a.port, limits={"per_hour": 100})
        fast = enabled_smtp_server(tenant, "fast", b.port, limits={"per_second": 50})
        campaign = draft_campaign(tenant, recipient_addresses(5), CONTENT)
        tenant.set_sending_policy(campaign.id, {capped.id: 1, fast.id: 1})

        router = pipeline.services["router"].url

        # The router learns of the two servers' enabling from catalog events, which may lag a loaded machine.
        def forecast_over_both() -> dict | None:
            answer = tenant.dry_run(router, campaign.id, messages=1000)
            return answer if len(answer["servers"]) == 2 else None

        forecast = eventually(forecast_over_both, what="the router to know both servers enabled")
        shares = {s["server_id"]: s["expected_messages"] for s in forecast["servers"]}
        assert shares == {str(capped.id): 100, str(fast.id): 900}, (
            "the capped server's excess flows to the other"
        )
        assert 10 <= forecast["seconds_to_send"] <= 20  # 900 at 50 per second
        assert a.messages == [] and b.messages == [], "a dry run sends nothing"

        # Another tenant naming this campaign sees only its own (here: no) servers, never this one's.
        intruder = tenant_of(pipeline, "intruder").dry_run(router, campaign.id, messages=10)
        assert intruder["mode"] == "use_all" and intruder["servers"] == []
