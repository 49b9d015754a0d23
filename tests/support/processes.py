"""Run sendpool services as real processes, the way `faststream run` runs them in production."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]

FACTORIES = {
    "catalog": "services.catalog.entrypoints.main:create_app",
    "scheduler": "services.scheduler.entrypoints.main:create_app",
    "router": "services.router.entrypoints.main:create_app",
    "delivery": "services.delivery.entrypoints.main:create_app",
    "bounces": "services.bounces.entrypoints.main:create_app",
}


_BROKER_CONNECTION_FAILURES = (
    "INTERNAL_ERROR",
    "ConnectionClosed",
    "ChannelInvalidStateError",
    "AMQPConnectionError",
)


def _tail(log_path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(log unreadable: {exc})"


class ServiceExitedEarly(RuntimeError):
    """The process exited before it was healthy; the message carries the end of its log."""

    def __init__(self, name: str, returncode: int, log_path: Path) -> None:
        self.log_tail = _tail(log_path)
        super().__init__(f"{name} exited with {returncode} while starting; see {log_path}\n{self.log_tail}")


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    _log_file: object = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "ServiceProcess":
        """Start the process and wait until /healthz answers.

        A process that dies while starting because RabbitMQ closed its connection (RabbitMQ 3.10
        sometimes fails a consume on a quorum queue another connection has just declared, and
        closes the whole connection) is started once more, as Kubernetes would restart it. Any
        other early exit fails at once, with the end of the process's log in the error.
        """
        try:
            return self._start_once(timeout)
        except ServiceExitedEarly as exited:
            if not any(marker in exited.log_tail for marker in _BROKER_CONNECTION_FAILURES):
                raise
            print(
                f"{self.name} lost its RabbitMQ connection while starting; starting it again", file=sys.stderr
            )
            return self._start_once(timeout)

    def _start_once(self, timeout: float) -> "ServiceProcess":
        if self._log_file:
            self._log_file.close()
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        command = [
            sys.executable, "-m", "faststream", "run", "--factory", FACTORIES[self.name],
            "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, **self.env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceExitedEarly(self.name, self.process.returncode, self.log_path)
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 204:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(
            f"{self.name} not healthy after {timeout}s; see {self.log_path}\n{_tail(self.log_path)}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log_file:
            self._log_file.close()
        return self.process.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
