"""`sendpool` command line: operational tasks that run outside the services (migrations, tokens)."""

import asyncio
import importlib
from collections.abc import Callable
from pathlib import Path

import typer

from shared.db import migrate as apply_migrations
from shared.settings import ServiceSettings

app = typer.Typer(help="sendpool operational commands", no_args_is_help=True)

SERVICES = ("catalog", "scheduler", "router", "delivery", "bounces")


def migrations_dir(service: str) -> Path:
    module = importlib.import_module(f"services.{service}")
    return Path(module.__file__).parent / "migrations"


@app.command()
def migrate(service: list[str] = typer.Argument(None, help="Services to migrate (default: all).")) -> None:
    """Apply pending schema migrations (each service also does this when it starts)."""
    settings = ServiceSettings()
    for name in service or SERVICES:
        applied = apply_migrations(settings.database_url, name, migrations_dir(name))
        typer.echo(f"{name}: {len(applied)} migration(s) applied")


@app.command()
def settings(
    readme: Path | None = typer.Option(
        None, help="Rewrite this README's configuration block instead of printing."
    ),
) -> None:
    """Print the configuration reference (every SENDPOOL_* variable) as a Markdown table."""
    from shared.settings_doc import configuration_table, with_configuration_table

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

    count = asyncio.run(reseal(CatalogSettings()))
    typer.echo(f"catalog: the secrets of {count} server(s) are encrypted under the first key")


@app.command()
def openapi(
    directory: Path = typer.Argument(Path("docs/openapi"), help="Where to write <service>.json."),
) -> None:
    """Write the OpenAPI documents of the catalog, scheduler and router HTTP APIs."""
    from shared.openapi_doc import HTTP_APIS, openapi_text

    _write_documents(directory, list(HTTP_APIS), openapi_text)


@app.command()
def asyncapi(
    directory: Path = typer.Argument(Path("docs/asyncapi"), help="Where to write <service>.json."),
) -> None:
    """Write the AsyncAPI documents of the five services: what each consumes and publishes."""
    from shared.asyncapi_doc import SERVICES, asyncapi_text

    _write_documents(directory, list(SERVICES), asyncapi_text)


def _write_documents(directory: Path, services: list[str], text_of: Callable[[str], str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for service in services:
        path = directory / f"{service}.json"
        path.write_text(text_of(service))
        typer.echo(f"{service}: {path}")


if __name__ == "__main__":
    app()
