"""One trace per message, across every service, and log lines that lead to it without telling secrets.

A stack of its own (catalog, scheduler, router, delivery, bounces, events) exports its spans to an
OTLP/HTTP receiver in this process (`tests.support.otlp_receiver`), as it would to a collector: the
standard `OTEL_EXPORTER_OTLP_ENDPOINT` is all it is told. Its logs are JSON at DEBUG, the most an
operator chasing a problem would turn on.
"""

import json
from uuid import UUID, uuid4

import pytest

from tests.support.api import tenant_of
from tests.support.otlp_receiver import ReceivedSpan, otlp_receiver
from tests.support.secrets_search import search
from tests.support.smtp import SmtpSink
from tests.support.stacks import isolated_stack
from tests.support.waiting import eventually
from tools.stack.campaigns import campaign_content, draft_campaign, recipient_addresses, wait_for_state

pytestmark = pytest.mark.e2e

RUN = uuid4().hex[:8]
RECIPIENTS = 5
SMTP_LOGIN = "relay-user"
SMTP_PASSWORD = f"smtp-password-{RUN}-traces"
# Distinctive, so that finding one in a log can only mean the message's content was logged.
SUBJECT = f"Subject-{RUN}-never-logged"
TEXT = f"text-body-{RUN}-never-logged"
HTML = f"<p>html-body-{RUN}-never-logged</p>"

WAVES = (("catalog",), ("delivery", "router", "scheduler", "bounces", "events"))


@pytest.fixture(scope="module")
def traced(service_env, logs_dir):
    with otlp_receiver() as receiver:
        env = {
            **service_env,
            "SENDPOOL_DELIVERY_VENDOR": "smtp",
            "SENDPOOL_LOG_LEVEL": "DEBUG",
            "SENDPOOL_LOG_JSON": "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds between exports
        }
        with isolated_stack(
            logs_dir / "traces", env, service_env["SENDPOOL_OPERATOR_TOKEN"], WAVES, name="sendpool-traces"
        ) as stack:
            yield stack, receiver


@pytest.fixture(scope="module")
def campaign(traced):
    """A campaign of a few recipients, sent through an SMTP relay that wants a password."""
    stack, _ = traced
    tenant = tenant_of(stack, "traces")
    with SmtpSink(auth=(SMTP_LOGIN, SMTP_PASSWORD)) as relay:
        server = tenant.create_smtp_server(
            "relay",
            host="127.0.0.1",
            port=relay.port,
            encryption="none",
        )
        tenant.change_server(
            server.id,
            settings={
                "host": "127.0.0.1",
                "port": relay.port,
                "encryption": "none",
                "username": SMTP_LOGIN,
                "password": SMTP_PASSWORD,
            },
        )
        assert tenant.test_server(server.id).ok
        tenant.enable_server(server.id)
        content = campaign_content(from_address="news@sender.example", subject=SUBJECT, text=TEXT, html=HTML)
        campaign = draft_campaign(tenant, recipient_addresses(RECIPIENTS), content)
        tenant.launch(campaign.id)
        status = wait_for_state(tenant, campaign.id, "completed", timeout_seconds=60)
        assert status.counts.get("sent") == RECIPIENTS
        assert len(relay.messages) == RECIPIENTS
    return campaign.id


def one(spans: list[ReceivedSpan], name: str, **attributes: str) -> ReceivedSpan:
    found = [
        span
        for span in spans
        if span.name == name and all(span.attributes.get(key) == value for key, value in attributes.items())
    ]
    assert len(found) == 1, f"{name} {attributes}: {len(found)} spans in {[s.name for s in spans]}"
    return found[0]


def test_one_messages_spans_form_one_trace_from_expansion_to_its_folded_status(traced, campaign):
    stack, receiver = traced
    expansions = [
        span
        for span in receiver.spans
        if span.name == "scheduler.expand" and span.attributes.get("sendpool.campaign_id") == str(campaign)
    ]
    assert len(expansions) == RECIPIENTS
    expand = expansions[0]
    message_id = UUID(expand.attributes["sendpool.message_id"])
    assert expand.trace_id == message_id.int, "a message's trace id is its message id"
    assert expand.parent_span_id is None and expand.service == "sendpool-scheduler"

    expected = {
        ("scheduler.expand", "sendpool-scheduler"),
        ("router.route", "sendpool-router"),
        ("delivery.deliver", "sendpool-delivery-smtp"),
        ("smtp.send", "sendpool-delivery-smtp"),
        ("scheduler.fold_status", "sendpool-scheduler"),
        ("events.publish", "sendpool-events"),
        ("bounces.count", "sendpool-bounces"),
    }

    def whole_trace() -> list[ReceivedSpan] | None:
        spans = receiver.trace(message_id.int)
        have = {(span.name, span.service) for span in spans}
        sent_folded = any(
            s.name == "scheduler.fold_status" and s.attributes.get("sendpool.status") == "sent" for s in spans
        )
        return spans if expected <= have and sent_folded else None

    spans = eventually(whole_trace, what="every service's spans of the message", timeout_seconds=20)
    assert all(
        span.attributes.get("sendpool.message_id") == str(message_id)
        for span in spans
        if "." in span.name
        and span.name.split(".")[0] in {"scheduler", "router", "delivery", "events", "bounces"}
    )

    # Parent to child, through the traceparent each message carried from the step that published it.
    route = one(spans, "router.route")
    deliver = one(spans, "delivery.deliver")
    smtp = one(spans, "smtp.send")
    assert route.parent_span_id == expand.span_id
    assert route.attributes["sendpool.route.outcome"] == "routed"
    server_id = route.attributes["sendpool.server_id"]
    assert deliver.parent_span_id == route.span_id and deliver.attributes["sendpool.server_id"] == server_id
    assert deliver.attributes["sendpool.outcome"] == "sent"
    assert smtp.parent_span_id == deliver.span_id
    assert smtp.attributes["sendpool.outcome"] == "sent" and smtp.attributes["sendpool.reply_code"] == 250
    # `routed` was published by the router's span, `sent` by the delivery's.
    assert (
        one(spans, "scheduler.fold_status", **{"sendpool.status": "routed"}).parent_span_id == route.span_id
    )
    assert (
        one(spans, "scheduler.fold_status", **{"sendpool.status": "sent"}).parent_span_id == deliver.span_id
    )
    assert one(spans, "events.publish", **{"sendpool.status": "sent"}).parent_span_id == deliver.span_id
    assert one(spans, "bounces.count", **{"sendpool.status": "sent"}).parent_span_id == deliver.span_id

    # Batches travel in traces of their own; each recipient's span links to the consume span of its
    # batch, whose parent is the publish in the service that sent the batch.
    for span, consumer, producer in (
        (route, "sendpool-router", "sendpool-scheduler"),
        (deliver, "sendpool-delivery-smtp", "sendpool-router"),
    ):
        [(link_trace, link_span)] = span.links
        consumed = receiver.by_span_id(link_span)
        assert consumed is not None and consumed.service == consumer and consumed.trace_id == link_trace
        assert consumed.trace_id != message_id.int
        published = receiver.by_span_id(consumed.parent_span_id)
        assert published is not None and published.service == producer

    # Span names are bounded like metric labels (by servers, never by tenants, campaigns or
    # messages): a status batch's routing key names the tenant and the campaign, which stay in its
    # attributes, out of the name a backend groups spans by.
    status_spans = [span for span in receiver.spans if span.name.startswith("sendpool.status.")]
    assert status_spans, "the status batches' publish and consume spans were exported"
    for span in receiver.spans:
        assert str(campaign) not in span.name and str(message_id) not in span.name, span.name
    assert {span.name for span in status_spans} >= {"sendpool.status.*.*.sent create"}


def test_json_logs_at_debug_carry_message_and_trace_ids_and_no_body_or_secret(traced, campaign):
    stack, receiver = traced
    stack.stop(timeout=30)  # every line written
    logs = {path.name: path.read_text() for path in sorted((stack.logs_dir).glob("*.log"))}
    assert set(logs) >= {"catalog.log", "scheduler.log", "router.log", "delivery.log", "events.log"}

    # The message's content, in any form a log could hold it.
    for name, text in logs.items():
        for body in (SUBJECT, TEXT, HTML, "never-logged"):
            assert body not in text, f"{name} logs the message's content"
    secrets = {
        "SMTP password": SMTP_PASSWORD,
        "operator token": stack.operator_token,
        **{
            name: stack.env[variable]
            for name, variable in (
                ("VERP secret", "SENDPOOL_VERP_SECRET"),
                ("unsubscribe secret", "SENDPOOL_UNSUBSCRIBE_SECRET"),
                ("token secret", "SENDPOOL_TOKEN_SECRET"),
                ("catalog secret key", "SENDPOOL_CATALOG_SECRET_KEYS"),
            )
        },
    }
    assert search(secrets, logs.items()) == []

    # A line written while a message was being delivered says which message, and which trace.
    lines = [json.loads(line) for line in logs["delivery.log"].splitlines() if line.startswith("{")]
    concluded = [line for line in lines if line.get("event") == "message delivery concluded"]
    assert len(concluded) >= RECIPIENTS
    for line in concluded:
        assert UUID(line["trace_id"]) == UUID(line["message_id"])
        assert len(line["span_id"]) == 16
