"""The services as real processes, started as `faststream run --factory` starts them in production.

`ServiceProcess` serves the demo, the bench, the chaos run and the tests alike:

- the process dies with the one that started it (even when that one is SIGKILLed), so nothing is
  left running after a run or a test session, and it has a session of its own, so a Ctrl-C in the
  terminal reaches the tool alone and the services are stopped in order;
- a process that exits while it starts because RabbitMQ closed its connection is started once
  more, as Kubernetes would restart it: RabbitMQ 3.10 sometimes fails a consume on a quorum queue
  that another connection has just declared, and closes the whole connection;
- any other exit fails with the end of the process's log in the error;
- its peak memory (VmHWM) stays known after it is stopped.
"""

import ctypes
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any, Self

import httpx

from ops import registry
from tools.stack.errors import RunFailed, TimedOut
from tools.stack.waiting import eventually

REPO = Path(__file__).resolve().parents[2]
log = logging.getLogger("sendpool.tools")

# What a service's log shows when it exited because RabbitMQ closed its connection.
_BROKER_CONNECTION_FAILURES = (
    "INTERNAL_ERROR",
    "ConnectionClosed",
    "ChannelInvalidStateError",
    "AMQPConnectionError",
)


class ServiceFailed(RunFailed):
    """A service exited or never became healthy; the message names its log and quotes its end."""


class ServiceExited(ServiceFailed):
    """The process is gone; `log_tail` is the end of what it logged."""

    def __init__(self, service: "ServiceProcess") -> None:
        self.log_tail = service.log_tail()
        super().__init__(
            f"{service.name} exited with code {service.process.returncode}; "
            f"see {service.log_path}\n{self.log_tail}"
        )


# --------------------------------------------------------------------------- child processes


def _die_with_parent() -> None:
    """Run in a child before exec: the kernel sends it SIGTERM once its parent is gone."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@cache
def _spawner() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="child-spawner")


def spawn_dying_with_parent(command: Sequence[str], **popen: Any) -> "subprocess.Popen[bytes]":
    """`subprocess.Popen(command, **popen)` for a child that is sent SIGTERM when this process dies,
    even by SIGKILL.

    The kernel sends that signal when the *thread* that started the child ends, so a child is
    started from the main thread or, when asked from any other (`asyncio.to_thread`, a pool), from
    one thread kept for this process's life: a worker thread that ends would take it along.
    """

    def start() -> "subprocess.Popen[bytes]":
        return subprocess.Popen(list(command), preexec_fn=_die_with_parent, **popen)

    if threading.current_thread() is threading.main_thread():
        return start()
    return _spawner().submit(start).result()


def inherited_environment() -> dict[str, str]:
    """This process's environment minus any SENDPOOL_* settings, so that a run's own always win
    (and a setting left in the shell cannot change, or stop, the services)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("SENDPOOL_")}


def log_tail(log_path: Path, lines: int = 40, *, offset: int = 0) -> str:
    """The last `lines` lines of a log, from byte `offset` on."""
    try:
        with log_path.open("rb") as log_file:
            log_file.seek(offset)
            text = log_file.read().decode(errors="replace")
    except OSError as error:
        return f"(log unreadable: {error})"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- one service


class ServiceProcess:
    """One service (`name`, as `ops.registry` names it) on 127.0.0.1:`port`, its output appended to `log_path`.

    `env` holds its settings (SENDPOOL_*, and anything else it needs, PYTHONPATH say); it runs with
    them over this process's environment without the SENDPOOL_* variables.
    """

    def __init__(self, name: str, port: int, env: Mapping[str, str], log_path: Path) -> None:
        self.entry: registry.ServiceEntry = registry.service(
            name
        )  # KeyError naming the services, for a name it lacks
        self.name = name
        self.port = port
        self.env = dict(env)
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0  # where this process's own lines begin in the log
        self._restart_if_broker_lost = False
        self._peak_rss_at_stop_mb: float | None = None

    def __repr__(self) -> str:
        return f"ServiceProcess({self.name!r}, port={self.port}, log={str(self.log_path)!r})"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def process(self) -> "subprocess.Popen[bytes]":
        if self._process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._process

    def start(self, timeout: float = 60.0) -> Self:
        """Start the process and wait until `/healthz` answers; `ServiceFailed` if it does not in time."""
        self.spawn()
        wait_until_healthy([self], timeout)
        return self

    def spawn(self) -> Self:
        """Start the process without waiting for it: `is_healthy` tells when it is ready."""
        command = [sys.executable, "-m", *self.entry.command("127.0.0.1", self.port)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self._log_offset = log_file.tell()
            self._process = spawn_dying_with_parent(
                command,
                cwd=REPO,
                env={**inherited_environment(), "PYTHONUNBUFFERED": "1", **self.env},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._restart_if_broker_lost = True
        return self

    def log_tail(self, lines: int = 40) -> str:
        """The end of what this process (not an earlier one with the same log) has logged."""
        return log_tail(self.log_path, lines, offset=self._log_offset)

    def is_healthy(self) -> bool:
        """Whether `/healthz` answers 204; `ServiceExited` if the process is gone.

        Until it is first healthy, a process that exited because RabbitMQ closed its connection is
        started once more (see the module's docstring) and counts as not healthy yet.
        """
        if self.process.poll() is not None:
            if self._restart_if_broker_lost and any(
                marker in self.log_tail() for marker in _BROKER_CONNECTION_FAILURES
            ):
                log.warning("%s lost its RabbitMQ connection while starting; starting it again", self.name)
                self.spawn()
                self._restart_if_broker_lost = False
                return False
            raise ServiceExited(self)
        try:
            healthy = httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 204
        except httpx.HTTPError:
            return False
        if healthy:
            self._restart_if_broker_lost = False
        return healthy

    @property
    def peak_rss_mb(self) -> float | None:
        """The most resident memory the process has used (VmHWM), in MiB; None if it is not known."""
        if self._process is None or self._process.poll() is not None:
            return self._peak_rss_at_stop_mb
        try:
            status = Path(f"/proc/{self._process.pid}/status").read_text()
        except OSError:
            return self._peak_rss_at_stop_mb
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        return round(int(found.group(1)) / 1024, 1) if found else None

    def terminate(self, sig: int = signal.SIGTERM) -> None:
        """Send `sig` (SIGTERM: the service finishes what it has in hand) without waiting."""
        if self._process is not None and self._process.poll() is None:
            self._peak_rss_at_stop_mb = self.peak_rss_mb  # /proc forgets a process once it has exited
            self._process.send_signal(sig)

    def wait_or_kill(self, deadline: float) -> int | None:
        """Wait for the process to exit until `deadline` (`time.monotonic()`), then SIGKILL it; its exit code."""
        if self._process is None:
            return None
        try:
            self._process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            log.warning("%s did not exit in time; killing it", self.name)
            self._process.kill()
            self._process.wait()
        return self._process.returncode

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40.0) -> int | None:
        """Send `sig`, wait up to `timeout` seconds, then SIGKILL; the exit code (None if never started)."""
        self.terminate(sig)
        return self.wait_or_kill(time.monotonic() + timeout)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


# --------------------------------------------------------------------------- several at once


def wait_until_healthy(services: Sequence[ServiceProcess], timeout: float = 60.0) -> None:
    """Until every one of `services` (already spawned) is healthy; `ServiceFailed` naming those that
    are not after `timeout` seconds, or as soon as one exits."""
    waiting = list(services)

    def all_healthy() -> bool:
        waiting[:] = [service for service in waiting if not service.is_healthy()]
        return not waiting

    try:
        eventually(all_healthy, timeout_seconds=timeout, interval_seconds=0.2, what="healthy services")
    except TimedOut:
        logs = "\n".join(f"--- {s.name} ({s.log_path}):\n{s.log_tail()}" for s in waiting)
        raise ServiceFailed(
            f"not healthy after {timeout:g}s: {', '.join(s.name for s in waiting)}\n{logs}"
        ) from None


def stop_all(services: Iterable[ServiceProcess], timeout: float = 20.0) -> None:
    """SIGTERM every one (they finish in-flight messages), then SIGKILL what is left at the deadline."""
    services = list(services)
    for service in services:
        service.terminate()
    deadline = time.monotonic() + timeout
    for service in services:
        service.wait_or_kill(deadline)
