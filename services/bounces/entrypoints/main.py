"""Bounces process: `faststream run --factory services.bounces.entrypoints.main:create_app`.

The feedback loop: the bounce mail endpoint (SMTP, the MX of the Return-Path domains) and the
vendor webhooks take DSNs, complaints and vendor events in; each is stored, matched to its message
(`sent_messages`, filled from the `sent` status events) and acted on: suppressions (per tenant and
global, checked over `bounces.rpc`), `bounced` and `complained` status events through the outbox,
per-server outcome counters whose rates pause servers past their limits. The HTTP API serves the
suppression lists, the feedback, its re-classification and the audit log.
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
    runtime = bootstrap(settings)
    # The bounce mail endpoint's listener is among what /readyz checks.
    return ServiceApp.of(runtime, readiness_checks={"smtp": runtime.smtp.readiness})
