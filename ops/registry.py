"""The one list of sendpool's services, for everything that works across them.

The `sendpool` command (migrations), the document generators (settings, OpenAPI, AsyncAPI), the
deployment manifests and the local harness (`tools.stack`) all read this list instead of keeping
their own. Each entry names where the service's pieces are; nothing is imported until it is used,
so `sendpool migrate` does not load every service.
"""

from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

from shared.service import ServiceApp
from shared.settings import ProcessSettings, development_values

DOCUMENT_INSTANCE_ID = "<instance>"
"""Written where a per-process queue name has the process's random id, so documents are stable."""


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    """The service's name, its PostgreSQL schema, and the stem of its documents."""
    settings_path: str
    """`module:Class` of its settings."""
    has_http_api: bool = False
    """Whether it serves an HTTP API beside its probes (its OpenAPI document is generated)."""
    summary: str = ""
    """Said at the top of its AsyncAPI document, after what every document says."""
    document_settings: dict[str, Any] = field(default_factory=dict)
    """Values its settings need to build the app for a document, beyond the public development values
    of its secrets (which have no default)."""
    server: str = "faststream"
    """What runs its `factory`: `faststream` (an event-driven service) or `uvicorn` (the web console,
    which has no broker)."""

    @property
    def package(self) -> str:
        return f"services.{self.name}"

    @property
    def factory(self) -> str:
        """What `faststream run --factory` runs."""
        return f"{self.package}.entrypoints.main:create_app"

    @property
    def migrations(self) -> Path:
        return Path(__file__).resolve().parents[1] / "services" / self.name / "migrations"

    @property
    def settings(self) -> type[ProcessSettings]:
        module, name = self.settings_path.split(":")
        settings_class: type[ProcessSettings] = getattr(import_module(module), name)
        return settings_class

    def command(self, host: str, port: int) -> list[str]:
        """The command that serves the process on `host:port` (`faststream run …` or `uvicorn …`), also
        what follows `python -m`."""
        verb = ["run"] if self.server == "faststream" else []
        return [self.server, *verb, "--factory", self.factory, "--host", host, "--port", str(port)]

    def create_app(self, settings: ProcessSettings | None = None) -> ServiceApp:
        module, name = self.factory.split(":")
        app: ServiceApp = getattr(import_module(module), name)(settings)
        return app

    def document_app(self) -> ServiceApp:
        """The app as the documents describe it: built from defaults (never this shell's environment)
        and a fixed instance id, without connecting anywhere."""
        settings = self.settings.model_construct(
            instance_id=DOCUMENT_INSTANCE_ID,
            **{**development_values(self.settings), **self.document_settings},
        )
        return self.create_app(settings)


SERVICES: tuple[ServiceEntry, ...] = (
    ServiceEntry("catalog", "services.catalog.settings:CatalogSettings", has_http_api=True),
    ServiceEntry("scheduler", "services.scheduler.settings:SchedulerSettings", has_http_api=True),
    ServiceEntry(
        "router",
        "services.router.settings:RouterSettings",
        has_http_api=True,
        summary="A router also consumes the queue of each server that cannot send (paused, disabled, "
        "inactive, unhealthy or deleted) to route its messages again.",
    ),
    ServiceEntry(
        "delivery",
        "services.delivery.settings:DeliverySettings",
        summary="A worker (`SENDPOOL_DELIVERY_VENDOR`) also consumes `delivery.<vendor>.<server_id>` of each "
        "active server of its vendor (`DeliveryRequested`, see the router's document), starting and "
        "stopping those consumers as servers change.",
    ),
    ServiceEntry("bounces", "services.bounces.settings:BouncesSettings", has_http_api=True),
    ServiceEntry(
        "events",
        "services.events.settings:EventsSettings",
        has_http_api=True,
        summary="Its publisher `events: public status stream` is the public contract tenants' systems "
        "(and the webhooks) read: `EventBatch` on `sendpool.events`, routing key `<tenant>.<campaign>.<type>`.",
    ),
    ServiceEntry(
        "webhooks",
        "services.webhooks.settings:WebhooksSettings",
        has_http_api=True,
        summary="It sends the events it consumes to tenants' HTTPS endpoints (Standard Webhooks), outside "
        "RabbitMQ: see docs/architecture.md, section Webhooks.",
    ),
)

CONSOLE = ServiceEntry("console", "services.console.settings:ConsoleSettings", server="uvicorn")
"""The web console: not among `SERVICES` (it has no broker, database, migrations or AsyncAPI document);
it calls the services' HTTP APIs with its user's token."""

BY_NAME: dict[str, ServiceEntry] = {entry.name: entry for entry in (*SERVICES, CONSOLE)}


def service(name: str) -> ServiceEntry:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no service {name!r}; the services are {', '.join(BY_NAME)}") from None
