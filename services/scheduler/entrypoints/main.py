"""The scheduler process: `faststream run --factory services.scheduler.entrypoints.main:create_app`."""

from services.scheduler.bootstrap import bootstrap
from services.scheduler.settings import SchedulerSettings
from shared import telemetry
from shared.service import ServiceApp


def create_app(settings: SchedulerSettings | None = None) -> ServiceApp:
    settings = settings or SchedulerSettings()
    telemetry.configure("scheduler", settings.log_level, settings.log_json)
    return ServiceApp.of(bootstrap(settings))
