"""Local ports for the servers a run starts (services, SMTP sinks, test doubles), and waiting for one to listen."""

import random
import socket
import threading
from pathlib import Path

from tools.stack.errors import RunFailed
from tools.stack.waiting import eventually

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


def is_listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Until something accepts connections on 127.0.0.1:`port`; `TimedOut` after `timeout` seconds."""
    eventually(
        lambda: is_listening(port),
        timeout_seconds=timeout,
        interval_seconds=0.05,
        what=f"something to listen on 127.0.0.1:{port}",
    )
