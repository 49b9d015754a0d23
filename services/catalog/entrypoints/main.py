"""The catalog process: `faststream run --factory services.catalog.entrypoints.main:create_app`."""

from services.catalog.bootstrap import bootstrap
from services.catalog.settings import CatalogSettings
from shared import telemetry
from shared.service import ServiceApp
from shared.settings import announce_development_mode, load_settings


def create_app(settings: CatalogSettings | None = None) -> ServiceApp:
    settings = settings or load_settings(CatalogSettings, "sendpool-catalog")
    telemetry.configure("catalog", settings.log_level, settings.log_json)
    announce_development_mode(settings)
    return ServiceApp.of(bootstrap(settings))
