"""`sendpool` command line (`ops.cli`): operational tasks that run outside the services (migrations, tokens,
dead letters, offline bounce classification)."""

import asyncio
import json
from collections.abc import Callable, Iterable
from pathlib import Path

import typer

from ops.cli_tracking import register as register_tracking
from ops.registry import SERVICES, service
from shared.db import migrate as apply_migrations
from shared.settings import ServiceSettings

app = typer.Typer(help="sendpool operational commands", no_args_is_help=True)


@app.command()
def migrate(
    services: list[str] | None = typer.Argument(None, help="Services to migrate (default: all)."),
) -> None:
    """Apply pending schema migrations (each service also does this when it starts)."""
    settings = ServiceSettings()
    for entry in [service(name) for name in services] if services else SERVICES:
        applied = apply_migrations(settings.database_url, entry.name, entry.migrations)
        typer.echo(f"{entry.name}: {len(applied)} migration(s) applied")


@app.command()
def settings(
    readme: Path | None = typer.Option(
        None, help="Rewrite this README's configuration block instead of printing."
    ),
) -> None:
    """Print the configuration reference (every SENDPOOL_* variable) as a Markdown table."""
    from ops.settings_doc import configuration_table, with_configuration_table

    if readme is None:
        typer.echo(configuration_table())
    else:
        readme.write_text(with_configuration_table(readme.read_text()))


@app.command()
def rotate_keys() -> None:
    """Re-encrypt every server secret under the first key of SENDPOOL_CATALOG_SECRET_KEYS.

    Put the new key first (the old ones after it) on every catalog replica, run this, then remove
    the old keys: replicas decrypt with any listed key, so nothing stops meanwhile.
    """
    from services.catalog.entrypoints.commands import rotate_keys as reseal
    from services.catalog.settings import CatalogSettings
    from shared.settings import load_settings

    count = asyncio.run(reseal(load_settings(CatalogSettings, "sendpool rotate-keys")))
    typer.echo(f"catalog: the secrets of {count} server(s) are encrypted under the first key")


@app.command()
def openapi(
    directory: Path = typer.Argument(Path("docs/openapi"), help="Where to write <service>.json."),
) -> None:
    """Write the OpenAPI documents of the catalog, scheduler and router HTTP APIs."""
    from ops.openapi_doc import HTTP_APIS, openapi_text

    _write_documents(directory, HTTP_APIS, openapi_text)


@app.command()
def asyncapi(
    directory: Path = typer.Argument(Path("docs/asyncapi"), help="Where to write <service>.json."),
) -> None:
    """Write the AsyncAPI documents of the five services: what each consumes and publishes."""
    from ops.asyncapi_doc import DOCUMENTED, asyncapi_text

    _write_documents(directory, DOCUMENTED, asyncapi_text)


dead_letters_app = typer.Typer(
    help="Inspect and replay the messages in sendpool.dead (SENDPOOL_AMQP_URL names the broker).",
    no_args_is_help=True,
)
app.add_typer(dead_letters_app, name="dead-letters")

SOURCE_HELP = "Only dead letters from this source: a glob on `<exchange>/<routing key>` or on the queue."
REASON_HELP = "Only dead letters whose reason contains this text (case-insensitive)."


@dead_letters_app.command("list")
def dead_letters_list(
    source: str | None = typer.Option(None, help=SOURCE_HELP),
    reason_contains: str | None = typer.Option(None, help=REASON_HELP),
    limit: int | None = typer.Option(None, min=1, help="Show at most this many."),
    as_json: bool = typer.Option(False, "--json", help="One JSON array, for machines."),
) -> None:
    """Show the dead letters, oldest first, without consuming them: each is given back in order."""
    from shared.dead_letters import Filters, list_dead_letters, now

    filters = Filters(source=source, reason_contains=reason_contains, limit=limit)
    letters, total = asyncio.run(list_dead_letters(ServiceSettings().amqp_url, filters))
    at = now()
    if as_json:
        typer.echo(json.dumps([letter.as_json(at) for letter in letters], indent=2))
        return
    for letter in letters:
        age = letter.age_seconds(at)
        typer.echo(
            f"{letter.message_id or '(no message id)'}  {_duration(age) if age is not None else '?':>7}  "
            f"{letter.size:>7}B  {letter.source}"
            + (f" [{letter.queue}]" if letter.queue else "")
            + f"  {letter.reason}"
        )
    typer.echo(f"{len(letters)} shown of {total} dead letter(s) in sendpool.dead")


@dead_letters_app.command("replay")
def dead_letters_replay(
    source: str | None = typer.Option(None, help=SOURCE_HELP),
    reason_contains: str | None = typer.Option(None, help=REASON_HELP),
    message_id: str | None = typer.Option(None, help="Only the dead letter with this message id."),
    limit: int | None = typer.Option(None, min=1, help="Replay at most this many."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Say what would be replayed where; change nothing."
    ),
) -> None:
    """Publish matching dead letters back where they came from, then remove them from sendpool.dead.

    Each goes back to the queue that gave up on it (or the exchange and routing key it came
    through), persistent, with its message id and without the dead-letter headers; it leaves
    sendpool.dead only once the broker confirmed it, so one that fails to publish stays there.
    Consumers are idempotent on the message id, and a replayed message is no longer in
    sendpool.dead, so running replay again is safe and publishes nothing twice.
    """
    from shared.dead_letters import Filters, ReplayOutcome, replay_dead_letters

    def report(outcome: ReplayOutcome) -> None:
        letter = outcome.letter
        name = letter.message_id or "(no message id)"
        if outcome.error is not None:
            typer.echo(f"kept {name}: {outcome.error}", err=True)
        elif outcome.replayed:
            typer.echo(f"replayed {name} to {letter.replay_target}")
        else:
            typer.echo(f"would replay {name} to {letter.replay_target}  ({letter.reason})")

    filters = Filters(source=source, reason_contains=reason_contains, message_id=message_id, limit=limit)
    outcomes = asyncio.run(
        replay_dead_letters(ServiceSettings().amqp_url, filters, dry_run=dry_run, on_outcome=report)
    )
    replayed = sum(outcome.replayed for outcome in outcomes)
    failed = sum(outcome.error is not None for outcome in outcomes)
    if dry_run:
        typer.echo(f"{len(outcomes) - failed} dead letter(s) would be replayed; nothing was changed")
    else:
        typer.echo(f"{replayed} dead letter(s) replayed, {failed} kept in sendpool.dead")
    if failed:
        raise typer.Exit(1)


bounces_app = typer.Typer(help="Work with bounce and feedback mail offline.", no_args_is_help=True)
app.add_typer(bounces_app, name="bounces")
register_tracking(app)  # campaigns progress, events tail, messages timeline


@bounces_app.command("classify")
def bounces_classify(
    files: list[Path] = typer.Argument(..., help="Saved messages (.eml, as received) to classify."),
) -> None:
    """Classify saved bounce or feedback mail as the bounce endpoint would: one JSON line per file.

    Each line: {"file", "class", "rule", "recipients": [{"address", "status", "action",
    "diagnostic"}], "feedback_type", "original_message_id"}. A file that cannot be read gives
    class unknown with an "error", and the command exits 1 once every file is done.
    """
    unreadable = 0
    for path in files:
        line = classify_file(path)
        unreadable += "error" in line
        typer.echo(json.dumps(line, ensure_ascii=False))
    if unreadable:
        raise typer.Exit(1)


def classify_file(path: Path) -> dict[str, object]:
    """One file's classification as `sendpool bounces classify` prints it (the corpus test uses it)."""
    from services.bounces.domain.classify import classify_message

    try:
        raw = path.read_bytes()
    except OSError as error:
        return {
            "file": str(path),
            "class": "unknown",
            "rule": "unreadable",
            "recipients": [],
            "error": str(error),
        }
    classification = classify_message(raw)
    return {
        "file": str(path),
        "class": classification.feedback_class.value,
        "rule": classification.rule,
        "recipients": [
            {
                "address": report.address,
                "status": report.status,
                "action": report.action,
                "diagnostic": report.diagnostic,
            }
            for report in classification.recipients
        ],
        "feedback_type": classification.feedback_type,
        "original_message_id": (
            str(classification.original_message_id) if classification.original_message_id else None
        ),
    }


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def _write_documents(directory: Path, names: Iterable[str], text_of: Callable[[str], str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = directory / f"{name}.json"
        path.write_text(text_of(name))
        typer.echo(f"{name}: {path}")


if __name__ == "__main__":
    app()
