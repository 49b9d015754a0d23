"""The fastest a single Python process sends SMTP here: the ceiling of any Python delivery worker.

One process, aiosmtplib on uvloop (what the delivery worker uses), `connections_per_server` open
connections to each SMTP server, every connection sending one message after another with the
same commands the worker's SMTP sender gives (MAIL FROM, RCPT TO, DATA on a reused connection).
It does nothing else: no broker, no database, no rendering (the message's bytes are built once),
so what it achieves is what the worker's SMTP part alone would achieve on this machine, and
`pipeline / python sender` says how much of that the rest of the pipeline leaves.

It keeps sending until it has sent at least `messages` and at least `min_seconds` have passed,
then prints one JSON line on stdout: `{"messages": 123456, "seconds": 10.02, "connections": 12}`.
The bench runs it in a subprocess (`python -m tools.python_sender --help`), so that neither the
bench's own Python nor its threads share its interpreter.
"""

import asyncio
import json
import time
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
import typer
import uvloop

from tools.stack.campaigns import campaign_content

app = typer.Typer(add_completion=False, help=__doc__)

SENDER = "bench@example.com"


def message_bytes(body_bytes: int) -> bytes:
    """A multipart/alternative message with the bench campaign's content (text and HTML parts
    adding up to about `body_bytes`), as the delivery worker would put it on the wire."""
    content = campaign_content(body_bytes)
    message = EmailMessage()
    message["From"] = f"{content.from_name} <{content.from_address}>"
    message["To"] = "user000000@example.com"
    message["Subject"] = content.subject
    message["Message-ID"] = "<python-sender@bench.example.com>"
    message.set_content(content.text or "")
    if content.html:
        message.add_alternative(content.html, subtype="html")
    return message.as_bytes()


@dataclass
class _Progress:
    """Shared by every connection: how many were sent, and when to stop."""

    messages: int
    not_before: float
    sent: int = 0

    def done(self) -> bool:
        return self.sent >= self.messages and time.monotonic() >= self.not_before


async def _send_on_one_connection(port: int, content: bytes, progress: _Progress, host: str) -> None:
    client = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False, timeout=60)
    await client.connect()
    try:
        while not progress.done():
            recipient = f"user{progress.sent:06d}@example.com"
            progress.sent += 1  # counted before the await, so connections do not overshoot together
            await client.mail(SENDER)
            await client.rcpt(recipient)
            await client.data(content)
    finally:
        await client.quit()


async def send(
    ports: list[int],
    *,
    connections_per_server: int,
    messages: int,
    min_seconds: float,
    body_bytes: int,
    host: str = "127.0.0.1",
) -> dict[str, float | int]:
    """Send until `messages` are sent and `min_seconds` have passed; what was sent, and in how long."""
    content = message_bytes(body_bytes)
    started = time.monotonic()
    progress = _Progress(messages, started + min_seconds)
    await asyncio.gather(
        *(
            _send_on_one_connection(port, content, progress, host)
            for port in ports
            for _ in range(connections_per_server)
        )
    )
    return {
        "messages": progress.sent,
        "seconds": round(time.monotonic() - started, 3),
        "connections": len(ports) * connections_per_server,
        "message_bytes": len(content),
    }


@app.command()
def main(
    ports: str = typer.Option(..., help="SMTP servers' ports on `host`, comma-separated."),
    connections_per_server: int = typer.Option(4, min=1, help="Open connections to each server."),
    messages: int = typer.Option(20_000, min=1, help="Send at least this many messages."),
    min_seconds: float = typer.Option(10.0, min=0, help="…and keep sending for at least this long."),
    body_bytes: int = typer.Option(2_000, min=1, help="Size of a message's text and HTML parts together."),
    host: str = typer.Option("127.0.0.1", help="Where the SMTP servers listen."),
) -> None:
    """Send, then print one JSON line: messages, seconds, connections, message_bytes."""
    result = uvloop.run(
        send(
            [int(port) for port in ports.split(",")],
            connections_per_server=connections_per_server,
            messages=messages,
            min_seconds=min_seconds,
            body_bytes=body_bytes,
            host=host,
        )
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    app()
