"""`sendpool campaigns|events|messages …`: following campaigns and their events from a terminal.

`campaigns progress` asks the scheduler's API, `messages timeline` the events service's API (both with
a tenant's or the operator's token), and `events tail` reads the public status stream
(`sendpool.events`, `shared.events.EventBatch`) live from RabbitMQ through a queue of its own that
disappears with it. What they print comes from tenants' data and servers' replies: every text is
stripped of control characters before it reaches the terminal (no escape sequence gets through).
"""

import asyncio
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from shared.contracts import FINAL_STATUSES
from shared.events import Event, EventType
from shared.limits import EMAIL_ADDRESS_MAX

campaigns_app = typer.Typer(help="Follow campaigns through the scheduler's API.", no_args_is_help=True)
events_app = typer.Typer(
    help="Read the public status stream (sendpool.events) live from RabbitMQ.", no_args_is_help=True
)
messages_app = typer.Typer(
    help="Read messages' events through the events service's API.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Adds the `campaigns`, `events` and `messages` commands to the `sendpool` command line."""
    app.add_typer(campaigns_app, name="campaigns")
    app.add_typer(events_app, name="events")
    app.add_typer(messages_app, name="messages")


FINISHED_STATES = frozenset({"completed", "cancelled"})
"""A followed campaign that reaches one of these will not move again: `--follow` ends there."""

HTTP_TIMEOUT_SECONDS = 10.0
TIMELINE_PAGE = 1000
TIMELINE_MAX_PAGES = 100
"""A recipient's timeline is a few events per attempt; this bounds a runaway listing all the same."""
DETAILS_WIDTH = 100

TOKEN_HELP = "A tenant's token (its own campaigns) or the operator's (every tenant's)."
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# --------------------------------------------------------------------------- shared helpers


def printable(text: object, width: int | None = None) -> str:
    """`text` safe for a terminal: control characters (escape sequences, newlines) become spaces."""
    cleaned = _CONTROL.sub(" ", str(text))
    if width is not None and len(cleaned) > width:
        return cleaned[: width - 1] + "…"
    return cleaned


def _http_client(url: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=HTTP_TIMEOUT_SECONDS)


class ApiError(Exception):
    """The API refused or could not be reached; the message says which and why."""


def _get_json(client: httpx.Client, path: str, params: dict[str, str] | None = None) -> Any:
    try:
        response = client.get(path, params=params)
    except httpx.HTTPError as error:
        raise ApiError(f"{client.base_url} cannot be reached: {error!r}") from None
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except (ValueError, AttributeError):
            detail = response.text
        raise ApiError(f"{response.status_code} from GET {path}: {printable(detail, 300)}")
    return response.json()


def _fail(error: Exception) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(1)


# --------------------------------------------------------------------------- campaigns progress


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else printable(value)


def _eta(estimate: str | None, now: datetime) -> str:
    if not estimate:
        return "-"
    at = datetime.fromisoformat(estimate)
    left = max((at - now).total_seconds(), 0)
    hours, rest = divmod(int(left), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC (in {hours}h{minutes:02d}m{seconds:02d}s)"


def render_progress(progress: dict[str, Any], *, now: datetime | None = None) -> Group:
    """What `campaigns progress` shows for one answer of `GET /campaigns/{id}/progress`."""
    now = now or datetime.now(UTC)
    counts: dict[str, int] = progress.get("counts") or {}
    total = progress.get("total") or 0
    final = sum(counts.get(status.value, 0) for status in FINAL_STATUSES)
    share = f" ({100 * final / total:.1f} %)" if total else ""
    header = Text(
        f"campaign {printable(progress.get('campaign_id'))}  {printable(progress.get('state'))}\n"
        f"{final:,} of {total:,} final{share}, {_number(progress.get('expanded', 0))} expanded\n"
        f"rate {progress.get('send_rate_per_minute', 0):,.1f} messages/min\n"
        f"ETA  {_eta(progress.get('estimated_completion_at'), now)}"
    )
    states = Table("state", "messages", title="per state", title_justify="left")
    for state, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        states.add_row(printable(state), _number(count))
    servers = Table("server", "sent", title="per server", title_justify="left")
    for server, count in sorted((progress.get("per_server") or {}).items(), key=lambda item: -item[1]):
        servers.add_row(printable(server), _number(count))
    return Group(header, states, servers)


def fetch_progress(client: httpx.Client, campaign_id: UUID) -> dict[str, Any]:
    progress: dict[str, Any] = _get_json(client, f"/campaigns/{campaign_id}/progress")
    return progress


@campaigns_app.command("progress")
def campaigns_progress(
    campaign_id: UUID = typer.Argument(..., help="The campaign to show."),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Refresh until the campaign completes or is cancelled."
    ),
    interval: float = typer.Option(2.0, min=0.2, max=3600, help="Seconds between refreshes with --follow."),
    url: str = typer.Option(
        "http://127.0.0.1:8002", envvar="SENDPOOL_SCHEDULER_URL", help="The scheduler's API."
    ),
    token: str = typer.Option(..., envvar="SENDPOOL_TOKEN", help=TOKEN_HELP),
) -> None:
    """Show a campaign's messages per state and per server, its send rate and estimated completion."""
    from rich.live import Live

    console = Console()
    with _http_client(url, token) as client:
        try:
            progress = fetch_progress(client, campaign_id)
        except ApiError as error:
            raise _fail(error) from None
        if not follow:
            console.print(render_progress(progress))
            return
        with Live(render_progress(progress), console=console, auto_refresh=False) as live:
            while progress.get("state") not in FINISHED_STATES:
                time.sleep(interval)
                try:
                    progress = fetch_progress(client, campaign_id)
                except ApiError as error:
                    # A restarting scheduler is no reason to stop following: say so and ask again.
                    live.update(Group(render_progress(progress), Text(f"(retrying: {error})")), refresh=True)
                    continue
                live.update(render_progress(progress), refresh=True)


# --------------------------------------------------------------------------- events tail


def _uuid_word(name: str, value: str | None) -> str:
    """A routing-key word from a filter: the id itself (never a wildcard or a dot), or `*`."""
    if value is None:
        return "*"
    try:
        return str(UUID(value))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an id", param_hint=f"--{name}") from None


def event_types(values: Iterable[str]) -> list[str]:
    """The `--type` filters, checked against the event types of the stream, without repeats."""
    known = {event_type.value for event_type in EventType}
    chosen: list[str] = []
    for value in values:
        if value not in known:
            raise typer.BadParameter(
                f"{value!r} is not an event type; one of: {', '.join(sorted(known))}", param_hint="--type"
            )
        if value not in chosen:
            chosen.append(value)
    return chosen


def binding_keys(tenant: str | None, campaign: str | None, types: Sequence[str]) -> list[str]:
    """The routing keys (`<tenant>.<campaign>.<type>`) that bind a queue to what the filters ask for.

    An absent filter is the word's `*`; no filter at all is `#`, the whole stream.
    """
    prefix = f"{_uuid_word('tenant', tenant)}.{_uuid_word('campaign', campaign)}"
    chosen = event_types(types)
    if not chosen:
        return ["#"] if prefix == "*.*" else [f"{prefix}.*"]
    return [f"{prefix}.{event_type}" for event_type in chosen]


def _short_details(event: Event) -> str:
    details = event.details
    if "progress" in details:
        progress = details["progress"] or {}
        return (
            f"{sum((progress.get('counts') or {}).values()):,} counted of {progress.get('total', 0):,}, "
            f"{progress.get('send_rate_per_minute', 0):,.1f}/min, ETA {progress.get('estimated_completion_at') or '-'}"
        )
    words = [
        str(details[key])
        for key in ("reply_code", "enhanced_code", "feedback_class", "reply_text", "reason", "retry_at")
        if details.get(key) not in (None, "")
    ]
    if "decision" in details:
        words.append(json.dumps(details["decision"], separators=(",", ":")))
    return " ".join(words)


def event_line(event: Event) -> str:
    """One event as `events tail` and `messages timeline` print it: time, type, recipient, server, details."""
    at = event.occurred_at.astimezone(UTC)
    return "  ".join(
        [
            f"{at:%Y-%m-%d %H:%M:%S}.{at.microsecond // 1000:03d}Z",
            f"{printable(event.type):<18}",
            printable(event.recipient or str(event.campaign_id), 60),
            printable(event.server_id or "-"),
            printable(_short_details(event), DETAILS_WIDTH),
        ]
    )


def events_of_batch(body: bytes) -> Iterator[tuple[Event, dict[str, Any]]]:
    """Each event of an `EventBatch` with its JSON as sent (keys newer than this client included)."""
    from shared.events import EventBatch

    batch = EventBatch.model_validate_json(body)
    raw = json.loads(body)["events"]
    yield from zip(batch.events, raw, strict=True)


async def tail_events(
    amqp_url: str,
    keys: Sequence[str],
    *,
    on_event: Callable[[Event, dict[str, Any]], None],
    recipient: str | None = None,
    count: int | None = None,
    on_ready: Callable[[str], None] = lambda _: None,
) -> int:
    """Reads `sendpool.events` through a temporary queue bound with `keys` until `count` events
    (those of `recipient` only, if given) were handed to `on_event`; returns how many were."""
    import aio_pika
    from pydantic import ValidationError

    from shared.topology import EVENTS_EXCHANGE

    wanted = recipient.lower() if recipient else None
    shown = 0
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=100)
        # Declared as the events service declares it, so a tail may start before the service does.
        exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE.name, type=aio_pika.ExchangeType.TOPIC, durable=True
        )
        # Exclusive and auto-deleted: the queue is this command's alone and goes when it stops.
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in keys:
            await queue.bind(exchange, routing_key=key)
        on_ready(queue.name)
        async with queue.iterator() as messages:
            async for message in messages:
                # Acked as read: what is left unread when the command stops goes with its queue.
                await message.ack()
                try:
                    events = list(events_of_batch(message.body))
                except (ValidationError, ValueError, KeyError, TypeError) as error:
                    typer.echo(
                        f"skipped a message that is not an EventBatch: {printable(error, 200)}", err=True
                    )
                    continue
                for event, raw in events:
                    if wanted is not None and (event.recipient or "").lower() != wanted:
                        continue
                    on_event(event, raw)
                    shown += 1
                    if count is not None and shown >= count:
                        return shown
    return shown


@events_app.command("tail")
def events_tail(
    tenant: str | None = typer.Option(None, help="Only this tenant's events (its id)."),
    campaign: str | None = typer.Option(None, help="Only this campaign's events (its id)."),
    types: list[str] = typer.Option(
        [],
        "--type",
        help="Only events of this type (repeat for several): sent, bounced, campaign_progress, …",
    ),
    recipient: str | None = typer.Option(None, help="Only events about this address (any case)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line, each event as published."),
    count: int | None = typer.Option(None, min=1, help="Stop after this many events."),
    timeout: float | None = typer.Option(None, min=0.1, help="Stop after this many seconds."),
    amqp_url: str = typer.Option(
        "amqp://guest:guest@127.0.0.1:5672/", envvar="SENDPOOL_AMQP_URL", help="The broker."
    ),
) -> None:
    """Print events as they are published, one line each (time, type, recipient, server, details).

    The filters become the routing keys of a temporary queue (`<tenant>.<campaign>.<type>`), so only
    matching events reach this command; `--recipient` is applied here. Ctrl-C stops it.
    """
    if recipient is not None and len(recipient) > EMAIL_ADDRESS_MAX:
        raise typer.BadParameter(f"longer than {EMAIL_ADDRESS_MAX} characters", param_hint="--recipient")
    keys = binding_keys(tenant, campaign, types)

    def show(event: Event, raw: dict[str, Any]) -> None:
        typer.echo(json.dumps(raw, ensure_ascii=False) if as_json else event_line(event))
        sys.stdout.flush()

    def ready(queue: str) -> None:
        typer.echo(f"listening on sendpool.events for {', '.join(keys)} (Ctrl-C to stop)", err=True)

    async def run() -> int:
        tail = tail_events(amqp_url, keys, on_event=show, recipient=recipient, count=count, on_ready=ready)
        if timeout is None:
            return await tail
        try:
            return await asyncio.wait_for(tail, timeout)
        except TimeoutError:
            return -1

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        typer.echo("stopped", err=True)
    except OSError as error:  # the broker cannot be reached (aio-pika's connection errors are OSErrors)
        raise _fail(error) from None


# --------------------------------------------------------------------------- messages timeline


def timeline_events(
    client: httpx.Client, message_id: UUID | None, campaign: UUID | None, recipient: str | None
) -> list[dict[str, Any]]:
    """The events of one message, or of one recipient within a campaign (every page), oldest first."""
    if message_id is not None:
        answer = _get_json(client, f"/messages/{message_id}/events")
        events: list[dict[str, Any]] = answer["events"]
        return events
    events = []
    params = {"recipient": recipient or "", "limit": str(TIMELINE_PAGE)}
    for _ in range(TIMELINE_MAX_PAGES):
        page = _get_json(client, f"/campaigns/{campaign}/events", params)
        events.extend(page["events"])
        if not page.get("next"):
            break
        params["after"] = page["next"]
    return events


@messages_app.command("timeline")
def messages_timeline(
    message_id: UUID | None = typer.Argument(None, help="The message (or give --campaign and --recipient)."),
    campaign: UUID | None = typer.Option(
        None, help="With --recipient: that recipient's messages in this campaign."
    ),
    recipient: str | None = typer.Option(None, help="With --campaign: the recipient's address (any case)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line, each event as logged."),
    url: str = typer.Option(
        "http://127.0.0.1:8006", envvar="SENDPOOL_EVENTS_URL", help="The events service's API."
    ),
    token: str = typer.Option(..., envvar="SENDPOOL_TOKEN", help=TOKEN_HELP),
) -> None:
    """Every event of one message: routed where and why, each attempt, its outcome, a bounce or complaint."""
    if (message_id is None) == (campaign is None or recipient is None):
        raise typer.BadParameter("give a MESSAGE_ID, or --campaign and --recipient (not both)")
    if recipient is not None and len(recipient) > EMAIL_ADDRESS_MAX:
        raise typer.BadParameter(f"longer than {EMAIL_ADDRESS_MAX} characters", param_hint="--recipient")
    with _http_client(url, token) as client:
        try:
            events = timeline_events(client, message_id, campaign, recipient)
        except ApiError as error:
            raise _fail(error) from None
    for raw in events:
        typer.echo(json.dumps(raw, ensure_ascii=False) if as_json else event_line(Event.model_validate(raw)))
    if not as_json:
        typer.echo(f"{len(events)} event(s)", err=True)
