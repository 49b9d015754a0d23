"""Router process: `faststream run --factory services.router.entrypoints.main:create_app`.

Everything is built in `services.router.bootstrap`; this wires its hooks into the process.
"""

from services.router.bootstrap import bootstrap
from services.router.settings import RouterSettings
from shared import telemetry
from shared.service import ServiceApp


def create_app(settings: RouterSettings | None = None) -> ServiceApp:
    settings = settings or RouterSettings()
    telemetry.configure("router", settings.log_level, settings.log_json)
    return ServiceApp.of(bootstrap(settings))
