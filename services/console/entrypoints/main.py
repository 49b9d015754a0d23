"""Console process: `uvicorn --factory services.console.entrypoints.main:create_app`.

A web console for operators and tenant admins over the services' HTTP APIs: the pool, servers
(added, tested, enabled, paused), campaigns (sending policy, dry run, launch, live progress) and,
for the operator, tenants and plans. It signs in with an API token and shows what that token may see.
"""

from fastapi import FastAPI

from services.console.entrypoints.http import create_console
from services.console.settings import ConsoleSettings
from shared import telemetry
from shared.settings import announce_development_mode, load_settings


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or load_settings(ConsoleSettings, "sendpool-console")
    telemetry.configure("console", settings.log_level, settings.log_json)
    announce_development_mode(settings)
    return create_console(settings)
