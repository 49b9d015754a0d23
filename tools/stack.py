"""Run the whole of sendpool on this machine, for `make demo` and `make bench`.

A run gets its own PostgreSQL database and RabbitMQ virtual host, starts the five services as
`faststream run` processes (logs in `var/<run>/logs/`), and takes everything down again on the
way out, whether the run ends normally, fails, or is interrupted. Local SMTP servers stand in
for the sending servers, and `SendpoolApi` drives the catalog and scheduler over HTTP.
"""

import ctypes
import logging
import multiprocessing
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, Self
from uuid import UUID

import httpx
import psycopg
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from pydantic import BaseModel, ConfigDict

from shared.cli import SERVICES
from shared.contracts import FINAL_STATUSES, MessageContent

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("sendpool.tools")

# Catalog first: the router asks it for a snapshot when it starts, and the others need nothing.
START_ORDER: tuple[tuple[str, ...], ...] = (
    ("catalog",),
    tuple(name for name in SERVICES if name != "catalog"),
)


class RunFailed(RuntimeError):
    """The run cannot go on (a service, an API call or the campaign failed); the message says why."""


@dataclass(frozen=True)
class Infrastructure:
    """Where the PostgreSQL and RabbitMQ servers that a run borrows live."""

    admin_database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    amqp_base_url: str = "amqp://guest:guest@127.0.0.1:5672"


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


_LOWEST_CHOSEN_PORT = 20000
_ports_handed_out: set[int] = set()
_ports_lock = threading.Lock()
_port_chooser = random.SystemRandom()  # untouched by any test that seeds `random`


def _ephemeral_port_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A local port that nothing is bound to, for a server that will bind it a little later.

    Chosen below the kernel's ephemeral range on purpose. Binding port 0 would return a port from
    that range, which the kernel also gives to every outgoing connection; in the moment between
    choosing and binding, a client connection (to RabbitMQ, PostgreSQL, or aiosmtpd's own
    readiness check) could take it, and the server failed with "address already in use". Ports
    below the range are only ever taken by a deliberate bind, and this process never hands one
    out twice.
    """
    ephemeral_low, ephemeral_high = _ephemeral_port_range()
    if ephemeral_low - _LOWEST_CHOSEN_PORT >= 1000:
        candidates = range(_LOWEST_CHOSEN_PORT, ephemeral_low)
    else:  # an unusual range: use the ports above it
        candidates = range(ephemeral_high + 1, 65536)
    with _ports_lock:
        for _ in range(1000):
            port = _port_chooser.choice(candidates)
            if port in _ports_handed_out:
                continue
            with socket.socket(socket.AF_INET, kind) as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _ports_handed_out.add(port)
            return port
    raise RunFailed(f"no free local port between {candidates.start} and {candidates.stop - 1}")


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RunFailed(f"nothing listens on 127.0.0.1:{port} after {timeout}s") from None
            time.sleep(0.05)


def _die_with_parent() -> None:
    """Run in a child before exec: the kernel sends it SIGTERM if this tool dies, even by SIGKILL."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


# --------------------------------------------------------------------------- database and vhost


def create_database(infra: Infrastructure, name: str) -> str:
    """An empty database (an old one of that name is dropped first); returns its URL."""
    drop_database(infra, name)
    with psycopg.connect(infra.admin_database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return infra.admin_database_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(infra: Infrastructure, name: str) -> None:
    with psycopg.connect(infra.admin_database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(infra: Infrastructure, name: str, *, keep: bool = False) -> Iterator[str]:
    """An empty database for one run; yields its URL and drops it afterwards unless `keep`."""
    url = create_database(infra, name)
    try:
        yield url
    finally:
        if keep:
            log.info("database %s kept", name)
        else:
            drop_database(infra, name)


def rabbitmqctl(*args: str) -> None:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RunFailed(f"rabbitmqctl {' '.join(args)} failed: {(done.stderr or done.stdout).strip()}")


def create_vhost(infra: Infrastructure, name: str) -> str:
    """An empty RabbitMQ virtual host, open to guest; returns its AMQP URL."""
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    except RunFailed:
        delete_vhost(name)
        raise
    return f"{infra.amqp_base_url}/{name}"


def delete_vhost(name: str) -> None:
    rabbitmqctl("delete_vhost", name)


@contextmanager
def fresh_vhost(infra: Infrastructure, name: str, *, keep: bool = False) -> Iterator[str]:
    """An empty RabbitMQ virtual host for one run, open to guest; yields its AMQP URL and deletes
    it afterwards unless `keep`."""
    try:
        yield create_vhost(infra, name)
    finally:
        if keep:
            log.info("virtual host %s kept", name)
        else:
            delete_vhost(name)


# --------------------------------------------------------------------------- services


class ServiceFailed(RunFailed):
    """A service exited or never became healthy; the message names its log file."""


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]
    _peak_rss_at_stop_mb: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def launch(cls, name: str, port: int, env: Mapping[str, str], log_path: Path) -> Self:
        command = [
            sys.executable, "-m", "faststream", "run",
            "--factory", f"services.{name}.entrypoints.main:create_app",
            "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
        with log_path.open("ab") as log_file:
            # Its own session, so a Ctrl-C in the terminal reaches this tool only and the services
            # are stopped in an orderly way rather than all at once by the same signal.
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=dict(env),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return cls(name, port, log_path, process)

    def is_healthy(self) -> bool:
        if self.process.poll() is not None:
            raise ServiceFailed(
                f"{self.name} exited with code {self.process.returncode}; see {self.log_path}"
            )
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 204
        except httpx.HTTPError:
            return False

    @property
    def peak_rss_mb(self) -> float | None:
        """The most resident memory the process has used (VmHWM), in MiB; None if it is not known."""
        if self.process.poll() is not None:
            return self._peak_rss_at_stop_mb
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return self._peak_rss_at_stop_mb
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        return round(int(found.group(1)) / 1024, 1) if found else None

    def terminate(self) -> None:
        if self.process.poll() is None:
            self._peak_rss_at_stop_mb = self.peak_rss_mb  # /proc forgets a process once it has exited
            self.process.terminate()

    def wait_or_kill(self, deadline: float) -> None:
        try:
            self.process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            log.warning("%s ignored SIGTERM; killing it", self.name)
            self.process.kill()
            self.process.wait()


@dataclass
class Stack:
    """The five services of one run, with the credentials a client needs to talk to them."""

    logs_dir: Path
    env: dict[str, str]
    operator_token: str
    http: httpx.Client
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def catalog_url(self) -> str:
        return self.services["catalog"].url

    @property
    def scheduler_url(self) -> str:
        return self.services["scheduler"].url

    @property
    def database_url(self) -> str:
        return self.env["SENDPOOL_DATABASE_URL"]

    @property
    def amqp_url(self) -> str:
        return self.env["SENDPOOL_AMQP_URL"]

    @property
    def vhost(self) -> str:
        return self.amqp_url.rsplit("/", 1)[1]

    def operator_api(self) -> "SendpoolApi":
        return SendpoolApi(self.http, self.catalog_url, self.scheduler_url, self.operator_token)

    def start(self, timeout: float = 60.0) -> None:
        for wave in START_ORDER:
            for name in wave:
                self._launch(name)
            self._wait_until_healthy([self.services[name] for name in wave], timeout)
            log.info("healthy: %s", ", ".join(wave))

    def _launch(self, name: str) -> ServiceProcess:
        env = {**self.env, "SENDPOOL_VENDOR": "smtp"} if name == "delivery" else self.env
        self.services[name] = ServiceProcess.launch(name, free_port(), env, self.logs_dir / f"{name}.log")
        return self.services[name]

    def restart_service(self, name: str, timeout: float = 60.0) -> None:
        """Start one service again after `stop_service`, and wait until it is healthy."""
        self._wait_until_healthy([self._launch(name)], timeout)

    def stop_service(self, name: str, timeout: float = 20.0) -> None:
        """Stop one service (to measure the others alone); its peak memory is kept for the report."""
        service = self.services[name]
        service.terminate()
        service.wait_or_kill(time.monotonic() + timeout)

    @staticmethod
    def _wait_until_healthy(services: Sequence[ServiceProcess], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(services)
        while waiting:
            waiting = [service for service in waiting if not service.is_healthy()]
            if waiting and time.monotonic() > deadline:
                names = ", ".join(f"{s.name} (see {s.log_path})" for s in waiting)
                raise ServiceFailed(f"not healthy after {timeout:.0f}s: {names}")
            time.sleep(0.2)

    def peak_rss_mb(self) -> dict[str, float | None]:
        return {name: service.peak_rss_mb for name, service in self.services.items()}

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every service (they finish in-flight messages), then SIGKILL what is left at the deadline."""
        for service in self.services.values():
            service.terminate()
        deadline = time.monotonic() + timeout
        for service in self.services.values():
            service.wait_or_kill(deadline)


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


StackFactory = Callable[[Path, dict[str, str], str, httpx.Client], Stack]


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
    stack_factory: StackFactory = Stack,
) -> Iterator[Stack]:
    """Start the services on a fresh database and vhost; stop them and clean up on exit.

    `settings` are further `SENDPOOL_*` variables for every service (they win over the others);
    `stack_factory` makes the `Stack` (say, one with replicas) from its logs folder, environment,
    operator token and HTTP client.
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
            **_inherited_environment(),
            "PYTHONUNBUFFERED": "1",
            "SENDPOOL_DATABASE_URL": database_url,
            "SENDPOOL_AMQP_URL": amqp_url,
            "SENDPOOL_OPERATOR_TOKEN": operator_token,
            "SENDPOOL_TOKEN_SECRET": Fernet.generate_key().decode(),
            "SENDPOOL_CATALOG_SECRET_KEYS": Fernet.generate_key().decode(),
            "SENDPOOL_LOG_LEVEL": log_level,
            "SENDPOOL_MESSAGE_METRICS": str(message_metrics).lower(),
            **(settings or {}),
        }
        http = cleanup.enter_context(httpx.Client(timeout=http_timeout))
        stack = stack_factory(logs, env, operator_token, http)
        cleanup.callback(_stop_uninterrupted, stack)
        log.info("starting services; logs in %s", logs)
        stack.start()
        yield stack


def _stop_uninterrupted(stack: Stack) -> None:
    # A second Ctrl-C while the services stop would leave them running, orphaned.
    with _signals_handled(signal.SIG_IGN, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        log.info("stopping services")
        stack.stop()


def _inherited_environment() -> dict[str, str]:
    """This tool's environment minus any SENDPOOL_* settings, so that the run's own always win."""
    return {key: value for key, value in os.environ.items() if not key.startswith("SENDPOOL_")}


# --------------------------------------------------------------------------- SMTP sinks


class SmtpSinks(Protocol):
    """Local SMTP servers standing in for sending servers: one port each, and what each accepted."""

    ports: list[int]

    def counts(self) -> list[int]: ...


class _CountingHandler:
    def __init__(self, counters: Any, index: int) -> None:
        self._counters = counters
        self._index = index

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        with self._counters.get_lock():
            self._counters[self._index] += 1
        return "250 2.0.0 Ok: queued"


def _serve_counting_sinks(ports: list[int], counters: Any, ready: Any) -> None:
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    controllers = [
        Controller(_CountingHandler(counters, i), hostname="127.0.0.1", port=port)
        for i, port in enumerate(ports)
    ]
    for controller in controllers:
        controller.start()
    ready.set()
    threading.Event().wait()  # until the parent terminates this process


class CountingSmtpSinks:
    """aiosmtpd servers in a child process (off this process's GIL), counting the messages each accepts."""

    def __init__(self, count: int) -> None:
        self.ports = [free_port() for _ in range(count)]
        context = multiprocessing.get_context("spawn")
        self._counters = context.Array("q", count)
        self._ready = context.Event()
        self._process = context.Process(
            target=_serve_counting_sinks,
            args=(self.ports, self._counters, self._ready),
            daemon=True,
            name="smtp-sinks",
        )

    def counts(self) -> list[int]:
        with self._counters.get_lock():
            return list(self._counters)

    def __enter__(self) -> Self:
        self._process.start()
        deadline = time.monotonic() + 30
        while not self._ready.wait(0.1):
            if not self._process.is_alive() or time.monotonic() > deadline:
                self._process.terminate()
                raise RunFailed(f"the SMTP sinks did not start (exit code {self._process.exitcode})")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._process.terminate()
        self._process.join(10)


SMTP_SINK = Path("/usr/sbin/smtp-sink")
SMTP_SOURCE = Path("/usr/sbin/smtp-source")


def require_postfix_tool(path: Path) -> None:
    if not path.exists():
        raise RunFailed(
            f"{path} is missing: it ships with Debian's postfix package (`make bench` installs it)"
        )


class PostfixSmtpSinks:
    """Postfix's smtp-sink processes: fast enough that they never limit what they measure."""

    _COUNTER = re.compile(rb"mesg=(\d+)")

    def __init__(self, count: int, log_dir: Path) -> None:
        require_postfix_tool(SMTP_SINK)
        self.ports = [free_port() for _ in range(count)]
        self._counter_paths = [log_dir / f"smtp-sink-{port}.counter" for port in self.ports]
        self._processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Self:
        # smtp-sink refuses to keep root privileges and needs a user to switch to.
        drop_root = ["-u", "nobody"] if os.geteuid() == 0 else []
        for port, counter_path in zip(self.ports, self._counter_paths, strict=True):
            with counter_path.open("wb") as counter:
                self._processes.append(
                    subprocess.Popen(
                        [str(SMTP_SINK), "-c", *drop_root, f"127.0.0.1:{port}", "256"],
                        stdout=counter,
                        stderr=subprocess.STDOUT,
                        preexec_fn=_die_with_parent,
                    )
                )
        try:
            for port in self.ports:
                wait_for_port(port)
        except RunFailed:
            self.__exit__()
            raise
        return self

    def counts(self) -> list[int]:
        """Messages each sink accepted, from the running counter smtp-sink `-c` writes."""
        return [self._last_count(path) for path in self._counter_paths]

    def _last_count(self, counter_path: Path) -> int:
        with counter_path.open("rb") as counter:
            counter.seek(max(counter_path.stat().st_size - 200, 0))
            found = self._COUNTER.findall(counter.read())
        return int(found[-1]) if found else 0

    def __exit__(self, *exc_info: object) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            process.wait(10)


# --------------------------------------------------------------------------- HTTP API client


class ApiError(RunFailed):
    def __init__(self, response: httpx.Response) -> None:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        request = response.request
        super().__init__(f"{request.method} {request.url.path} → {response.status_code}: {detail}")
        self.status_code = response.status_code
        self.detail = detail


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Created(_Reply):
    id: UUID


class Tenant(Created):
    token: str


class Server(Created):
    name: str


class ServerTest(_Reply):
    ok: bool
    message: str


class Campaign(Created):
    state: str
    stop_reason: str | None = None
    total: int = 0
    expanded: int = 0
    counts: dict[str, int] = {}
    per_server: dict[str, int] = {}

    @property
    def final(self) -> int:
        """Messages that have left the pipeline: sent, failed or unknown."""
        return sum(self.counts.get(status.value, 0) for status in FINAL_STATUSES)


class SendpoolApi:
    """The catalog and scheduler HTTP calls the demo and the benchmark make, as one caller."""

    def __init__(self, http: httpx.Client, catalog_url: str, scheduler_url: str, token: str) -> None:
        self._http = http
        self._catalog_url = catalog_url
        self._scheduler_url = scheduler_url
        self._token = token

    def as_caller(self, token: str) -> "SendpoolApi":
        """The same APIs called with another bearer token (a tenant's, say)."""
        return SendpoolApi(self._http, self._catalog_url, self._scheduler_url, token)

    def _call(self, method: str, url: str, json: object = None) -> Any:
        response = self._http.request(
            method, url, json=json, headers={"Authorization": f"Bearer {self._token}"}
        )
        if response.is_error:
            raise ApiError(response)
        return response.json() if response.content else None

    def _catalog(self, method: str, path: str, json: object = None) -> Any:
        return self._call(method, self._catalog_url + path, json)

    def _scheduler(self, method: str, path: str, json: object = None) -> Any:
        return self._call(method, self._scheduler_url + path, json)

    # catalog

    def create_plan(self, name: str, *, server_ids: Sequence[UUID] = ()) -> Created:
        body = {"name": name, "allow_own_servers": True, "server_ids": [str(s) for s in server_ids]}
        return Created.model_validate(self._catalog("POST", "/plans", body))

    def create_tenant(self, name: str, *, plan_id: UUID) -> Tenant:
        return Tenant.model_validate(
            self._catalog("POST", "/tenants", {"name": name, "plan_id": str(plan_id)})
        )

    def create_smtp_server(self, name: str, *, host: str, port: int, encryption: str = "none") -> Server:
        body = {
            "name": name,
            "type": "smtp",
            "settings": {"host": host, "port": port, "encryption": encryption},
        }
        return Server.model_validate(self._catalog("POST", "/servers", body))

    def test_server(self, server_id: UUID) -> ServerTest:
        return ServerTest.model_validate(self._catalog("POST", f"/servers/{server_id}/test"))

    def enable_server(self, server_id: UUID) -> None:
        self._catalog("POST", f"/servers/{server_id}/enable")

    def set_sending_policy(self, campaign_id: UUID, weights: Mapping[UUID, float] | None) -> None:
        """A weighted selection of servers, or every usable server when `weights` is None."""
        selection = [{"server_id": str(s), "weight": w} for s, w in (weights or {}).items()]
        self._catalog(
            "PUT",
            f"/campaigns/{campaign_id}/sending-policy",
            {"use_all": weights is None, "selection": selection},
        )

    # scheduler

    def create_list(self, name: str) -> Created:
        return Created.model_validate(self._scheduler("POST", "/lists", {"name": name}))

    def add_recipients(self, list_id: UUID, emails: Iterable[str]) -> int:
        """Returns how many recipients the list holds now."""
        body = {"recipients": [{"email": email} for email in emails]}
        return int(self._scheduler("POST", f"/lists/{list_id}/recipients", body)["total"])

    def create_campaign(self, name: str, *, list_id: UUID, content: MessageContent) -> Campaign:
        body = {
            "name": name,
            "list_id": str(list_id),
            "content": content.model_dump(mode="json", exclude_none=True),
        }
        return Campaign.model_validate(self._scheduler("POST", "/campaigns", body))

    def launch(self, campaign_id: UUID) -> None:
        self._scheduler("POST", f"/campaigns/{campaign_id}/launch")

    def campaign(self, campaign_id: UUID) -> Campaign:
        return Campaign.model_validate(self._scheduler("GET", f"/campaigns/{campaign_id}"))


# --------------------------------------------------------------------------- a campaign end to end


class CampaignStopped(RunFailed):
    pass


class CampaignTimedOut(RunFailed):
    pass


@dataclass(frozen=True)
class ProvisionedCampaign:
    """A draft campaign of a new tenant, sending through its own servers, one per SMTP sink."""

    api: SendpoolApi  # acting as the tenant
    tenant_id: UUID
    servers: list[Server]
    campaign_id: UUID


def recipient_addresses(count: int) -> list[str]:
    return [f"user{n:05d}@example.com" for n in range(1, count + 1)]


def campaign_content(body_bytes: int) -> MessageContent:
    """A message whose text and HTML parts add up to about `body_bytes`."""
    paragraph = "sendpool sends this campaign through a pool of local SMTP servers. "
    text = (paragraph * (body_bytes // (2 * len(paragraph)) + 1))[: body_bytes // 2]
    return MessageContent(
        from_address="news@example.com",
        from_name="sendpool demo",
        subject="Hello from sendpool",
        text=text,
        html=f"<p>{text[: max(body_bytes // 2 - 7, 0)]}</p>",
    )


def provision_campaign(
    operator: SendpoolApi,
    sink_ports: Sequence[int],
    *,
    recipients: int,
    weights: Sequence[float] | None,
    body_bytes: int,
    report: Callable[[str], None],
    chunk_size: int = 1000,
) -> ProvisionedCampaign:
    """Tenant, servers (tested and enabled), list and campaign with its sending policy: all ready to launch.

    `weights` gives one weight per sink for a weighted selection; None sends through every server.
    """
    plan = operator.create_plan("own servers only")  # grants no pool server: the tenant's own must carry it
    tenant = operator.create_tenant("demo tenant", plan_id=plan.id)
    api = operator.as_caller(tenant.token)
    report(f"tenant {tenant.id} on a plan that grants no pool server")

    servers = []
    for number, port in enumerate(sink_ports, start=1):
        server = api.create_smtp_server(f"sink {number}", host="127.0.0.1", port=port)
        test = api.test_server(server.id)
        if not test.ok:
            raise RunFailed(f"the test of {server.name} (127.0.0.1:{port}) failed: {test.message}")
        api.enable_server(server.id)
        report(f"server {server.name} on 127.0.0.1:{port}: {test.message} Enabled.")
        servers.append(server)

    mailing_list = api.create_list(f"{recipients} recipients")
    addresses = recipient_addresses(recipients)
    for start in range(0, recipients, chunk_size):
        total = api.add_recipients(mailing_list.id, addresses[start : start + chunk_size])
    report(f"list {mailing_list.id} with {total} recipients")

    campaign = api.create_campaign(
        "sendpool tour", list_id=mailing_list.id, content=campaign_content(body_bytes)
    )
    policy = None if weights is None else {s.id: w for s, w in zip(servers, weights, strict=True)}
    api.set_sending_policy(campaign.id, policy)
    shown = "every server" if weights is None else " : ".join(f"{w:g}" for w in weights)
    report(f"campaign {campaign.id} with sending policy {shown}")
    return ProvisionedCampaign(api, tenant.id, servers, campaign.id)


def wait_until_completed(
    api: SendpoolApi,
    campaign_id: UUID,
    *,
    timeout: float,
    on_progress: Callable[[Campaign], None] = lambda _: None,
    poll_interval: float = 0.2,
) -> Campaign:
    """Poll the campaign until it is completed; raises if it stops or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        campaign = api.campaign(campaign_id)
        on_progress(campaign)
        if campaign.state == "completed":
            return campaign
        if campaign.state == "stopped":
            raise CampaignStopped(f"campaign {campaign_id} stopped: {campaign.stop_reason}")
        if time.monotonic() > deadline:
            raise CampaignTimedOut(
                f"campaign {campaign_id} not completed after {timeout:.0f}s: "
                f"{campaign.final} of {campaign.total} messages final, state {campaign.state}"
            )
        time.sleep(poll_interval)
