"""Webhooks process: `faststream run --factory services.webhooks.entrypoints.main:create_app`.

Delivers the public status stream (`sendpool.events`) to tenants' HTTPS endpoints per the
Standard Webhooks specification: signed, retried with backoff, batched when an endpoint falls
behind, logged, replayable; the HTTP API manages the endpoints.
"""

from services.webhooks.bootstrap import bootstrap
from services.webhooks.settings import WebhooksSettings
from shared import telemetry
from shared.service import ServiceApp
from shared.settings import announce_development_mode, load_settings


def create_app(settings: WebhooksSettings | None = None) -> ServiceApp:
    settings = settings or load_settings(WebhooksSettings, "sendpool-webhooks")
    telemetry.configure("webhooks", settings.log_level, settings.log_json)
    announce_development_mode(settings)
    return ServiceApp.of(bootstrap(settings))
