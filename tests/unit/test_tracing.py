"""One trace per message (`shared.tracing`): its trace id is the message id, each step's span is the
child of the one that published the message, and with no exporter configured nothing happens at all."""

import asyncio
from collections.abc import Iterator
from uuid import UUID, uuid4

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from pydantic import ValidationError

from shared import telemetry, tracing
from shared.batch_publishing import _with_traceparent
from shared.contracts import (
    DeliveryRequested,
    MessageContent,
    MessageStatus,
    RoutingDecision,
    SendBatch,
    SendRequested,
)

CONTENT = MessageContent(from_address="n@example.com", subject="Hi")


def send(traceparent: str | None = None) -> SendRequested:
    return SendRequested(
        message_id=uuid4(),
        tenant_id=uuid4(),
        campaign_id=uuid4(),
        run_id=uuid4(),
        recipient="a@example.com",
        content=CONTENT,
        traceparent=traceparent,
    )


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=tracing.MessageTraceIds())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    try:
        yield exporter
    finally:
        tracing.disable()
        provider.shutdown()


def test_a_messages_first_span_is_a_root_whose_trace_id_is_the_message_id(spans):
    message_id = uuid4()
    with tracing.message_span("scheduler.expand", message_id, None) as span:
        assert span is not None
        traceparent = tracing.current_traceparent()
    [finished] = spans.get_finished_spans()
    assert finished.parent is None
    assert UUID(int=finished.context.trace_id) == message_id
    assert finished.attributes[tracing.MESSAGE_ID_ATTRIBUTE] == str(message_id)
    assert (
        traceparent
        == f"00-{message_id.hex}-{finished.context.span_id:016x}-{int(finished.context.trace_flags):02x}"
    )
    assert finished.context.trace_flags.sampled


def test_a_later_step_is_the_child_of_the_span_that_published_the_message(spans):
    message_id = uuid4()
    with tracing.message_span("router.route", message_id, None):
        published_from = tracing.current_traceparent()
    with tracing.message_span("delivery.deliver", message_id, published_from):
        pass
    route, deliver = spans.get_finished_spans()
    assert deliver.parent is not None and deliver.parent.span_id == route.context.span_id
    assert deliver.context.trace_id == route.context.trace_id == message_id.int


def test_a_recipients_span_links_to_the_batch_it_came_in(spans):
    batch_tracer = tracing._tracer  # the enabled provider's tracer: a "consume" span of a batch
    with (
        batch_tracer.start_as_current_span("sendpool.send process") as batch,
        tracing.message_span("router.route", uuid4(), None),
    ):
        pass
    route = next(span for span in spans.get_finished_spans() if span.name == "router.route")
    assert route.parent is None, "the recipient's trace is its own, not the batch's"
    assert [link.context.span_id for link in route.links] == [batch.get_span_context().span_id]


def test_an_exception_marks_the_span_failed_and_still_ends_it(spans):
    with pytest.raises(RuntimeError), tracing.message_span("router.route", uuid4(), None):
        raise RuntimeError("no server")
    [failed] = spans.get_finished_spans()
    assert not failed.status.is_ok and failed.events[0].name == "exception"


def test_spans_of_many_messages_at_once_are_each_in_their_messages_trace(spans):
    delivered = send()
    with tracing.message_span("delivery.deliver", delivered.message_id, None):
        sent = delivered.status_event(MessageStatus.SENT)
        sent = sent.model_copy(update={"traceparent": tracing.current_traceparent()})
    new = send().status_event(MessageStatus.SENT)  # from an earlier version: no traceparent
    with tracing.message_spans(
        "scheduler.fold_status", [sent, new], attributes=tracing.status_attributes
    ) as folded:
        assert len(folded) == 2
        assert tracing.traceparent_of(folded[1]).startswith(f"00-{new.message_id.hex}-")
    deliver, fold_sent, fold_new = spans.get_finished_spans()
    assert fold_sent.parent.span_id == deliver.context.span_id
    assert fold_new.parent is None and fold_new.context.trace_id == new.message_id.int
    assert fold_sent.attributes["sendpool.status"] == "sent"


def test_a_message_published_from_a_span_carries_it_whatever_its_shape():
    traceparent = f"00-{uuid4().hex}-{'1' * 16}-01"
    message = send()
    request = DeliveryRequested(
        send=message, server_id=uuid4(), vendor="smtp", decision=RoutingDecision(mode="use_all", weights={})
    )
    assert _with_traceparent(message, traceparent).traceparent == traceparent
    assert _with_traceparent(message.status_event(MessageStatus.SENT), traceparent).traceparent == traceparent
    queue, stamped = _with_traceparent(("delivery.smtp.x", request), traceparent)
    assert queue == "delivery.smtp.x" and stamped.send.traceparent == traceparent
    # Through a batch and back, as the next service reads it.
    [batch] = SendBatch.of([_with_traceparent(message, traceparent)])
    [again] = SendBatch.model_validate_json(batch.model_dump_json()).sends()
    assert again.traceparent == traceparent


def test_the_contracts_refuse_anything_but_a_w3c_traceparent_and_accept_none():
    assert send().traceparent is None
    older = send().model_dump(mode="json")
    del older["traceparent"]
    assert SendRequested.model_validate(older).traceparent is None
    for bad in ("00-xyz", f"00-{uuid4().hex}-{'1' * 16}-01\nX-Injected: 1", "a" * 5000):
        with pytest.raises(ValidationError):
            send(bad)


def test_unsampled_spans_give_no_traceparent(spans):
    provider = TracerProvider(id_generator=tracing.MessageTraceIds(), sampler=ALWAYS_OFF)
    tracing.enable(provider)
    with tracing.message_span("router.route", uuid4(), None):
        assert tracing.current_traceparent() is None


def test_with_tracing_off_nothing_is_traced_nor_stamped():
    assert not tracing.ENABLED

    def never_iterated():
        raise AssertionError("the messages were looked at")
        yield  # pragma: no cover

    message_id = uuid4()
    with tracing.message_span("router.route", message_id, None) as span:
        assert span is None
        assert tracing.current_traceparent() is None
        assert tracing.current_message_id() == message_id, "the logs still say which message"
    assert tracing.current_message_id() is None
    with tracing.message_spans("scheduler.fold_status", never_iterated()) as spans:
        assert spans == ()
    with tracing.child_span("smtp.send") as child:
        assert child is None


def test_log_lines_carry_the_message_and_trace_ids(spans):
    message_id = uuid4()
    with tracing.message_span("delivery.deliver", message_id, None) as span:
        line = telemetry._add_trace_ids(None, "info", {"event": "message delivery concluded"})
    assert line["message_id"] == str(message_id)
    assert line["trace_id"] == message_id.hex
    assert line["span_id"] == f"{span.get_span_context().span_id:016x}"
    assert "trace_id" not in telemetry._add_trace_ids(None, "info", {"event": "between messages"})


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
    ],
)
def test_tracing_is_on_only_when_an_exporter_is_configured(env, on):
    assert telemetry.tracing_configured(env) is on


def test_a_traced_http_requests_url_is_kept_without_its_query_string(spans):
    with tracing._tracer.start_as_current_span("POST") as span:
        span.set_attribute("url.full", "https://user:pw@hooks.example/in?token=secret-token")
        request = httpx.Request("POST", "https://user:pw@hooks.example/in?token=secret-token")
        asyncio.run(telemetry._without_query_async(span, request))
    [finished] = spans.get_finished_spans()
    assert finished.attributes["url.full"] == "https://hooks.example/in"
