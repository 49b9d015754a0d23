"""The delivery worker process: `faststream run --factory services.delivery.entrypoints.main:create_app`.

Everything is built in `services.delivery.bootstrap`; this wires its hooks into the process.
"""

from services.delivery.bootstrap import bootstrap
from services.delivery.settings import DeliverySettings
from shared import telemetry
from shared.service import ServiceApp
from shared.settings import announce_development_mode, load_settings


def create_app(settings: DeliverySettings | None = None) -> ServiceApp:
    settings = settings or load_settings(DeliverySettings, "sendpool-delivery")
    telemetry.configure(f"delivery-{settings.vendor}", settings.log_level, settings.log_json)
    announce_development_mode(settings)
    runtime = bootstrap(settings)
    return ServiceApp.of(runtime, startup=runtime.startup)
