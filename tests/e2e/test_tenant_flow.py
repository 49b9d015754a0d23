"""A tenant's whole flow through the real services (issue 13; the README's "A tenant's flow"): its
token, a webhook endpoint, a CSV import with a custom field, a personalized campaign, then the report,
the per-message timeline, and the public stream's events at the endpoint, signed and each once."""

import json
from uuid import UUID

import pytest
from standardwebhooks import Webhook

from shared.contracts import MessageContent
from tests.support.api import tenant_of
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually
from tests.support.webhook_receiver import WebhookReceiver
from tools.stack.campaigns import enabled_smtp_server, wait_for_state

pytestmark = pytest.mark.e2e

RECIPIENTS = 40
CSV = "email,name,plan\n" + "".join(
    f"reader{n}@flow.example,Reader {n},{'gold' if n % 2 else 'silver'}\n" for n in range(RECIPIENTS)
)
CONTENT = MessageContent(
    from_address="news@sender.example",
    subject="{{ first_name }}: your {{ plan }} plan",
    text="Hello {{ name }}",
)


def test_a_tenant_runs_a_campaign_and_its_systems_hear_every_event_once(pipeline):
    tenant = tenant_of(pipeline, "flow")
    with SmtpSink() as sink, WebhookReceiver() as receiver:
        server = enabled_smtp_server(tenant, "flow-sink", sink.port)
        endpoint = tenant.call(
            "POST",
            f"{pipeline.webhooks_url}/webhooks/endpoints",
            {"url": receiver.url("/hooks"), "event_types": ["sent", "campaign_completed"]},
        )
        # The first request fails: the endpoint catches up with a retry, batched.
        receiver.failures_first["/hooks"] = 1

        mailing_list = tenant.create_list("flow")
        report = tenant.import_csv(mailing_list.id, CSV + "not-an-address,X,gold\n")
        assert (report["added"], report["rows_read"], sum(report["refused"].values())) == (RECIPIENTS, 41, 1)

        campaign = tenant.create_campaign("flow", list_id=mailing_list.id, content=CONTENT)
        tenant.set_sending_policy(campaign.id, {server.id: 1})
        tenant.launch(campaign.id)
        done = wait_for_state(tenant, campaign.id, "completed", timeout_seconds=90)
        assert done.counts.get("sent") == RECIPIENTS, done.counts
        assert sorted(m.data.split(b"Subject: ")[1].split(b"\r\n")[0] for m in sink.messages)[:1] == [
            b"Reader: your gold plan"
        ]

        # ---- the endpoint hears every sent event once, and the completion, each signature valid
        def events_at_endpoint() -> dict[str, dict]:
            seen: dict[str, dict] = {}
            for request in receiver.received("/hooks", accepted_only=True):
                payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
                for event in payload["data"]["events"] if payload["type"] == "batch" else [payload["data"]]:
                    assert event["event_id"] not in seen, "an event was delivered twice"
                    seen[event["event_id"]] = event
            return seen

        eventually(
            lambda: len(events_at_endpoint()) == RECIPIENTS + 1,
            timeout_seconds=30,
            what=f"{RECIPIENTS} sent events and campaign_completed at the endpoint",
        )
        events = list(events_at_endpoint().values())
        assert sorted(e["type"] for e in events) == ["campaign_completed"] + ["sent"] * RECIPIENTS
        assert {e["campaign_id"] for e in events} == {str(campaign.id)}
        assert {e["recipient"] for e in events if e["type"] == "sent"} == {
            f"reader{n}@flow.example" for n in range(RECIPIENTS)
        }
        assert len(receiver.received("/hooks")) > len(receiver.received("/hooks", accepted_only=True))

        # ---- one message's timeline: routed (with the decision) then sent, on the chosen server
        message_id = UUID(next(e["message_id"] for e in events if e["type"] == "sent"))
        timeline = tenant.call("GET", f"{pipeline.events_url}/messages/{message_id}/events")["events"]
        assert [e["type"] for e in timeline] == ["routed", "sent"], json.dumps(timeline)
        assert timeline[0]["details"]["decision"]["weights"] == {str(server.id): 1.0}
        assert timeline[1]["server_id"] == str(server.id)

        # ---- the delivery log shows the failed request and the ones that followed
        log = tenant.call("GET", f"{pipeline.webhooks_url}/webhooks/endpoints/{endpoint['id']}/deliveries")
        statuses = [entry["status_code"] for entry in log["items"]]
        assert 500 in statuses and 200 in statuses, log
