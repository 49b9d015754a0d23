"""The local sendmail binary: the exact command line and input (a recording stand-in), what its exit
statuses mean, and Postfix's real `sendmail` queueing into a private maildrop."""

import grp
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.delivery.domain.outcomes import Deferred, Failed, Sent, Unknown
from tests.integration.delivery.vendors.messages import build_sender, outgoing, recipient

RECORDING_SENDMAIL = """#!{python}
import json, os, sys, time
directory = {directory!r}
with open(os.path.join(directory, "argv.json"), "w") as argv:
    json.dump(sys.argv[1:], argv)
with open(os.path.join(directory, "environ.json"), "w") as environ:
    json.dump(dict(os.environ), environ)
with open(os.path.join(directory, "stdin"), "wb") as stdin:
    stdin.write(sys.stdin.buffer.read())
behaviour = open(os.path.join(directory, "behaviour")).read().split(" ", 1)
if behaviour[0] == "hang":
    time.sleep(30)
sys.stderr.write(behaviour[1] if len(behaviour) > 1 else "")
sys.exit(int(behaviour[0]) if behaviour[0] != "hang" else 0)
"""


class RecordingSendmail:
    """A `sendmail` that records its arguments and input, then exits as told."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "sendmail"
        self.path.write_text(RECORDING_SENDMAIL.format(python=sys.executable, directory=str(directory)))
        self.path.chmod(0o755)
        self.behave(0)

    def behave(self, exit_code: int | str, stderr: str = "") -> None:
        (self.directory / "behaviour").write_text(f"{exit_code} {stderr}")

    @property
    def argv(self) -> list[str]:
        return json.loads((self.directory / "argv.json").read_text())

    @property
    def environ(self) -> dict[str, str]:
        return json.loads((self.directory / "environ.json").read_text())

    @property
    def stdin(self) -> bytes:
        return (self.directory / "stdin").read_bytes()


@pytest.fixture
def sendmail(tmp_path) -> RecordingSendmail:
    return RecordingSendmail(tmp_path)


async def test_the_message_is_piped_with_envelope_sender_and_recipient_after_the_options(sendmail):
    to = recipient()
    message = outgoing(to)
    sender = build_sender("sendmail", {}, sendmail_path=str(sendmail.path))

    outcome = await sender.send(message)

    assert outcome == Sent(None, None, "queued by the local sendmail")
    assert sendmail.argv == ["-i", "-f", message.envelope_from, "--", to]
    assert sendmail.stdin == message.as_bytes().replace(b"\r\n", b"\n")
    assert b"\r\n" not in sendmail.stdin


async def test_the_operators_program_runs_with_a_minimal_environment_whatever_the_server_says(
    sendmail, tmp_path, monkeypatch
):
    monkeypatch.setenv("SENDPOOL_AMQP_URL", "amqp://guest:secret@broker/")
    elsewhere = tmp_path / "tenant-program"
    elsewhere.write_text("#!/bin/sh\ntouch " + str(tmp_path / "tenant-program-ran") + "\n")
    elsewhere.chmod(0o755)
    # A `path` stored with a server before the program became the operator's setting.
    sender = build_sender("sendmail", {"path": str(elsewhere)}, sendmail_path=str(sendmail.path))

    outcome = await sender.send(outgoing())

    assert outcome == Sent(None, None, "queued by the local sendmail")
    assert not (tmp_path / "tenant-program-ran").exists()
    # Python adds LC_CTYPE itself when it finds the C locale (PEP 538).
    assert set(sendmail.environ) - {"LC_CTYPE"} == {"PATH", "LANG"}
    assert (sendmail.environ["PATH"], sendmail.environ["LANG"]) == ("/usr/sbin:/usr/bin:/bin", "C")


async def test_a_recipient_that_looks_like_an_option_stays_a_recipient(sendmail):
    sender = build_sender("sendmail", {}, sendmail_path=str(sendmail.path))

    await sender.send(outgoing("-oQ/tmp@inbox.example"))

    assert sendmail.argv[-2:] == ["--", "-oQ/tmp@inbox.example"]


async def test_a_temporary_failure_defers_and_any_other_fails_with_what_sendmail_said(sendmail):
    sender = build_sender("sendmail", {}, sendmail_path=str(sendmail.path))

    sendmail.behave(75, "queue is full")
    deferred = await sender.send(outgoing())
    sendmail.behave(67, "unknown user")
    failed = await sender.send(outgoing())

    assert isinstance(deferred, Deferred) and deferred.reply_text.endswith("queue is full"), deferred
    assert isinstance(failed, Failed), failed
    assert "EX_NOUSER" in failed.reply_text and failed.reply_text.endswith("unknown user")


async def test_a_sendmail_that_never_finishes_is_killed_and_its_outcome_unknown(sendmail):
    sendmail.behave("hang")
    sender = build_sender("sendmail", {}, sendmail_path=str(sendmail.path), timeout_seconds=0.5)

    outcome = await sender.send(outgoing())

    assert isinstance(outcome, Unknown), outcome
    assert "did not finish within 0.5s" in outcome.reason


async def test_a_missing_binary_defers_and_fails_the_probe(tmp_path):
    missing = tmp_path / "no-sendmail"
    sender = build_sender("sendmail", {}, sendmail_path=str(missing))

    outcome = await sender.send(outgoing())
    probe = await sender.probe()

    assert isinstance(outcome, Deferred) and outcome.connection_failure, outcome
    assert probe.message == f"Connection failed: {missing} does not exist"


async def test_the_probe_wants_an_executable(sendmail):
    sender = build_sender("sendmail", {}, sendmail_path=str(sendmail.path))
    assert (await sender.probe()).message == "Connection successful."

    sendmail.path.chmod(stat.S_IRUSR | stat.S_IWUSR)

    assert (await sender.probe()).message == f"Connection failed: {sendmail.path} is not executable"


POSTFIX_SENDMAIL = Path("/usr/sbin/sendmail")
POSTCAT = Path("/usr/sbin/postcat")


@pytest.fixture
def postfix_maildrop(tmp_path, monkeypatch) -> Path:
    """A private Postfix configuration whose queue is under `tmp_path`, used through MAIL_CONFIG.

    No Postfix daemon runs: sendmail hands the message to postdrop, which leaves it in the
    maildrop directory for a pickup service that never comes, where the test reads it."""
    if not (POSTFIX_SENDMAIL.exists() and POSTCAT.exists()):
        pytest.skip("Postfix is not installed (`make /usr/sbin/smtp-sink` installs it)")
    if os.geteuid() != 0:
        pytest.skip("Postfix's set-gid postdrop takes a private MAIL_CONFIG only from root")
    config, queue = tmp_path / "postfix", tmp_path / "queue"
    config.mkdir()
    for directory, mode in (("maildrop", 0o1730), ("public", 0o2710)):
        (queue / directory).mkdir(parents=True)
        os.chown(queue / directory, -1, grp.getgrnam("postdrop").gr_gid)
        (queue / directory).chmod(mode)
    write_main_cf(
        config,
        f"compatibility_level = 3.6\nqueue_directory = {queue}\nmail_owner = postfix\nsetgid_group = postdrop\n",
    )
    monkeypatch.setenv("MAIL_CONFIG", str(config))
    return queue / "maildrop"


@pytest.fixture
def postfix_sendmail(postfix_maildrop, tmp_path) -> Path:
    """Postfix's sendmail on the private configuration, as an operator sets up one that needs more than
    the minimal environment the worker gives it: a wrapper script that sets the rest."""
    wrapper = tmp_path / "postfix-sendmail"
    wrapper.write_text(f'#!/bin/sh\nMAIL_CONFIG={os.environ["MAIL_CONFIG"]} exec {POSTFIX_SENDMAIL} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def write_main_cf(config: Path, text: str) -> None:
    main_cf = config / "main.cf"
    main_cf.write_text(text)
    # Postfix programs wait for a main.cf changed in the last seconds to settle: date it back.
    an_hour_ago = time.time() - 3600
    os.utime(main_cf, (an_hour_ago, an_hour_ago))


def queued(maildrop: Path) -> list[dict[str, str]]:
    """Each queued message's envelope and content, as `postcat` shows them."""
    messages = []
    for queue_file in sorted(maildrop.iterdir()):
        text = subprocess.run(
            [str(POSTCAT), "-c", os.environ["MAIL_CONFIG"], str(queue_file)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        envelope, _, rest = text.partition("*** MESSAGE CONTENTS")
        content = rest.split("\n", 1)[1].split("*** HEADER EXTRACTED", 1)[0]
        fields = dict(line.split(": ", 1) for line in envelope.splitlines() if ": " in line)
        messages.append({"sender": fields["sender"], "recipient": fields["recipient"], "content": content})
    return messages


async def test_postfix_sendmail_queues_the_message_with_its_envelope(postfix_maildrop, postfix_sendmail):
    to = recipient()
    # A line holding one dot would end the message early without -i.
    message = outgoing(to, text="Before the dot\n.\nAfter the dot")
    sender = build_sender("sendmail", {}, sendmail_path=str(postfix_sendmail))

    outcome = await sender.send(message)

    assert isinstance(outcome, Sent), outcome
    [queued_message] = queued(postfix_maildrop)
    assert (queued_message["sender"], queued_message["recipient"]) == (message.envelope_from, to)
    assert f"Message-ID: {message.email['Message-ID']}" in queued_message["content"]
    assert "Before the dot\n.\nAfter the dot" in queued_message["content"]
    assert "<b>20%</b>" in queued_message["content"]


async def test_postfix_sendmail_defers_a_message_it_cannot_queue_now(postfix_maildrop, postfix_sendmail):
    config = Path(os.environ["MAIL_CONFIG"])
    write_main_cf(config, (config / "main.cf").read_text() + "message_size_limit = 200\n")
    sender = build_sender("sendmail", {}, sendmail_path=str(postfix_sendmail))

    outcome = await sender.send(outgoing())

    assert isinstance(outcome, Deferred), outcome
    assert "EX_TEMPFAIL" in outcome.reply_text
    assert "message file too big" in outcome.reply_text
    assert not list(postfix_maildrop.iterdir())
