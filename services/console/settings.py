"""Settings of the web console (environment variables `SENDPOOL_CONSOLE_*`, and the shared `SENDPOOL_*`).

The console holds no credential of its own: it calls the services' HTTP APIs with the token its
user signed in with, so each API decides what that token may see and do.
"""

from pydantic import AnyHttpUrl, Field
from pydantic_settings import SettingsConfigDict

from shared.settings import FernetKeys, ProcessSettings, secret_field

DEVELOPMENT_SESSION_KEY = "c2VuZHBvb2wtY29uc29sZS1kZXZlbG9wbWVudC0hISE="
"""Public (base64 of `sendpool-console-development-!!!`): what development mode seals sessions with."""


class ConsoleSettings(ProcessSettings):
    # A malformed setting must not print its value: the session keys are secrets.
    model_config = SettingsConfigDict(env_prefix="SENDPOOL_CONSOLE_", hide_input_in_errors=True)

    catalog_url: AnyHttpUrl = Field(description="The catalog's HTTP API, as the console reaches it.")
    scheduler_url: AnyHttpUrl = Field(description="The scheduler's HTTP API (lists, campaigns, progress).")
    router_url: AnyHttpUrl = Field(description="A router's HTTP API (a campaign's dry run).")
    session_keys: FernetKeys = secret_field(
        dev_value=[DEVELOPMENT_SESSION_KEY],
        description="Comma-separated Fernet keys (urlsafe base64 of 32 bytes) that seal the session cookie, "
        "which carries the signed-in API token. The first key seals; every key opens, so a new key goes "
        "first and the old one stays for `SENDPOOL_CONSOLE_SESSION_HOURS`.",
    )
    session_hours: float = Field(
        8.0, gt=0, le=24 * 7, description="How long a sign-in lasts before the token is asked for again."
    )
    secure_cookies: bool = Field(
        True,
        description="Send the session cookie over HTTPS only. Turn it off only where the console is "
        "served over plain http on a developer's machine or in tests.",
    )
    api_timeout_seconds: float = Field(
        40.0,
        gt=0,
        description="How long one call to a service's API may take. A connection test or a test email "
        "waits for the delivery worker (the catalog gives it 30 s), so keep it above that.",
    )
    page_size: int = Field(50, ge=10, le=500, description="Servers and campaigns listed per page.")
