"""The catalog process: `faststream run --factory services.catalog.entrypoints.main:create_app`."""

from services.catalog.bootstrap import bootstrap
from services.catalog.settings import CatalogSettings
from shared import telemetry
from shared.service import ServiceApp


def create_app(settings: CatalogSettings | None = None) -> ServiceApp:
    settings = settings or CatalogSettings()
    telemetry.configure("catalog", settings.log_level, settings.log_json)
    return ServiceApp.of(bootstrap(settings))
