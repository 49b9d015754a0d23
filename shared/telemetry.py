"""Structured logs (structlog) and traces (OpenTelemetry) configured the same way in every service.

Tracing is on only when an exporter is configured by the standard variables (`tracing_configured`):
then spans go through a batch span processor to the OTLP/HTTP exporter (which reads
`OTEL_EXPORTER_OTLP_*` itself), sampled as `OTEL_TRACES_SAMPLER` says, and asyncpg and httpx are
instrumented. Otherwise OpenTelemetry's no-op provider stays, the broker gets no telemetry
middleware, and `shared.tracing` does nothing: tracing costs nothing when nobody collects it.
"""

import asyncio
import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from structlog.typing import EventDict, Processor, WrappedLogger

from shared import tracing

_SECRET_KEYS = frozenset(
    {
        "password",
        "secret",
        "api_key",
        "secret_access_key",
        "refresh_token",
        "private_key",
        "token",
        "client_secret",
        "dkim_private_key",
        "server_key",
        "access_token",
    }
)


WIRE_LOGGERS = ("aiormq", "aio_pika", "aiosmtplib", "httpcore", "hpack")
"""Libraries that log at DEBUG what they put on the wire, bodies included: a catalog answering a
delivery worker's `ServerSettingsRequest` would write the server's password and DKIM key to its log.
They stay at INFO whatever the service's level."""


def _drop_secrets(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    # A last line of defence: a secret that reaches a log call by mistake is masked, never written.
    for key in event.keys() & _SECRET_KEYS:
        event[key] = "***"
    return event


_SECRET_QUERY = re.compile(r"(?i)([?&](?:token|key|secret|password|signature)=)[^&\s\"]*")


class RedactQuerySecrets(logging.Filter):
    """uvicorn's access log writes each request's path with its query string: a secret given there
    (the `token` of Elastic Email's notification URL, `/webhooks/elasticemail/...?token=`) is masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SECRET_QUERY.sub(r"\1***", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def _renderers(json_logs: bool) -> list[Processor]:
    """How a line is written, tracebacks included, as plain Python tracebacks in both formats.

    A traceback that shows the local variables of its frames (rich's, structlog's default when rich
    is installed, and `dict_tracebacks`) prints whatever the failing code held: a decrypted password,
    an API key, a DKIM key. Only file, line and code are written."""
    if json_logs:
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    return [structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)]


def _add_trace_ids(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """The message being handled (`shared.tracing.message_span`) and, when tracing, the current
    span: a log line leads to the message's trace, and the trace to its log lines."""
    message_id = tracing.current_message_id()
    if message_id is not None:
        event.setdefault("message_id", str(message_id))
    if tracing.ENABLED:
        found = trace.get_current_span().get_span_context()
        if found.is_valid:
            event["trace_id"] = f"{found.trace_id:032x}"
            event["span_id"] = f"{found.span_id:016x}"
    return event


def tracing_configured(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard variables configure an exporter: an OTLP endpoint, or an
    `OTEL_TRACES_EXPORTER` other than `none`. `OTEL_SDK_DISABLED=true` turns tracing off whatever the rest."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporter_names(env)
    if exporters is not None:
        return bool(exporters)
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def _exporter_names(env: Mapping[str, str]) -> list[str] | None:
    """`OTEL_TRACES_EXPORTER` as a list (without `none`), or None when it is not set."""
    names = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not names:
        return None
    return [name.strip() for name in names.split(",") if name.strip() not in ("", "none")]


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter(out=sys.stderr)
    if name != "otlp":
        structlog.get_logger("telemetry").warning(
            "unknown OTEL_TRACES_EXPORTER; exporting with otlp (http/protobuf)", exporter=name
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _without_query(span: Any, request: Any) -> None:
    """httpx request hook: a URL is kept without its query string, where a webhook endpoint's or a
    vendor's token may be."""
    if not span.is_recording():
        return
    url = urlsplit(str(request.url))
    if url.query:
        bare = urlunsplit((url.scheme, url.netloc.rpartition("@")[2], url.path, "", ""))
        span.set_attributes({"url.full": bare, "http.url": bare})


async def _without_query_async(span: Any, request: Any) -> None:
    """`_without_query` for `httpx.AsyncClient`s (the instrumentation calls a coroutine function there)."""
    _without_query(span, request)


def _start_tracing(service: str) -> None:
    """An SDK tracer provider exporting this process's spans, asyncpg and httpx instrumented."""
    attributes = {"service.name": f"sendpool-{service}"}
    if instance_id := os.environ.get("SENDPOOL_INSTANCE_ID"):
        attributes["service.instance.id"] = instance_id
    # Resource.create adds OTEL_RESOURCE_ATTRIBUTES (ours win); the sampler comes from OTEL_TRACES_SAMPLER.
    provider = TracerProvider(resource=Resource.create(attributes), id_generator=tracing.MessageTraceIds())
    for name in _exporter_names(os.environ) or ["otlp"]:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    tracing.enable(provider)

    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    HTTPXClientInstrumentor().instrument(
        tracer_provider=provider, request_hook=_without_query, async_request_hook=_without_query_async
    )


def flush_traces() -> None:
    """Export the spans still buffered (at the process's shutdown; the SDK shuts down at exit)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(timeout_millis=5000)


async def flush_traces_async() -> None:
    """`flush_traces` as a shutdown hook, off the event loop (the export is an HTTP request)."""
    if tracing.ENABLED:
        await asyncio.to_thread(flush_traces)


def configure(service: str, level: str = "INFO", json_logs: bool = False) -> structlog.stdlib.BoundLogger:
    """Set up logging and tracing for one service process; returns its logger."""
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(message)s")
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level.upper())))
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(kept, RedactQuerySecrets) for kept in access.filters):
        access.addFilter(RedactQuerySecrets())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_trace_ids,
            _drop_secrets,
            *_renderers(json_logs),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    if not tracing.ENABLED and tracing_configured():
        _start_tracing(service)
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(service=service)
    return logger
