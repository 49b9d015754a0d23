"""One trace per message: the spans of each recipient's handling, in every service, under the message id.

A message's trace id is its message id's 128 bits, so an operator who has a message id (from a status
event, a log line, the API) has its trace. The scheduler starts the trace when it expands the
recipient (`message_spans` without a parent: a root whose trace id is the message id); every later
step is a span whose parent is the W3C `traceparent` the message carried (`SendRequested`,
`BatchRecipient`, `StatusEvent`), and whatever a step publishes about the message carries the step's
own span (`current_traceparent`, stamped by `shared.batch_publishing`). A message that arrives
without one (published by an earlier version) starts its trace where it is, with the same trace id.

Messages travel in batches: the broker's spans (FastStream's telemetry middleware: publish, consume)
are per batch, in traces of their own, and every recipient's span links to the consume span of the
batch it came in, so the batch's work and each message's trace lead to each other.

Off unless `shared.telemetry.configure` found an exporter configured (`enable`): then every function
here is a module-level check and a shared no-op, and nothing is stamped into the messages.
`message_span` still tells the logs which message is being handled (`current_message_id`).
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Link, Span, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

MESSAGE_ID_ATTRIBUTE = "sendpool.message_id"

ENABLED = False
"""Set once by `enable` (`shared.telemetry.configure`, when an exporter is configured)."""

Attributes = Mapping[str, AttributeValue]

_tracer: Tracer = trace.NoOpTracer()
_PROPAGATOR = TraceContextTextMapPropagator()
_OFF: AbstractContextManager[None] = nullcontext()
_NO_SPANS: AbstractContextManager[Sequence[Span]] = nullcontext(())

_root_trace_id: ContextVar[int | None] = ContextVar("sendpool_root_trace_id", default=None)
"""The trace id a root span started now gets (`MessageTraceIds`): the message's id, while its span starts."""

_message_id: ContextVar[UUID | None] = ContextVar("sendpool_message_id", default=None)


class Traced(Protocol):
    """A message as a contract carries it: its id and the span it was published from."""

    @property
    def message_id(self) -> UUID: ...

    @property
    def traceparent(self) -> str | None: ...


T = TypeVar("T", bound=Traced)


class MessageTraceIds(RandomIdGenerator):
    """Trace ids for the SDK's tracer provider: the message's id for the root span of a message's
    trace (started here, `_start`), a random one for any other root (a batch's publish, a query)."""

    def generate_trace_id(self) -> int:
        wanted = _root_trace_id.get()
        return wanted if wanted is not None else super().generate_trace_id()


def enable(provider: TracerProvider) -> None:
    """Trace from now on, through `provider` (whose id generator must be `MessageTraceIds`)."""
    global ENABLED, _tracer
    _tracer = provider.get_tracer("sendpool")
    ENABLED = True


def disable() -> None:
    """Back to no tracing at all (tests)."""
    global ENABLED, _tracer
    _tracer = trace.NoOpTracer()
    ENABLED = False


def current_message_id() -> UUID | None:
    """The message whose `message_span` is open here (its id goes into every log line written)."""
    return _message_id.get()


def message_span(
    name: str,
    message_id: UUID,
    traceparent: str | None,
    *,
    links: Sequence[Link] = (),
    attributes: Attributes | None = None,
) -> AbstractContextManager[Span | None]:
    """The span of one message's step, current inside the block; None when tracing is off.

    Its parent is `traceparent` (the span that published the message), or, without one, none: a
    root whose trace id is the message id. It links to the span current when it starts (the
    consume span of the batch the message came in) and to `links`. An exception leaving the block
    marks the span as failed. Tracing on or off, the block's log lines carry `message_id`."""
    return _MessageScope(name, message_id, traceparent, links, attributes)


def message_spans(
    name: str,
    messages: Iterable[T],
    *,
    attributes: Attributes | Callable[[T], Attributes] | None = None,
) -> AbstractContextManager[Sequence[Span]]:
    """A span per message, as `message_span`'s but none of them current, open for the block: a step
    done for many messages at once (a batch expanded, statuses folded in one write). `attributes`
    are every span's, or each message's (a function of it). Empty when off; `messages` is then not
    even looked at."""
    if not ENABLED:
        return _NO_SPANS
    return _SpanGroup(name, messages, attributes)


def status_attributes(event: Any) -> Attributes:
    """A status event's span attributes (`message_spans(..., attributes=status_attributes)`)."""
    return {"sendpool.status": str(event.status)}


def child_span(name: str, attributes: Attributes | None = None) -> AbstractContextManager[Span | None]:
    """A span under the current one (an SMTP transaction within a delivery); None when off."""
    if not ENABLED:
        return _OFF
    return _tracer.start_as_current_span(name, attributes=attributes)


def annotate(attributes: Attributes) -> None:
    """Add `attributes` to the current span (an outcome, once it is known)."""
    if ENABLED:
        trace.get_current_span().set_attributes(attributes)


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, for a message published from it; None when off or
    when the span is not recorded (not sampled: the next step samples the same trace id again)."""
    if not ENABLED:
        return None
    return traceparent_of(trace.get_current_span())


def traceparent_of(span: Span) -> str | None:
    if not span.is_recording():
        return None
    found = span.get_span_context()
    return f"00-{found.trace_id:032x}-{found.span_id:016x}-{int(found.trace_flags):02x}"


def detached() -> AbstractContextManager[Any]:
    """No span current inside the block: work done for many messages at once (publishing a batch
    several messages' steps handed in) belongs to none of their traces."""
    if not ENABLED:
        return _OFF
    return _Detached()


def _parent(traceparent: str | None) -> otel_context.Context:
    if traceparent:
        extracted = _PROPAGATOR.extract({"traceparent": traceparent})
        if trace.get_current_span(extracted).get_span_context().is_valid:
            return extracted
    return otel_context.Context()  # a root: its trace id is the message's (`MessageTraceIds`)


def _start(
    name: str,
    message_id: UUID,
    traceparent: str | None,
    links: Sequence[Link],
    attributes: Attributes | None,
) -> Span:
    batch = trace.get_current_span().get_span_context()
    all_links = [Link(batch), *links] if batch.is_valid else list(links)
    token = _root_trace_id.set(message_id.int)
    try:
        return _tracer.start_span(
            name,
            context=_parent(traceparent),
            links=all_links,
            attributes={**(attributes or {}), MESSAGE_ID_ATTRIBUTE: str(message_id)},
        )
    finally:
        _root_trace_id.reset(token)


def _finish(span: Span, error: BaseException | None) -> None:
    if isinstance(error, Exception):
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    span.end()


class _MessageScope(AbstractContextManager["Span | None"]):
    __slots__ = ("_args", "_message_token", "_span", "_span_token")

    def __init__(
        self,
        name: str,
        message_id: UUID,
        traceparent: str | None,
        links: Sequence[Link],
        attributes: Attributes | None,
    ) -> None:
        self._args = (name, message_id, traceparent, links, attributes)
        self._span: Span | None = None
        self._span_token: object = None
        self._message_token: Token[UUID | None] | None = None

    def __enter__(self) -> Span | None:
        self._message_token = _message_id.set(self._args[1])
        if not ENABLED:
            return None
        span = self._span = _start(*self._args)
        self._span_token = otel_context.attach(trace.set_span_in_context(span))
        return span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._span is not None:
            otel_context.detach(self._span_token)  # type: ignore[arg-type]
            _finish(self._span, exc)
        if self._message_token is not None:
            _message_id.reset(self._message_token)


class _SpanGroup(AbstractContextManager[Sequence[Span]], Generic[T]):
    def __init__(
        self, name: str, messages: Iterable[T], attributes: Attributes | Callable[[T], Attributes] | None
    ) -> None:
        self._spans = [
            _start(
                name,
                message.message_id,
                message.traceparent,
                (),
                attributes(message) if callable(attributes) else attributes,
            )
            for message in messages
        ]

    def __enter__(self) -> Sequence[Span]:
        return self._spans

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for span in self._spans:
            _finish(span, exc)


class _Detached(AbstractContextManager[None]):
    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = otel_context.attach(otel_context.Context())

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        otel_context.detach(self._token)
