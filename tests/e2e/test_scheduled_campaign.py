"""A campaign scheduled for later starts at its time, through the real services (its From checked by
the real catalog against its server's identity domains on the way)."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.api import CONTENT, tenant_of
from tests.support.smtp import SmtpSink
from tools.stack.api import ApiError
from tools.stack.campaigns import draft_campaign, enabled_smtp_server, recipient_addresses, wait_for_state

pytestmark = pytest.mark.e2e

RECIPIENTS = 20
AHEAD_SECONDS = 5.0


def test_a_scheduled_campaign_starts_at_its_time(pipeline):
    tenant = tenant_of(pipeline, "scheduled")
    with SmtpSink() as sink:
        server = enabled_smtp_server(
            tenant, "scheduled", sink.port, identity={"from_domains": ["sender.example"]}
        )

        # A From outside the server's identity domains is refused at launch, naming the field.
        elsewhere = draft_campaign(
            tenant, ["y@example.com"], CONTENT.model_copy(update={"from_address": "news@elsewhere.example"})
        )
        with pytest.raises(ApiError) as refused:
            tenant.launch(elsewhere.id)
        assert refused.value.status_code == 422
        assert "sender.example" in str(refused.value.detail)

        campaign = draft_campaign(tenant, recipient_addresses(RECIPIENTS), CONTENT)
        tenant.set_sending_policy(campaign.id, {server.id: 1.0})
        received_before = len(sink.messages)
        send_at = datetime.now(UTC) + timedelta(seconds=AHEAD_SECONDS)
        launched = tenant.call(
            "POST",
            f"{pipeline.scheduler_url}/campaigns/{campaign.id}/launch",
            {"send_at": send_at.isoformat(), "time_zone": "Europe/Paris"},
        )
        assert launched["state"] == "scheduled"

        # Not before its time: nothing expanded, nothing received.
        while datetime.now(UTC) < send_at - timedelta(seconds=0.5):
            report = tenant.campaign(campaign.id)
            assert report.state == "scheduled", report
            assert len(sink.messages) == received_before
            time.sleep(0.25)

        done = wait_for_state(tenant, campaign.id, "completed", timeout_seconds=60)
        first_received = datetime.now(UTC)
        assert done.counts.get("sent") == RECIPIENTS
        assert len(sink.messages) - received_before == RECIPIENTS
        assert first_received >= send_at
        listed = tenant.call("GET", f"{pipeline.scheduler_url}/campaigns?state=completed")
        [shown] = [c for c in listed["campaigns"] if c["id"] == str(campaign.id)]
        assert datetime.fromisoformat(shown["send_at"]) == send_at
        assert shown["time_zone"] == "Europe/Paris"
