"""Handing messages to the local `sendmail` binary (type `sendmail`), as mail programs on Unix do.

The message goes to the program's standard input; `-i` keeps a line with a single dot from
ending it early, `-f` sets the envelope sender, and `--` keeps a recipient that starts with a
dash from being read as an option. The program is run directly, never through a shell.

Which program runs is the operator's setting (SENDPOOL_DELIVERY_SENDMAIL_PATH), never a server's:
a `path` in a server's settings (stored before it was taken away) is ignored. The program gets
a minimal environment, never the worker's own, which holds the broker's and the database's URLs
and the VERP key; a program that needs more (Postfix's MAIL_CONFIG) is given it by a wrapper
script the operator configures instead.
"""

import asyncio
import os
from collections.abc import Mapping
from types import MappingProxyType

from services.delivery.domain.mime import OutgoingMessage
from services.delivery.domain.outcomes import Deferred, SendOutcome, Unknown
from services.delivery.domain.sendmail_exits import outcome_of_exit
from shared.contracts import ProbeResult

DEFAULT_PATH = "/usr/sbin/sendmail"

CHILD_ENVIRONMENT: Mapping[str, str] = MappingProxyType({"PATH": "/usr/sbin:/usr/bin:/bin", "LANG": "C"})


class SendmailSender:
    def __init__(self, path: str, *, timeout_seconds: float) -> None:
        self._path = path
        self._timeout = timeout_seconds

    async def send(self, message: OutgoingMessage) -> SendOutcome:
        # sendmail reads a text file in the local convention: lines end in LF, not SMTP's CRLF.
        content = message.as_bytes().replace(b"\r\n", b"\n")
        try:
            process = await asyncio.create_subprocess_exec(
                self._path,
                "-i",
                "-f",
                message.envelope_from,
                "--",
                message.recipient,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=dict(CHILD_ENVIRONMENT),
            )
        except OSError as exc:  # missing, not executable
            return Deferred(
                None, None, f"could not run {self._path}: {exc.strerror or exc}", connection_failure=True
            )
        try:
            _, stderr = await asyncio.wait_for(process.communicate(content), self._timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            return Unknown(
                f"{self._path} did not finish within {self._timeout:g}s; it may have queued the message"
            )
        return outcome_of_exit(await process.wait(), stderr.decode(errors="replace"))

    async def probe(self) -> ProbeResult:
        return await asyncio.to_thread(self._check_program)  # the file system may be slow: off the loop

    def _check_program(self) -> ProbeResult:
        if not os.path.isfile(self._path):
            return ProbeResult(ok=False, message=f"Connection failed: {self._path} does not exist")
        if not os.access(self._path, os.X_OK):
            return ProbeResult(ok=False, message=f"Connection failed: {self._path} is not executable")
        return ProbeResult(ok=True, message="Connection successful.")

    async def close(self) -> None:
        """Nothing is kept open between messages."""
