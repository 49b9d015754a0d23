"""Local SMTP servers standing in for sending servers: aiosmtpd ones for the demo, Postfix's
`smtp-sink` for the bench. Each counts the messages it accepts."""

import contextlib
import logging
import multiprocessing
import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any, Protocol, Self

from aiosmtpd.controller import Controller

from tools.stack.errors import RunFailed, TimedOut
from tools.stack.ports import free_port, wait_for_port
from tools.stack.processes import spawn_dying_with_parent
from tools.stack.waiting import eventually


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
            return [int(count) for count in self._counters[:]]

    def __enter__(self) -> Self:
        self._process.start()
        with contextlib.suppress(TimedOut):
            eventually(
                lambda: self._ready.is_set() or not self._process.is_alive(),
                timeout_seconds=30,
                interval_seconds=0.1,
                what="the SMTP sinks to start",
            )
        if not self._ready.is_set():
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
                    spawn_dying_with_parent(
                        [str(SMTP_SINK), "-c", *drop_root, f"127.0.0.1:{port}", "256"],
                        stdout=counter,
                        stderr=subprocess.STDOUT,
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
