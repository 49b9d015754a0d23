"""Router process: `faststream run --factory services.router.entrypoints.main:create_app`.

Everything is built in `services.router.bootstrap`; this wires its hooks into the process.
"""

from services.router.bootstrap import bootstrap
from services.router.settings import RouterSettings
from shared import telemetry
from shared.service import ServiceApp
from shared.settings import announce_development_mode, load_settings


def create_app(settings: RouterSettings | None = None) -> ServiceApp:
    settings = settings or load_settings(RouterSettings, "sendpool-router")
    telemetry.configure("router", settings.log_level, settings.log_json)
    announce_development_mode(settings)
    runtime = bootstrap(settings)
    return ServiceApp.of(runtime, startup=runtime.startup)
