"""Structured logs (structlog) and traces (OpenTelemetry) configured the same way in every service."""

import logging
import re
import sys

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from structlog.typing import EventDict, Processor, WrappedLogger

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
            _drop_secrets,
            *_renderers(json_logs),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(
            TracerProvider(resource=Resource.create({"service.name": f"sendpool-{service}"}))
        )
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(service=service)
    return logger
