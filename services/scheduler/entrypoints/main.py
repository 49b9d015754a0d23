"""The scheduler process: `faststream run --factory services.scheduler.entrypoints.main:create_app`."""

from services.scheduler.bootstrap import bootstrap
from services.scheduler.settings import SchedulerSettings
from shared import telemetry
from shared.service import ServiceApp
from shared.settings import announce_development_mode, load_settings


def create_app(settings: SchedulerSettings | None = None) -> ServiceApp:
    settings = settings or load_settings(SchedulerSettings, "sendpool-scheduler")
    telemetry.configure("scheduler", settings.log_level, settings.log_json)
    announce_development_mode(settings)
    return ServiceApp.of(bootstrap(settings))
