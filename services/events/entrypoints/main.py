"""Events process: `faststream run --factory services.events.entrypoints.main:create_app`.

The public status stream: every status batch and campaign event of `sendpool.status` is
translated once to the public envelope (`shared.events`), kept in the event log, and published
on `sendpool.events` for the tenants' systems and the webhooks. The HTTP API serves the timelines
of a message and of a campaign from the log.
"""

from services.events.bootstrap import bootstrap
from services.events.settings import EventsSettings
from shared import telemetry
from shared.service import ServiceApp
from shared.settings import announce_development_mode, load_settings


def create_app(settings: EventsSettings | None = None) -> ServiceApp:
    settings = settings or load_settings(EventsSettings, "sendpool-events")
    telemetry.configure("events", settings.log_level, settings.log_json)
    announce_development_mode(settings)
    return ServiceApp.of(bootstrap(settings))
