"""No log format prints a secret held in a local variable of a failing frame.

Each service's logging is configured by `shared.telemetry.configure`; a service that logs an
exception (`log.exception`) while a frame holds a decrypted password must write the traceback
without that frame's variables, in the console format as in JSON. Run in a process of its own,
as a service runs, so the test sees exactly what a service's log would hold.
"""

import subprocess
import sys
import textwrap

import pytest

from tools.stack.processes import REPO

SECRET = "transit-log-secret-Zq81vX"

FAILING_SERVICE = textwrap.dedent(
    f"""
    import sys
    from shared import telemetry

    log = telemetry.configure("secrets-test", "INFO", json_logs=sys.argv[1] == "json")

    def connect(host):
        password = {SECRET!r}  # a decrypted credential, as a delivery adapter holds one
        settings = {{"host": host, "password": password}}
        raise ConnectionError(f"cannot connect to {{host}}")

    try:
        connect("relay.example.test")
    except ConnectionError:
        log.exception("probe failed unexpectedly", server_id="s-1")
    """
)


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_a_logged_traceback_never_shows_the_secrets_its_frames_held(log_format):
    written = subprocess.run(
        [sys.executable, "-c", FAILING_SERVICE, log_format],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    logged = written.stdout + written.stderr

    # The traceback itself is there: an operator still learns where and why it failed.
    assert "probe failed unexpectedly" in logged
    assert "cannot connect to relay.example.test" in logged and "in connect" in logged
    assert SECRET not in logged, f"the {log_format} log printed a local variable holding a secret:\n{logged}"


WIRE_DUMP = textwrap.dedent(
    f"""
    import logging
    from shared import telemetry

    telemetry.configure("secrets-test", "DEBUG")
    # What aiormq writes for every frame it sends at DEBUG: the body of an RPC answer included.
    logging.getLogger("aiormq.connection").debug("Prepare to send ChannelFrame(payload=b'%s')", {SECRET!r})
    logging.getLogger("sendpool.own").debug("the service's own debug line")
    """
)


def test_a_service_at_debug_level_does_not_write_what_its_broker_client_puts_on_the_wire():
    written = subprocess.run(
        [sys.executable, "-c", WIRE_DUMP], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )
    logged = written.stdout + written.stderr

    assert "the service's own debug line" in logged
    assert SECRET not in logged, f"a wire-level debug line was written:\n{logged}"
