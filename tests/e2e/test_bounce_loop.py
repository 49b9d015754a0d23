"""The bounce loop end to end (issue 12's "Done when"): real services, RabbitMQ, PostgreSQL, and
SMTP both ways.

A tenant sends a campaign through three servers on local sinks. Server A's sink accepts everything
and then, as a real MTA does, sends an RFC 3464 DSN for a tenth of its recipients to the message's
VERP Return-Path at the bounces service's SMTP endpoint. The bounces service matches each DSN to its
message, suppresses the recipient for the tenant, publishes `bounced`, and pauses A once its bounce
rate is past its threshold; routing moves the rest of the campaign to B and C. A second campaign to
the same list skips the suppressed recipients. DSNs to forged VERP addresses suppress nobody.
"""

import email
import smtplib
import time
from dataclasses import dataclass
from email.policy import SMTP
from typing import Any
from urllib.parse import quote
from uuid import UUID, uuid4

import pytest

from shared.verp import verp_address
from tests.support.api import CONTENT, tenant_of
from tests.support.bounce_sink import (
    SENDPOOL_ID_HEADER,
    BounceSink,
    delivery_status_notification,
    one_in_ten,
)
from tests.support.smtp import Received, SmtpSink
from tests.support.waiting import TimedOut, eventually
from tools.stack.api import Campaign, Pause, SendpoolApi
from tools.stack.campaigns import enabled_smtp_server, recipient_addresses, wait_for_state

pytestmark = pytest.mark.e2e

RECIPIENTS = 600
MAX_BOUNCE_RATE = 0.05
MIN_VOLUME = 30
# Caps keep the campaign running for a while (about 15 s unpaused; A takes a quarter of it until its
# pause), so that A crosses its threshold and is paused while most of the campaign is still to send.
A_PER_SECOND, OTHERS_PER_SECOND = 10, 15
# Messages a delivery worker had in hand when the pause reached it may still arrive at A's sink.
IN_FLIGHT_SECONDS = 5.0


@dataclass
class PauseWatch:
    """Watches server A while the campaign runs, for its pause (when, by whom, why)."""

    tenant: SendpoolApi
    server_id: UUID
    pause: Pause | None = None

    def check(self, _campaign: Campaign | None = None) -> bool:
        if self.pause is None:
            server = self.tenant.server(self.server_id)
            if server.state == "paused":
                self.pause = server.pause
        return self.pause is not None


def recipients_of(messages: list[Received]) -> list[str]:
    return [recipient for message in messages for recipient in message.rcpt_tos]


def suppressions(pipeline, tenant: SendpoolApi) -> dict[str, dict[str, Any]]:
    """The tenant's suppression list (`GET /suppressions` on the bounces service), every page, by address."""
    found: dict[str, dict[str, Any]] = {}
    after: str | None = ""
    while after is not None:
        query = f"?limit=500&after={quote(after)}" if after else "?limit=500"
        page = tenant.call("GET", f"{pipeline.bounces_url}/suppressions{query}")
        found |= {item["address"].lower(): item for item in page["items"]}
        after = page["next"]
    return found


def wait_for_pause(watch: PauseWatch, sink: BounceSink) -> None:
    """A little longer for a pause the campaign's end came before; a failure that says what A saw."""
    try:
        eventually(watch.check, timeout_seconds=20, interval_seconds=0.2, what="server A paused")
    except TimedOut:
        server = watch.tenant.server(watch.server_id)
        pytest.fail(
            f"server A was never paused: state {server.state}, reputation {server.reputation}, "
            f"{len(sink.messages)} messages at its sink, {len(sink.dsns)} DSNs delivered "
            f"({len(sink.undelivered)} given up)"
        )


def forged_dsns_suppress_nobody(
    pipeline, tenant: SendpoolApi, endpoint: tuple[str, int], delivered: list[Received], bouncing: set[str]
) -> str:
    """DSNs to forged VERP addresses (a real message's id signed with another secret, and a random
    one) are taken in, kept unmatched and suppress nobody, though the headers they return name a
    real message of the tenant. The recipient they name, which the test expects mailed again."""
    victim_message = next(m for m in delivered if m.rcpt_tos[0] not in bouncing)
    [victim] = victim_message.rcpt_tos
    real_id = UUID(email.message_from_bytes(victim_message.data)[SENDPOOL_ID_HEADER])
    forged = [
        verp_address(real_id, "sender.example", "an attacker's guess at the secret"),
        verp_address(uuid4(), "sender.example", "an attacker's guess at the secret"),
    ]
    with smtplib.SMTP(*endpoint, timeout=10) as client:
        for address in forged:
            dsn = delivery_status_notification(victim_message.data, victim, address)
            client.sendmail("", [address], dsn.as_bytes(policy=SMTP))
    operator = pipeline.operator_api()

    def forged_kept() -> list[dict[str, Any]] | None:
        page = operator.call("GET", f"{pipeline.bounces_url}/feedback?matched=false&limit=500")
        kept = [f for f in page["items"] if f["reported_recipient"] == victim]
        return kept if len(kept) == len(forged) else None

    kept = eventually(forged_kept, timeout_seconds=30, interval_seconds=0.5, what="forged DSNs kept")
    assert all(f["message_id"] is None and f["tenant_id"] is None for f in kept), kept
    assert victim not in suppressions(pipeline, tenant), "a forged token suppresses nobody"
    return victim


def test_dsns_suppress_their_recipients_pause_the_server_and_a_second_campaign_skips_them(pipeline):
    tenant = tenant_of(pipeline, "bounce-loop")
    emails = recipient_addresses(RECIPIENTS, "bounce-loop.example")
    bouncing = {address for address in emails if one_in_ten(address)}
    bounce_endpoint = ("127.0.0.1", pipeline.bounce_smtp_port)
    started = time.monotonic()

    with (
        BounceSink(bounce_endpoint, bounces=bouncing.__contains__) as a_sink,
        SmtpSink() as b_sink,
        SmtpSink() as c_sink,
    ):
        a = enabled_smtp_server(
            tenant,
            "a-bouncing",
            a_sink.port,
            limits={"per_second": A_PER_SECOND},
            bounce_handling={"max_bounce_rate": MAX_BOUNCE_RATE, "min_volume": MIN_VOLUME},
        )
        b = enabled_smtp_server(tenant, "b", b_sink.port, limits={"per_second": OTHERS_PER_SECOND})
        c = enabled_smtp_server(tenant, "c", c_sink.port, limits={"per_second": OTHERS_PER_SECOND})
        sinks = {a.id: a_sink, b.id: b_sink, c.id: c_sink}

        mailing_list = tenant.create_list("bounce loop")
        assert tenant.add_recipients(mailing_list.id, emails) == RECIPIENTS
        first = tenant.create_campaign("first", list_id=mailing_list.id, content=CONTENT)
        tenant.set_sending_policy(first.id, {a.id: 2, b.id: 1, c.id: 1})

        # ---- the first campaign: every message final, A paused on the way
        watch = PauseWatch(tenant, a.id)
        tenant.launch(first.id)
        launched = time.monotonic()
        report = wait_for_state(tenant, first.id, "completed", timeout_seconds=120, on_progress=watch.check)
        completed_at = time.time()
        first_seconds = time.monotonic() - launched
        assert report.final == RECIPIENTS, report.counts
        assert report.counts.get("sent") == RECIPIENTS, report.counts

        wait_for_pause(watch, a_sink)
        assert watch.pause is not None, "a paused server says why"
        paused_at = watch.pause.at.timestamp()
        assert paused_at < completed_at, (
            f"A was paused only {paused_at - completed_at:.1f} s after the campaign completed: "
            "the pause must come while the campaign still sends"
        )

        # ---- (c) A paused by the bounces service, for its bounce rate; the rest went to B and C
        assert watch.pause.by == "bounces", watch.pause
        reason = watch.pause.reason.lower()
        assert "bounce rate" in reason, watch.pause.reason
        before_pause = [m for m in a_sink.messages if m.received_at <= paused_at]
        late_at_a = [m for m in a_sink.messages if m.received_at > paused_at + IN_FLIGHT_SECONDS]
        assert late_at_a == [], (
            f"{len(late_at_a)} messages reached A more than {IN_FLIGHT_SECONDS:g} s after its pause"
        )
        after_pause_elsewhere = [
            m for sink in (b_sink, c_sink) for m in sink.messages if m.received_at > paused_at
        ]
        assert after_pause_elsewhere, "the rest of the campaign went on through B and C"
        assert report.per_server == {str(s): len(sink.messages) for s, sink in sinks.items()}
        delivered = recipients_of([m for sink in sinks.values() for m in sink.messages])
        assert sorted(delivered) == sorted(emails), "each recipient exactly once"

        # ---- (b) every recipient whose DSN went out is suppressed, and counted as bounced
        a_sink.drain(timeout=30)
        assert a_sink.undelivered == [], a_sink.undelivered
        bounced = a_sink.bounced_recipients
        assert bounced == bouncing & set(recipients_of(a_sink.messages)), "A's sink bounced its tenth"
        assert len(bounced) >= MIN_VOLUME * MAX_BOUNCE_RATE

        def all_suppressed() -> dict[str, dict[str, Any]] | None:
            listed = suppressions(pipeline, tenant)
            return listed if bounced <= set(listed) else None

        listed = eventually(
            all_suppressed, timeout_seconds=30, interval_seconds=0.5, what="every DSN suppressed"
        )
        assert set(listed) == bounced, "only the bounced recipients are suppressed"
        assert {entry["source"] for entry in listed.values()} == {"bounce"}
        eventually(
            lambda: tenant.campaign(first.id).counts.get("bounced") == len(bounced),
            timeout_seconds=30,
            interval_seconds=0.5,
            what=f"{len(bounced)} bounced in the first campaign's counts",
        )

        # Each DSN was matched through its VERP token to its message at A, and classified hard.
        feedback = tenant.call("GET", f"{pipeline.bounces_url}/feedback?campaign_id={first.id}&limit=500")
        reports = feedback["items"]
        assert sorted(f["recipient"] for f in reports) == sorted(bounced)
        for f in reports:
            assert f["matched"] and f["server_id"] == str(a.id), f
            assert (f["class"], f["status_code"], f["rule"] != "") == ("hard", "5.1.1", True), f

        # ---- hostile: DSNs to forged VERP addresses suppress nobody
        victim = forged_dsns_suppress_nobody(pipeline, tenant, bounce_endpoint, b_sink.messages, bouncing)

        # ---- (d) the second campaign skips the suppressed recipients; A stays paused
        received_before = {s: len(sink.messages) for s, sink in sinks.items()}
        second = tenant.create_campaign("second", list_id=mailing_list.id, content=CONTENT)
        tenant.set_sending_policy(second.id, {a.id: 2, b.id: 1, c.id: 1})
        tenant.launch(second.id)
        launched = time.monotonic()
        report2 = wait_for_state(tenant, second.id, "completed", timeout_seconds=120)
        second_seconds = time.monotonic() - launched
        assert report2.counts.get("suppressed") == len(bounced), report2.counts
        assert report2.counts.get("sent") == RECIPIENTS - len(bounced), report2.counts
        new = {s: sink.messages[received_before[s] :] for s, sink in sinks.items()}
        assert new[a.id] == [] and str(a.id) not in report2.per_server, (
            "nothing goes through the paused server"
        )
        delivered2 = recipients_of([m for messages in new.values() for m in messages])
        assert sorted(delivered2) == sorted(set(emails) - bounced), "everyone else, once; no suppressed one"
        assert victim in delivered2, "the recipient named by forged DSNs is mailed as before"
        assert tenant.server(a.id).state == "paused"

        seconds = time.monotonic() - started
        print(
            f"\nbounce loop: {len(before_pause)} messages reached A before its pause, "
            f"{len(a_sink.messages) - len(before_pause)} in flight after it (per server {report.per_server}); "
            f"paused for: {watch.pause.reason!r}; {len(bounced)} DSNs sent, {len(listed)} suppressed, "
            f"{report2.counts.get('suppressed')} skipped by the second campaign; campaigns "
            f"{first_seconds:.0f} s and {second_seconds:.0f} s, {seconds:.0f} s in all"
        )
