"""Settings names: one prefix per service, shared names only where they are shared, renamed ones refused;
secrets without defaults: missing, placeholder or published ones stop a service outside development mode."""

import os
import re
import secrets
from pathlib import Path

import pytest
import structlog
import yaml
from cryptography.fernet import Fernet

from ops.registry import SERVICES
from ops.settings_doc import SHARED_BY_SOME, configuration_table, env_name
from services.catalog.settings import CatalogSettings
from services.console.settings import ConsoleSettings
from services.router.settings import RouterSettings
from services.scheduler.settings import SchedulerSettings
from shared.settings import (
    RENAMED_VARIABLES,
    ProcessSettings,
    SecretsRefused,
    ServiceSettings,
    announce_development_mode,
    development_values,
    load_settings,
    secret_fields,
)

REPO = Path(__file__).resolve().parents[2]


def documented_variables() -> dict[str, set[str]]:
    readers_of: dict[str, set[str]] = {}
    for row in configuration_table().splitlines()[2:]:
        variable, readers = (cell.strip().strip("`") for cell in row.split("|")[1:3])
        readers_of[variable] = set(readers.split(", "))
    return readers_of


def test_a_knob_of_one_service_carries_its_name():
    # Keys several services must agree on keep one name, even while only one service reads them.
    shared_keys = {env_name(mixin, n, f) for mixin in SHARED_BY_SOME for n, f in mixin.model_fields.items()}
    for variable, readers in documented_variables().items():
        if variable not in shared_keys and "every service" not in readers:
            (reader,) = readers
            assert variable.startswith(f"SENDPOOL_{reader.upper()}_"), variable


def test_every_replacement_of_a_renamed_variable_exists():
    documented = set(documented_variables())
    for old, new in RENAMED_VARIABLES.items():
        assert old not in documented, f"{old} is both renamed and read"
        for replacement in re.findall(r"SENDPOOL_[A-Z_]+", new):
            assert replacement in documented, f"{old} was renamed to {replacement}, which no service reads"


@pytest.mark.parametrize("entry", SERVICES, ids=lambda entry: entry.name)
def test_a_service_refuses_to_start_while_a_renamed_variable_is_set(entry, monkeypatch):
    monkeypatch.setenv("SENDPOOL_CATALOG_SECRET_KEYS", "ZG9jdW1lbnRzLW5ldmVyLWRlY3J5cHQtYW55dGhpbmc=")
    monkeypatch.setenv("SENDPOOL_VENDOR", "ses")
    with pytest.raises(ValueError, match="SENDPOOL_VENDOR is now SENDPOOL_DELIVERY_VENDOR"):
        entry.settings()


def test_a_setting_value_is_never_echoed_in_its_error(monkeypatch):
    monkeypatch.setenv("SENDPOOL_DB_POOL_SIZE", "not-a-number-secret")
    with pytest.raises(ValueError) as refused:
        SERVICES[-1].settings()
    assert "not-a-number-secret" not in str(refused.value)


# ---- secrets: none has a default; missing, placeholder or published values stop the service


def without_sendpool_environment(monkeypatch) -> None:
    """No SENDPOOL_* from the test process (its SENDPOOL_DEV_MODE=1 included): as a production pod starts."""
    for name in [name for name in os.environ if name.startswith("SENDPOOL_")]:
        monkeypatch.delenv(name)


SECRETS_OF = {
    "catalog": {"SENDPOOL_TOKEN_SECRET", "SENDPOOL_OPERATOR_TOKEN", "SENDPOOL_CATALOG_SECRET_KEYS"},
    "scheduler": {"SENDPOOL_TOKEN_SECRET", "SENDPOOL_OPERATOR_TOKEN"},
    "router": {"SENDPOOL_TOKEN_SECRET", "SENDPOOL_OPERATOR_TOKEN"},
    "delivery": {"SENDPOOL_VERP_SECRET", "SENDPOOL_UNSUBSCRIBE_SECRET"},
    "bounces": {
        "SENDPOOL_TOKEN_SECRET",
        "SENDPOOL_OPERATOR_TOKEN",
        "SENDPOOL_VERP_SECRET",
        "SENDPOOL_UNSUBSCRIBE_SECRET",
    },
    "webhooks": {"SENDPOOL_TOKEN_SECRET", "SENDPOOL_OPERATOR_TOKEN", "SENDPOOL_WEBHOOKS_SECRET_KEYS"},
    "events": {"SENDPOOL_TOKEN_SECRET", "SENDPOOL_OPERATOR_TOKEN"},
}
RANDOM_VALUES = {
    "SENDPOOL_TOKEN_SECRET": secrets.token_hex(32),
    "SENDPOOL_OPERATOR_TOKEN": secrets.token_hex(32),
    "SENDPOOL_VERP_SECRET": secrets.token_hex(32),
    "SENDPOOL_UNSUBSCRIBE_SECRET": secrets.token_hex(32),
    "SENDPOOL_CATALOG_SECRET_KEYS": Fernet.generate_key().decode(),
    "SENDPOOL_WEBHOOKS_SECRET_KEYS": Fernet.generate_key().decode(),
}
EXAMPLE_SECRET = yaml.safe_load_all((REPO / "deploy" / "secret.example.yaml").read_text())
PLACEHOLDERS = next(doc for doc in EXAMPLE_SECRET if doc["metadata"]["name"] == "sendpool")["stringData"]


def test_the_secrets_each_service_needs_are_those_declared_as_secrets():
    for entry in SERVICES:
        declared = {env_name(entry.settings, n, f) for n, f in secret_fields(entry.settings).items()}
        assert declared == SECRETS_OF[entry.name], entry.name


@pytest.mark.parametrize("entry", SERVICES, ids=lambda entry: entry.name)
def test_without_its_secrets_a_service_refuses_naming_every_missing_one(entry, monkeypatch):
    without_sendpool_environment(monkeypatch)
    if not SECRETS_OF[entry.name]:
        assert entry.settings().dev_mode is False
        return

    with pytest.raises(SecretsRefused) as refused:
        entry.settings()

    assert set(refused.value.missing) == SECRETS_OF[entry.name]
    assert all(name in str(refused.value) for name in SECRETS_OF[entry.name])
    assert "SENDPOOL_DEV_MODE=1" in str(refused.value)


@pytest.mark.parametrize("entry", SERVICES, ids=lambda entry: entry.name)
def test_the_example_secrets_placeholders_are_refused(entry, monkeypatch):
    without_sendpool_environment(monkeypatch)
    for name in SECRETS_OF[entry.name]:
        monkeypatch.setenv(name, PLACEHOLDERS[name])
    if not SECRETS_OF[entry.name]:
        return

    with pytest.raises(SecretsRefused) as refused:
        entry.settings()

    assert set(refused.value.unsafe) == SECRETS_OF[entry.name]
    assert all("placeholder" in reason for reason in refused.value.unsafe.values())
    assert "<random" not in str(refused.value) and "<Fernet" not in str(refused.value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("dev-operator-token", "published development value"),
        ("development-mode-operator-token", "published development value"),
        ("0123456789abcde", "shorter than 16 characters"),
        ("  <fill me in>  ", "placeholder"),
    ],
)
def test_a_weak_operator_token_is_refused_without_quoting_it(value, reason, monkeypatch):
    without_sendpool_environment(monkeypatch)
    monkeypatch.setenv("SENDPOOL_TOKEN_SECRET", RANDOM_VALUES["SENDPOOL_TOKEN_SECRET"])
    monkeypatch.setenv("SENDPOOL_OPERATOR_TOKEN", value)

    with pytest.raises(SecretsRefused) as refused:
        RouterSettings()

    assert refused.value.missing == []
    assert reason in refused.value.unsafe["SENDPOOL_OPERATOR_TOKEN"]
    assert value.strip() not in str(refused.value)


@pytest.mark.parametrize("entry", SERVICES, ids=lambda entry: entry.name)
def test_random_secrets_start_every_service_outside_development_mode(entry, monkeypatch):
    without_sendpool_environment(monkeypatch)
    for name in SECRETS_OF[entry.name]:
        monkeypatch.setenv(name, RANDOM_VALUES[name])
    # Not a secret, but required outside development mode too: where messages' unsubscribe links point.
    monkeypatch.setenv("SENDPOOL_DELIVERY_UNSUBSCRIBE_BASE_URL", "https://unsubscribe.example.com")

    settings = entry.settings()

    assert settings.dev_mode is False
    for name, field in secret_fields(entry.settings).items():
        value = getattr(settings, name)
        expected = RANDOM_VALUES[env_name(entry.settings, name, field)]
        assert value == ([expected] if isinstance(value, list) else expected)


@pytest.mark.parametrize("entry", SERVICES, ids=lambda entry: entry.name)
def test_development_mode_fills_missing_secrets_with_its_public_values(entry, monkeypatch):
    without_sendpool_environment(monkeypatch)
    monkeypatch.setenv("SENDPOOL_DEV_MODE", "1")

    settings = entry.settings()

    assert settings.dev_mode is True
    assert {name: getattr(settings, name) for name in secret_fields(entry.settings)} == development_values(
        entry.settings
    )


def test_development_mode_still_refuses_a_placeholder(monkeypatch):
    without_sendpool_environment(monkeypatch)
    monkeypatch.setenv("SENDPOOL_DEV_MODE", "1")
    monkeypatch.setenv("SENDPOOL_OPERATOR_TOKEN", PLACEHOLDERS["SENDPOOL_OPERATOR_TOKEN"])

    with pytest.raises(SecretsRefused, match="SENDPOOL_OPERATOR_TOKEN is still a placeholder"):
        SchedulerSettings()


def test_development_mode_is_off_unless_asked_for(monkeypatch):
    without_sendpool_environment(monkeypatch)
    assert ServiceSettings.model_fields["dev_mode"].default is False
    assert ServiceSettings().dev_mode is False


def test_a_process_that_cannot_start_says_why_in_one_line_and_exits_non_zero(monkeypatch):
    without_sendpool_environment(monkeypatch)
    monkeypatch.setenv("SENDPOOL_OPERATOR_TOKEN", "dev-operator-token")

    with pytest.raises(SystemExit) as exited:
        load_settings(RouterSettings, "sendpool-router")

    assert exited.value.code == (
        "sendpool-router cannot start: set SENDPOOL_TOKEN_SECRET; SENDPOOL_OPERATOR_TOKEN is a published "
        "development value: put a random value there (or SENDPOOL_DEV_MODE=1 on a developer machine)"
    )


def test_a_malformed_value_stops_the_process_with_its_variable_not_its_value(monkeypatch):
    without_sendpool_environment(monkeypatch)
    monkeypatch.setenv("SENDPOOL_DEV_MODE", "1")
    monkeypatch.setenv("SENDPOOL_CATALOG_SECRET_KEYS", "not-a-fernet-key-but-a-secret")

    with pytest.raises(SystemExit) as exited:
        load_settings(CatalogSettings, "sendpool-catalog")

    message = str(exited.value.code)
    assert message.startswith("sendpool-catalog cannot start: ") and "secret_keys" in message
    assert "not-a-fernet-key-but-a-secret" not in message


def test_development_mode_is_announced_with_the_secrets_it_made_public(monkeypatch):
    without_sendpool_environment(monkeypatch)
    monkeypatch.setenv("SENDPOOL_DEV_MODE", "1")
    monkeypatch.setenv("SENDPOOL_OPERATOR_TOKEN", RANDOM_VALUES["SENDPOOL_OPERATOR_TOKEN"])

    with structlog.testing.capture_logs() as logs:
        announce_development_mode(SchedulerSettings())
        announce_development_mode(SchedulerSettings(dev_mode=False, token_secret=secrets.token_hex(32)))

    (warning,) = logs
    assert warning["log_level"] == "warning" and "DEVELOPMENT MODE" in warning["event"]
    assert warning["public_secrets"] == ["SENDPOOL_TOKEN_SECRET"]


# ---- the web console: the process-wide knobs, and its own secret


def console_environment(monkeypatch) -> None:
    without_sendpool_environment(monkeypatch)
    for api in ("CATALOG", "SCHEDULER", "ROUTER", "EVENTS"):
        monkeypatch.setenv(f"SENDPOOL_CONSOLE_{api}_URL", f"http://{api.lower()}.example:8080")


def test_the_console_refuses_to_start_without_its_session_keys_outside_development_mode(monkeypatch):
    console_environment(monkeypatch)

    with pytest.raises(SystemExit) as exited:
        load_settings(ConsoleSettings, "sendpool-console")

    message = str(exited.value.code)
    assert message.startswith("sendpool-console cannot start: ")
    assert "SENDPOOL_CONSOLE_SESSION_KEYS" in message


def test_the_console_refuses_the_example_secrets_placeholder_and_starts_with_a_random_key(monkeypatch):
    console_environment(monkeypatch)
    monkeypatch.setenv("SENDPOOL_CONSOLE_SESSION_KEYS", PLACEHOLDERS["SENDPOOL_CONSOLE_SESSION_KEYS"])
    with pytest.raises(SystemExit, match="SENDPOOL_CONSOLE_SESSION_KEYS"):
        load_settings(ConsoleSettings, "sendpool-console")

    key = Fernet.generate_key().decode()
    monkeypatch.setenv("SENDPOOL_CONSOLE_SESSION_KEYS", key)
    settings = load_settings(ConsoleSettings, "sendpool-console")
    assert settings.session_keys == [key] and settings.dev_mode is False and settings.secure_cookies is True


def test_the_console_reads_the_process_wide_knobs_and_not_the_brokers_or_databases(monkeypatch):
    console_environment(monkeypatch)
    monkeypatch.setenv("SENDPOOL_DEV_MODE", "1")
    monkeypatch.setenv("SENDPOOL_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("SENDPOOL_LOG_JSON", "true")
    monkeypatch.setenv("SENDPOOL_HTTP_MAX_BODY_BYTES", "65536")

    settings = ConsoleSettings()

    assert (settings.log_level, settings.log_json, settings.http_max_body_bytes) == ("DEBUG", True, 65536)
    assert settings.session_keys == development_values(ConsoleSettings)["session_keys"]
    readers = documented_variables()
    for name in ProcessSettings.model_fields:
        assert "console" in readers[env_name(ProcessSettings, name, ProcessSettings.model_fields[name])]
    assert "console" not in readers["SENDPOOL_DATABASE_URL"] | readers["SENDPOOL_AMQP_URL"]
    assert readers["SENDPOOL_CONSOLE_SESSION_KEYS"] == {"console"}
