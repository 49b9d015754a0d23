"""The services of one run together: `Stack` starts them in waves (any number of replicas each),
starts one again, and stops them all; `running_stack` gives a run its own database and virtual host
and takes everything down again on the way out, whether the run ends normally, fails, or is interrupted."""

import logging
import signal
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from cryptography.fernet import Fernet

from ops.registry import SERVICES
from tools.stack.api import SendpoolApi
from tools.stack.infra import Infrastructure, fresh_database, fresh_vhost
from tools.stack.ports import free_port
from tools.stack.processes import REPO, ServiceFailed, ServiceProcess, stop_all, wait_until_healthy

log = logging.getLogger("sendpool.tools")

Waves = Sequence[Sequence[str]]
"""Replicas to start, a wave at a time: every replica of a wave starts at once, and the next wave
once all of them are healthy. A replica's label is its service's name, followed by `-2`, `-3`, …
for further replicas of the service; it names the replica's log too."""

ONE_OF_EACH: Waves = (
    # Catalog first: the router asks it for a snapshot when it starts, and the others need nothing.
    ("catalog",),
    tuple(entry.name for entry in SERVICES if entry.name != "catalog"),
)


WITH_CONSOLE: Waves = (*ONE_OF_EACH, ("console",))
"""Every service, then the web console (which is told where their APIs are)."""


def service_of(label: str) -> str:
    """`router-2` → `router`."""
    return label.partition("-")[0]


@dataclass
class Stack:
    """The services of one run, with the credentials a client needs to talk to them.

    `env` holds every service's settings (SENDPOOL_*); `services` maps each replica's label to its
    process once `start` has begun.
    """

    logs_dir: Path
    env: dict[str, str]
    operator_token: str
    http: httpx.Client
    waves: Waves = ONE_OF_EACH
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    bounce_smtp_ports: dict[str, int] = field(default_factory=dict)
    """Each bounces replica's bounce mail endpoint (SMTP, on 127.0.0.1), by label: where the Return-Path
    domain's MX would lead, and where a local sink sends its DSNs."""
    bounces_port: int = field(default_factory=free_port)
    """The first bounces replica's HTTP port, chosen up front: the delivery workers (which may start
    first) write its one-click unsubscribe URL into every message."""

    @property
    def catalog_url(self) -> str:
        return self.services["catalog"].url

    @property
    def bounces_url(self) -> str:
        return self.services["bounces"].url

    @property
    def bounce_smtp_port(self) -> int:
        return self.bounce_smtp_ports["bounces"]

    @property
    def scheduler_url(self) -> str:
        return self.services["scheduler"].url

    @property
    def events_url(self) -> str:
        return self.services["events"].url

    @property
    def webhooks_url(self) -> str:
        return self.services["webhooks"].url

    @property
    def database_url(self) -> str:
        return self.env["SENDPOOL_DATABASE_URL"]

    @property
    def amqp_url(self) -> str:
        return self.env["SENDPOOL_AMQP_URL"]

    @property
    def vhost(self) -> str:
        return self.amqp_url.rsplit("/", 1)[1]

    @property
    def console_url(self) -> str:
        return self.services["console"].url

    def console_settings(self) -> dict[str, str]:
        """Where the console finds the APIs (started before it), and plain-http cookies for 127.0.0.1."""
        return {
            "SENDPOOL_CONSOLE_CATALOG_URL": self.catalog_url,
            "SENDPOOL_CONSOLE_SCHEDULER_URL": self._url_of("scheduler"),
            "SENDPOOL_CONSOLE_ROUTER_URL": self._url_of("router"),
            "SENDPOOL_CONSOLE_SECURE_COOKIES": "false",
        }

    def _url_of(self, service: str) -> str:
        """A service's URL, or one where nothing listens when the run does not start it (the console
        then shows that service as unavailable on the pages that need it)."""
        found = self.services.get(service)
        return found.url if found is not None else "http://127.0.0.1:9"

    def operator_api(self) -> SendpoolApi:
        return SendpoolApi(self.http, self.catalog_url, self.scheduler_url, self.operator_token)

    def start(self, timeout: float = 60.0) -> None:
        for wave in self.waves:
            # Each is kept before it starts, so that one failing to start is stopped with the others.
            wait_until_healthy([self._new(label).spawn() for label in wave], timeout)
            log.info("healthy: %s", ", ".join(wave))

    def _new(self, label: str, port: int | None = None, log_name: str | None = None) -> ServiceProcess:
        log_path = self.logs_dir / f"{log_name or label}.log"
        env = self.env
        if service_of(label) == "bounces":
            # A port of its own for each replica's SMTP listener, kept when it is started again.
            if label not in self.bounce_smtp_ports:
                self.bounce_smtp_ports[label] = free_port()
            smtp_port = self.bounce_smtp_ports[label]
            env = {
                **env,
                "SENDPOOL_BOUNCES_SMTP_HOST": "127.0.0.1",
                "SENDPOOL_BOUNCES_SMTP_PORT": str(smtp_port),
            }
        if service_of(label) == "delivery":
            env = {**env, "SENDPOOL_DELIVERY_UNSUBSCRIBE_BASE_URL": f"http://127.0.0.1:{self.bounces_port}"}
        if label == "bounces":
            port = port or self.bounces_port
        if service_of(label) == "console":
            env = {**env, **self.console_settings()}
        self.services[label] = ServiceProcess(service_of(label), port or free_port(), env, log_path)
        return self.services[label]

    def start_again(
        self, label: str, *, timeout: float = 60.0, attempts: int = 1, log_name: str | None = None
    ) -> ServiceProcess:
        """Start a replica that has stopped or been killed again, on its old port (clients keep their
        URLs), and wait until it is healthy. One that fails is killed and tried again, `attempts`
        times in all. Its log goes on in the same file, or in `<log_name>.log`."""
        port = self.services[label].port
        for attempt in range(1, attempts + 1):
            service = self._new(label, port, log_name)
            try:
                return service.start(timeout)
            except ServiceFailed as error:
                service.kill()
                if attempt == attempts:
                    raise
                log.warning("%s did not come back (attempt %d): %s", label, attempt, error)
        raise ValueError(f"attempts must be at least 1, not {attempts}")

    def stop_service(self, label: str, timeout: float = 20.0) -> None:
        """Stop one replica (to measure the others alone); its peak memory is kept for the report."""
        self.services[label].stop(timeout=timeout)

    def mark_log(self, label: str, text: str) -> None:
        """A line in the replica's log, so that the log shows where something was done to it."""
        with self.services[label].log_path.open("a") as log_file:
            log_file.write(f"----- {time.strftime('%H:%M:%S')}: {text}\n")

    def peak_rss_mb(self) -> dict[str, float | None]:
        return {label: service.peak_rss_mb for label, service in self.services.items()}

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every service (they finish in-flight messages), then SIGKILL what is left at the deadline."""
        stop_all(self.services.values(), timeout)


# --------------------------------------------------------------------------- one run


def new_run_name(kind: str) -> str:
    """`demo-20260101-120000`: names the log folder, the database and the virtual host of one run."""
    return f"{kind}-{datetime.now():%Y%m%d-%H%M%S}"


def logs_dir(run_name: str) -> Path:
    path = REPO / "var" / run_name / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def configure_logging(handler: logging.Handler) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would drown the run's own


def _raise_system_exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def _signals_handled(handler: Callable[[int, FrameType | None], Any] | int, *signals: int) -> Iterator[None]:
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, earlier in previous.items():
            signal.signal(sig, earlier)


@contextmanager
def running_stack(
    run_name: str,
    *,
    infra: Infrastructure = Infrastructure(),
    log_level: str = "INFO",
    keep_database: bool = False,
    keep_vhost: bool = False,
    message_metrics: bool = True,
    settings: Mapping[str, str] | None = None,
    http_timeout: float = 60.0,
    waves: Waves = ONE_OF_EACH,
) -> Iterator[Stack]:
    """Start the services on a fresh database and vhost; stop them and clean up on exit.

    `settings` are further `SENDPOOL_*` variables for every service (they win over the others);
    `waves` says which replicas start, and in what order.
    """
    logs = logs_dir(run_name)
    operator_token = f"operator-{Fernet.generate_key().decode()}"
    # SIGTERM and SIGHUP unwind like Ctrl-C does, so the services are stopped whatever ends the run.
    with _signals_handled(_raise_system_exit, signal.SIGTERM, signal.SIGHUP), ExitStack() as cleanup:
        cleanup.callback(log.info, "cleaned up; logs in %s", logs)
        database_url = cleanup.enter_context(
            fresh_database(infra, f"sendpool_{run_name.replace('-', '_')}", keep=keep_database)
        )
        amqp_url = cleanup.enter_context(fresh_vhost(infra, f"sendpool-{run_name}", keep=keep_vhost))
        env = {
            "SENDPOOL_DATABASE_URL": database_url,
            "SENDPOOL_AMQP_URL": amqp_url,
            "SENDPOOL_OPERATOR_TOKEN": operator_token,
            "SENDPOOL_TOKEN_SECRET": Fernet.generate_key().decode(),
            # Random per run, like every secret here: the services refuse to start without them.
            "SENDPOOL_VERP_SECRET": Fernet.generate_key().decode(),
            "SENDPOOL_UNSUBSCRIBE_SECRET": Fernet.generate_key().decode(),
            "SENDPOOL_CATALOG_SECRET_KEYS": Fernet.generate_key().decode(),
            "SENDPOOL_WEBHOOKS_SECRET_KEYS": Fernet.generate_key().decode(),
            "SENDPOOL_CONSOLE_SESSION_KEYS": Fernet.generate_key().decode(),
            "SENDPOOL_LOG_LEVEL": log_level,
            "SENDPOOL_MESSAGE_METRICS": str(message_metrics).lower(),
            "SENDPOOL_DELIVERY_VENDOR": "smtp",  # the sinks speak SMTP; only the delivery workers read it
            # The sinks listen on this machine's unprivileged ports, which the egress policy refuses to
            # tenants' servers unless the operator allows them, as this local stack's operator does.
            "SENDPOOL_DELIVERY_EGRESS_ALLOW": "127.0.0.1/32:1024-65535",
            **(settings or {}),
        }
        http = cleanup.enter_context(httpx.Client(timeout=http_timeout))
        stack = Stack(logs, env, operator_token, http, waves)
        cleanup.callback(_stop_uninterrupted, stack)
        log.info("starting services; logs in %s", logs)
        stack.start()
        yield stack


def _stop_uninterrupted(stack: Stack) -> None:
    # A second Ctrl-C while the services stop would leave them running, orphaned.
    with _signals_handled(signal.SIG_IGN, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        log.info("stopping services")
        stack.stop()
