"""Structured logs (structlog) and traces (OpenTelemetry) configured the same way in every service."""

import logging
import sys

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from structlog.typing import EventDict, WrappedLogger

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


def _drop_secrets(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    # A last line of defence: a secret that reaches a log call by mistake is masked, never written.
    for key in event.keys() & _SECRET_KEYS:
        event[key] = "***"
    return event


def configure(service: str, level: str = "INFO", json_logs: bool = False) -> structlog.stdlib.BoundLogger:
    """Set up logging and tracing for one service process; returns its logger."""
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(message)s")
    renderer = (
        structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_secrets,
            renderer,
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
