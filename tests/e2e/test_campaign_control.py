"""Pausing and cancelling a running campaign, end to end (two routers, two workers, a real SMTP
sink): a pause holds what is queued, at the routers and in the servers' queues, and the resume
goes on where it stopped with every recipient receiving the campaign exactly once; a
cancellation ends it with every message final and nothing sent afterwards."""

import email
import time
from collections import Counter

import pytest

from tests.support.api import CONTENT, tenant_of
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually
from tools.stack.campaigns import draft_campaign, enabled_smtp_server, recipient_addresses, wait_for_state

pytestmark = pytest.mark.e2e

RECIPIENTS = 2000
PER_SECOND = 150
"""The server's cap: the campaign takes about 13 s, so the pause lands mid-way."""
QUIET_SECONDS = 3.0
"""How long nothing may arrive once the pause or the cancellation has settled."""


def message_ids(sink: SmtpSink) -> Counter:
    """Each message the sink accepted, by its Message-ID (a recipient's copy sent twice counts 2)."""
    return Counter(email.message_from_bytes(m.data)["Message-ID"] for m in sink.messages)


def settled(sink: SmtpSink, quiet_seconds: float = 1.5, timeout_seconds: float = 30.0) -> int:
    """Wait until the sink received nothing for `quiet_seconds` (what was mid-send has landed)."""
    deadline = time.monotonic() + timeout_seconds
    count, since = len(sink.messages), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = len(sink.messages)
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds:
            return count
    raise AssertionError(f"the sink kept receiving for {timeout_seconds}s after the decision")


def stays_at(sink: SmtpSink, count: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert len(sink.messages) == count, "a message arrived after the decision had settled"
        time.sleep(0.1)


def test_a_paused_campaign_sends_nothing_and_its_resume_sends_each_recipient_exactly_once(pipeline):
    tenant = tenant_of(pipeline, "pause")
    with SmtpSink() as sink:
        enabled_smtp_server(tenant, "paced", sink.port, limits={"per_second": PER_SECOND})
        addresses = recipient_addresses(RECIPIENTS)
        campaign = draft_campaign(tenant, addresses, CONTENT)
        tenant.launch(campaign.id)

        eventually(lambda: len(sink.messages) >= 300, timeout_seconds=120, what="300 messages sent")
        tenant.pause(campaign.id)
        at_pause = settled(sink)
        assert at_pause < RECIPIENTS, "the pause landed mid-way"
        stays_at(sink, at_pause, QUIET_SECONDS)
        assert tenant.campaign(campaign.id).state == "paused"

        tenant.resume(campaign.id)
        status = wait_for_state(tenant, campaign.id, "completed", timeout_seconds=180)

        assert status.counts.get("sent") == RECIPIENTS
        ids = message_ids(sink)
        assert len(ids) == RECIPIENTS and max(ids.values()) == 1, "a message was sent twice"
        received = Counter(rcpt for m in sink.messages for rcpt in m.rcpt_tos)
        assert set(received) == set(addresses) and max(received.values()) == 1


def test_a_cancelled_campaign_ends_with_every_message_final_and_sends_nothing_more(pipeline):
    tenant = tenant_of(pipeline, "cancel")
    with SmtpSink() as sink:
        enabled_smtp_server(tenant, "paced", sink.port, limits={"per_second": PER_SECOND})
        campaign = draft_campaign(tenant, recipient_addresses(RECIPIENTS), CONTENT)
        tenant.launch(campaign.id)

        eventually(lambda: len(sink.messages) >= 300, timeout_seconds=120, what="300 messages sent")
        tenant.cancel(campaign.id)
        status = wait_for_state(tenant, campaign.id, "cancelled", timeout_seconds=60)
        at_cancel = settled(sink)
        stays_at(sink, at_cancel, QUIET_SECONDS)
        assert at_cancel < RECIPIENTS, "the cancellation landed mid-way"

        def every_message_final():
            report = tenant.campaign(campaign.id)
            return report if report.final == report.total == RECIPIENTS else None

        status = eventually(every_message_final, timeout_seconds=60, what="every message final")
        # What went out is reported sent (a message mid-send when the cancellation came included),
        # the rest cancelled; nothing else is left.
        eventually(
            lambda: tenant.campaign(campaign.id).counts.get("sent", 0) == len(sink.messages),
            timeout_seconds=30,
            what="the report to count what the sink received as sent",
        )
        status = tenant.campaign(campaign.id)
        assert status.counts.get("sent", 0) + status.counts.get("cancelled", 0) == RECIPIENTS
        assert status.counts.get("cancelled", 0) > 0
        assert max(message_ids(sink).values()) == 1
        assert len(sink.messages) == at_cancel
