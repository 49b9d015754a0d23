"""SMTP sinks for `make chaos`: they record every message they accept, and some misbehave on purpose.

Three kinds of sink, each a tiny hand-written asyncio SMTP server (EHLO/HELO, MAIL, RCPT, DATA,
RSET, NOOP, QUIT and nothing else), all of them served by one child process so that the chaos
driver's own process stays responsive:

- `plain`: accepts every message;
- `faulty`: answers some DATA with `421` (and closes, as 421 means), some with `550 5.1.1`, and
  for some drops the connection after the content arrived without replying at all (that message
  is not counted as received: the client cannot know whether it was);
- `bad_replies`: accepts every message, but its 250 replies carry a NUL byte and bytes that are
  not UTF-8, which is what some real servers send and which must never break a delivery.

aiosmtpd is not used because its handlers return `str` replies, so it cannot send such bytes,
and because a bare server costs far less CPU on a two-core machine shared with the pipeline.

Each sink appends one line per DATA outcome to its record file (`<outcome>\\t<recipient>\\t<message id>`,
the message id being the `X-Sendpool-Message-Id` header), line-buffered, before it replies: the
driver reads the files once the campaign is over (`read_records`). Run as a module:
`python -m tools.fault_sinks '<json spec>'` (see `SinkSpec`); `FaultSinks` does that for the driver.
"""

import asyncio
import contextlib
import json
import random
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Self

REPO = Path(__file__).resolve().parents[1]

# Far above any campaign message, so that readuntil never gives up on a real one.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_END_OF_DATA = b"\r\n.\r\n"
_MESSAGE_ID_HEADER = re.compile(rb"^X-Sendpool-Message-Id:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
_ADDRESS = re.compile(rb"<([^>]*)>")

# NUL, a lone continuation byte, an overlong encoding and bytes never valid in UTF-8.
BAD_REPLY_TEXT = b"2.0.0 Ok: queued as \x00CHAOS\xff\xfe \x80\xc0\xaf end"


class SinkKind(StrEnum):
    PLAIN = "plain"
    FAULTY = "faulty"
    BAD_REPLIES = "bad_replies"


class Outcome(StrEnum):
    """What a sink did with one message's DATA; the first word of each record line."""

    ACCEPTED = "accepted"
    REFUSED_TEMPORARY = "refused_temporary"  # 421, connection closed
    REFUSED_PERMANENT = "refused_permanent"  # 550 5.1.1
    DROPPED = "dropped"  # connection closed after the content, no reply: not received


@dataclass(frozen=True)
class FaultRates:
    """Shares of a faulty sink's DATA commands that get each fault; the rest are accepted."""

    temporary: float = 0.02
    permanent: float = 0.01
    dropped: float = 0.005


def choose_outcome(draw: float, rates: FaultRates) -> Outcome:
    """The outcome of one DATA for a draw in [0, 1): faults take the bottom of the range in turn."""
    if draw < rates.temporary:
        return Outcome.REFUSED_TEMPORARY
    if draw < rates.temporary + rates.permanent:
        return Outcome.REFUSED_PERMANENT
    if draw < rates.temporary + rates.permanent + rates.dropped:
        return Outcome.DROPPED
    return Outcome.ACCEPTED


@dataclass(frozen=True)
class SinkSpec:
    kind: SinkKind
    port: int
    record_path: str


@dataclass(frozen=True)
class SinksConfig:
    sinks: list[SinkSpec]
    seed: int = 0
    rates: FaultRates = field(default_factory=FaultRates)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "SinksConfig":
        raw = json.loads(text)
        return cls(
            sinks=[SinkSpec(SinkKind(s["kind"]), s["port"], s["record_path"]) for s in raw["sinks"]],
            seed=raw["seed"],
            rates=FaultRates(**raw["rates"]),
        )


# --------------------------------------------------------------------------- the records


@dataclass
class SinkRecords:
    """What the sinks did, per recipient: how often each was accepted, and each refusal or drop."""

    accepted: Counter[str] = field(default_factory=Counter)
    accepted_message_ids: Counter[str] = field(default_factory=Counter)
    refused_permanent: set[str] = field(default_factory=set)
    outcomes: Counter[str] = field(default_factory=Counter)
    accepted_per_sink: Counter[int] = field(default_factory=Counter)

    def add_line(self, line: str, sink_index: int = 0) -> None:
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 3:
            return  # a line cut short by the sink process being stopped mid-write
        outcome, recipient, message_id = parts
        self.outcomes[outcome] += 1
        if outcome == Outcome.ACCEPTED:
            self.accepted[recipient] += 1
            self.accepted_per_sink[sink_index] += 1
            if message_id:
                self.accepted_message_ids[message_id] += 1
        elif outcome == Outcome.REFUSED_PERMANENT:
            self.refused_permanent.add(recipient)

    def duplicates(self) -> set[str]:
        """Recipients accepted more than once, by any sinks together."""
        return {recipient for recipient, times in self.accepted.items() if times > 1}


def read_records(paths: Sequence[Path]) -> SinkRecords:
    records = SinkRecords()
    for index, path in enumerate(paths):
        if path.exists():
            with path.open(encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    records.add_line(line, index)
    return records


# --------------------------------------------------------------------------- the SMTP server


def recipient_of(rcpt_argument: bytes) -> str:
    """`TO:<a@b>` (with any parameters after it) → `a@b`; lower-cased, as the list stores them."""
    found = _ADDRESS.search(rcpt_argument)
    address = found.group(1) if found else rcpt_argument.partition(b":")[2].strip()
    return address.decode("utf-8", "replace").strip().lower()


def message_id_of(content: bytes) -> str:
    headers = content.split(b"\r\n\r\n", 1)[0]
    found = _MESSAGE_ID_HEADER.search(headers)
    return found.group(1).decode("ascii", "replace") if found else ""


class _Sink:
    """One listening port; every connection runs `_session`."""

    def __init__(self, spec: SinkSpec, rng: random.Random, rates: FaultRates) -> None:
        self.spec = spec
        self._rng = rng
        self._rates = rates
        self._records: IO[str] = open(spec.record_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the process's life
        ok_text = BAD_REPLY_TEXT if spec.kind == SinkKind.BAD_REPLIES else b"2.0.0 Ok"
        self._ok = b"250 " + ok_text + b"\r\n"

    def _record(self, outcome: Outcome, recipients: Iterable[str], message_id: str) -> None:
        for recipient in recipients:
            self._records.write(f"{outcome}\t{recipient}\t{message_id}\n")

    def _outcome_for(self, message_id: str) -> Outcome:
        # Only campaign messages (they carry the header) get faults: nothing else should ever send
        # DATA here, but a stray message must not turn into a fault the run then counts.
        if self.spec.kind != SinkKind.FAULTY or not message_id:
            return Outcome.ACCEPTED
        return choose_outcome(self._rng.random(), self._rates)

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away: nothing to record, since no DATA completed
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 chaos-sink ESMTP\r\n")
        recipients: list[str] = []
        sender_given = False
        while True:
            line = await reader.readline()
            if not line:
                return
            verb, _, argument = line.rstrip(b"\r\n").partition(b" ")
            match verb.upper():
                case b"EHLO":
                    writer.write(b"250-chaos-sink\r\n250-8BITMIME\r\n250 SIZE 16777216\r\n")
                case b"HELO":
                    writer.write(b"250 chaos-sink\r\n")
                case b"MAIL":
                    sender_given, recipients = True, []
                    writer.write(self._ok)
                case b"RCPT":
                    if not sender_given:
                        writer.write(b"503 5.5.1 MAIL first\r\n")
                        continue
                    recipients.append(recipient_of(argument))
                    writer.write(self._ok)
                case b"DATA":
                    if not recipients:
                        writer.write(b"503 5.5.1 RCPT first\r\n")
                        continue
                    writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    content = await reader.readuntil(_END_OF_DATA)
                    if not await self._answer_data(writer, recipients, content):
                        return
                    sender_given, recipients = False, []
                case b"RSET":
                    sender_given, recipients = False, []
                    writer.write(self._ok)
                case b"NOOP":
                    writer.write(self._ok)
                case b"QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    await writer.drain()
                    return
                case _:
                    writer.write(b"502 5.5.2 Command not implemented\r\n")
            await writer.drain()

    async def _answer_data(self, writer: asyncio.StreamWriter, recipients: list[str], content: bytes) -> bool:
        """Reply to one message's content; False when the connection is to be closed."""
        message_id = message_id_of(content)
        outcome = self._outcome_for(message_id)
        self._record(outcome, recipients, message_id)
        match outcome:
            case Outcome.ACCEPTED:
                writer.write(self._ok)
            case Outcome.REFUSED_PERMANENT:
                writer.write(b"550 5.1.1 Recipient address rejected: chaos says no such user\r\n")
            case Outcome.REFUSED_TEMPORARY:
                writer.write(b"421 4.3.0 Service not available, closing transmission channel\r\n")
                await writer.drain()
                return False
            case Outcome.DROPPED:
                writer.transport.abort()  # gone without a word, as a crashed server would be
                return False
        await writer.drain()
        return True


async def serve(config: SinksConfig) -> None:
    servers = []
    for index, spec in enumerate(config.sinks):
        sink = _Sink(spec, random.Random(f"{config.seed}-{index}"), config.rates)
        servers.append(
            await asyncio.start_server(sink.session, "127.0.0.1", spec.port, limit=MAX_MESSAGE_BYTES)
        )
    await asyncio.gather(*(server.serve_forever() for server in servers))


# --------------------------------------------------------------------------- the driver's side


class FaultSinks:
    """The sinks of `config` in a child process that dies with this one; `records()` reads what they did."""

    def __init__(self, config: SinksConfig, log_path: Path) -> None:
        self.config = config
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def ports(self) -> list[int]:
        return [spec.port for spec in self.config.sinks]

    def records(self) -> SinkRecords:
        return read_records([Path(spec.record_path) for spec in self.config.sinks])

    def __enter__(self) -> Self:
        # Imported here: tools.stack pulls in the services' packages, which the child never needs.
        from tools.stack.errors import RunFailed
        from tools.stack.ports import wait_for_port
        from tools.stack.processes import spawn_dying_with_parent

        with self._log_path.open("ab") as log_file:
            self._process = spawn_dying_with_parent(
                [sys.executable, "-m", "tools.fault_sinks", self.config.to_json()],
                cwd=REPO,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            for port in self.ports:
                wait_for_port(port, timeout=30)
        except RunFailed:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)


if __name__ == "__main__":
    asyncio.run(serve(SinksConfig.from_json(sys.argv[1])))
