"""The ports test doubles and `make demo` bind must never be ones the kernel gives to clients."""

import socket

from tools.stack.ports import _ephemeral_port_range, free_port


def test_ports_are_chosen_below_the_range_outgoing_connections_use():
    low, _ = _ephemeral_port_range()

    ports = [free_port() for _ in range(50)]

    assert all(port < low for port in ports)


def test_a_port_is_never_handed_out_twice():
    ports = [free_port() for _ in range(200)] + [free_port(socket.SOCK_DGRAM) for _ in range(50)]

    assert len(set(ports)) == len(ports)


def test_a_port_something_is_bound_to_is_skipped(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken_port = taken.getsockname()[1]
        choices = iter([taken_port, taken_port + 1 if taken_port < 65535 else taken_port - 1])
        monkeypatch.setattr("tools.stack.ports._port_chooser.choice", lambda _: next(choices))

        assert free_port() != taken_port
