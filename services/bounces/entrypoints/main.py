"""Bounces process: `faststream run --factory services.bounces.entrypoints.main:create_app`.

For now it folds status events into per-server outcome counters; DSN, webhook and complaint
intake come with the bounces issue.
"""

from services.bounces.bootstrap import bootstrap
from services.bounces.settings import BouncesSettings
from shared import telemetry
from shared.service import ServiceApp
from shared.settings import announce_development_mode, load_settings


def create_app(settings: BouncesSettings | None = None) -> ServiceApp:
    settings = settings or load_settings(BouncesSettings, "sendpool-bounces")
    telemetry.configure("bounces", settings.log_level, settings.log_json)
    announce_development_mode(settings)
    return ServiceApp.of(bootstrap(settings))
