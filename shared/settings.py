"""Settings every service shares. Each service subclasses `ServiceSettings` with its own fields.

Nothing outside a settings class reads `os.environ`: every knob is declared here or in a
service's `settings.py`, with a description and a default (a secret has none).

Names: a knob only one service reads is `SENDPOOL_<SERVICE>_<KNOB>` (the service's settings class
sets `env_prefix`); a knob every service reads is `SENDPOOL_<KNOB>` and lives in `ServiceSettings`;
a knob a few services must agree on (a signing key) is `SENDPOOL_<KNOB>` in a mixin those services
take. Durations end in `_SECONDS` (or `_HOURS`).
"""

import os
import uuid
from typing import Annotated, Any, TypeVar, cast

import structlog
from cryptography.fernet import Fernet
from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    JsonValue,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.fields import Field, FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.egress import EgressPolicy
from shared.limits import HTTP_MAX_BODY_BYTES


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return [entry.strip() for entry in value.split(",") if entry.strip()]
    return value


def _readable_allow_entries(entries: list[str]) -> list[str]:
    EgressPolicy.from_entries(entries)  # an entry it cannot read fails the start, naming the entry
    return entries


CommaSeparated = Annotated[list[str], NoDecode, BeforeValidator(_comma_separated)]
"""A list setting given in the environment as `a,b,c`."""


def _valid_fernet_keys(keys: list[str]) -> list[str]:
    if not keys:
        raise ValueError("at least one key is required")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            # Never echo the key itself: it is a secret even when malformed.
            raise ValueError(f"key #{position} is not urlsafe base64 of 32 bytes") from None
    return keys


FernetKeys = Annotated[CommaSeparated, AfterValidator(_valid_fernet_keys)]
"""Fernet keys (urlsafe base64 of 32 bytes), comma-separated: the first encrypts, every one decrypts."""

EgressAllowList = Annotated[CommaSeparated, AfterValidator(_readable_allow_entries)]
"""An egress allow list (`shared.egress.parse_allow_entry`'s entries), comma-separated."""

RENAMED_VARIABLES: dict[str, str] = {
    "SENDPOOL_VENDOR": "SENDPOOL_DELIVERY_VENDOR",
    "SENDPOOL_SMTP_MAX_CONNECTIONS": "SENDPOOL_DELIVERY_SMTP_MAX_CONNECTIONS",
    "SENDPOOL_SMTP_TIMEOUT_SECONDS": "SENDPOOL_DELIVERY_SMTP_TIMEOUT_SECONDS",
    "SENDPOOL_SMTP_HELO_HOSTNAME": "SENDPOOL_DELIVERY_SMTP_HELO_HOSTNAME",
    "SENDPOOL_CIRCUIT_FAILURE_THRESHOLD": "SENDPOOL_DELIVERY_CIRCUIT_FAILURE_THRESHOLD",
    "SENDPOOL_CIRCUIT_COOLDOWN_SECONDS": "SENDPOOL_DELIVERY_CIRCUIT_COOLDOWN_SECONDS",
    "SENDPOOL_CATALOG_RPC_TIMEOUT_SECONDS": (
        "SENDPOOL_ROUTER_CATALOG_SNAPSHOT_TIMEOUT_SECONDS, SENDPOOL_ROUTER_CATALOG_POLICY_TIMEOUT_SECONDS, "
        "SENDPOOL_DELIVERY_CATALOG_SNAPSHOT_TIMEOUT_SECONDS, SENDPOOL_DELIVERY_SERVER_SETTINGS_TIMEOUT_SECONDS "
        "and SENDPOOL_DELIVERY_ADMISSION_TIMEOUT_SECONDS (one per request)"
    ),
    "SENDPOOL_ROUTING_SEED": "SENDPOOL_ROUTER_SEED",
    "SENDPOOL_HELD_SWEEP_SECONDS": "SENDPOOL_ROUTER_HELD_SWEEP_SECONDS",
    "SENDPOOL_CAPACITY_CLEANUP_SECONDS": "SENDPOOL_ROUTER_CAPACITY_CLEANUP_SECONDS",
    "SENDPOOL_EXPAND_BATCH_SIZE": "SENDPOOL_SCHEDULER_EXPAND_BATCH_SIZE",
    "SENDPOOL_EXPANSION_RETRY_SECONDS": "SENDPOOL_SCHEDULER_EXPANSION_RETRY_SECONDS",
    "SENDPOOL_EXPANSION_LEASE_SECONDS": "SENDPOOL_SCHEDULER_EXPANSION_LEASE_SECONDS",
    "SENDPOOL_EXPANSION_SWEEP_SECONDS": "SENDPOOL_SCHEDULER_EXPANSION_SWEEP_SECONDS",
    "SENDPOOL_STATUS_BATCH_SIZE": "SENDPOOL_SCHEDULER_STATUS_BATCH_SIZE",
    "SENDPOOL_STATUS_BATCH_WAIT": "SENDPOOL_SCHEDULER_STATUS_BATCH_WAIT_SECONDS",
    "SENDPOOL_STALE_AFTER_SECONDS": "SENDPOOL_SCHEDULER_STALE_AFTER_SECONDS",
    "SENDPOOL_STALE_ROUTED_AFTER_SECONDS": "SENDPOOL_SCHEDULER_STALE_ROUTED_AFTER_SECONDS",
    "SENDPOOL_STALE_SWEEP_SECONDS": "SENDPOOL_SCHEDULER_STALE_SWEEP_SECONDS",
    "SENDPOOL_COUNTER_BATCH_SIZE": "SENDPOOL_BOUNCES_COUNTER_BATCH_SIZE",
}
"""Variables earlier versions read, and what replaced them. A service refuses to start while one is
set: ignoring it would run the service with a default its operator meant to change."""


def shared_name(name: str) -> Any:
    """The alias of a knob several services read under one name, whatever their own prefix is."""
    return AliasChoices(name)


MIN_SECRET_LENGTH = 16
DEV_MODE_VARIABLE = "SENDPOOL_DEV_MODE"

FORMER_DEFAULTS = frozenset(
    {"dev-only-token-secret-change-me", "dev-operator-token", "dev-only-verp-secret-change-me"}
)
"""What earlier versions used when a secret was not set: published, so refused outside development mode."""


def secret_field(*, description: str, dev_value: str | list[str], env: str | None = None) -> Any:
    """A secret: no default. A service refuses to start without it, or with a placeholder (`<...>`),
    a published value or one shorter than `MIN_SECRET_LENGTH`; only `SENDPOOL_DEV_MODE=1` lets it
    start without one, with `dev_value`, which is public (it is in this repository)."""
    return Field(
        validation_alias=shared_name(env) if env else None,
        description=f"{description} Required (no default) outside development mode.",
        repr=False,
        json_schema_extra={"secret": True, "dev_value": cast(JsonValue, dev_value)},
    )


def env_name(settings_class: type[Any], name: str, field: FieldInfo) -> str:
    """The environment variable a field is read from."""
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias.upper()
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0]).upper()
    return f"{settings_class.model_config.get('env_prefix', '')}{name}".upper()


def _secret_dev_value(field: FieldInfo) -> str | list[str] | None:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and extra.get("secret"):
        value = extra["dev_value"]
        return [str(item) for item in value] if isinstance(value, list) else str(value)
    return None


def secret_fields(settings_class: type[BaseSettings]) -> dict[str, FieldInfo]:
    """The fields of `settings_class` declared with `secret_field`, by name."""
    return {
        name: field
        for name, field in settings_class.model_fields.items()
        if _secret_dev_value(field) is not None
    }


def development_values(settings_class: type[BaseSettings]) -> dict[str, Any]:
    """The public value each secret takes in development mode, by field name (documents use them too)."""
    return {name: _secret_dev_value(field) for name, field in secret_fields(settings_class).items()}


def _public_values(settings_class: type[BaseSettings]) -> set[str]:
    published = set(FORMER_DEFAULTS)
    for value in development_values(settings_class).values():
        published.update([value] if isinstance(value, str) else value)
    return published


class SecretsRefused(Exception):
    """The secrets a service needs are missing or unsafe. Deliberately not a ValueError, so pydantic
    lets it through whole and the service can say it in one line; it never holds a secret's value."""

    def __init__(self, missing: list[str], unsafe: dict[str, str], *, dev_mode: bool) -> None:
        self.missing = sorted(missing)
        self.unsafe = dict(sorted(unsafe.items()))
        parts = [f"set {', '.join(self.missing)}"] if self.missing else []
        parts += [f"{variable} {reason}" for variable, reason in self.unsafe.items()]
        hint = f" (or {DEV_MODE_VARIABLE}=1 on a developer machine)" if self.missing and not dev_mode else ""
        super().__init__("; ".join(parts) + hint)


def _values_of(value: Any) -> list[str]:
    """The non-blank values a secret was given: one, or each key of a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, list | tuple):
        return [str(item).strip() for item in value if str(item).strip()]
    return [str(value)]


def _unsafe_reason(value: Any, field: FieldInfo, published: set[str], *, dev_mode: bool) -> str | None:
    """Why a secret's value is refused, in words that never quote it."""
    values = _values_of(value)
    if any(item.startswith("<") for item in values):
        return "is still a placeholder (`<...>`, as in deploy/secret.example.yaml): put a random value there"
    if dev_mode:
        return None
    if any(item in published for item in values):
        return "is a published development value: put a random value there"
    # A list of keys (the catalog's Fernet keys) has a format of its own, which its validator checks.
    if isinstance(_secret_dev_value(field), str) and len(str(value).strip()) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters: use `openssl rand -hex 32`"
    return None


def _given(values: dict[str, Any], name: str, field: FieldInfo) -> Any:
    """A field's raw value, from keyword arguments (by name) or the environment (by alias); None if absent."""
    alias = field.validation_alias
    keys = [name, *(str(choice) for choice in alias.choices)] if isinstance(alias, AliasChoices) else [name]
    return next((values[key] for key in keys if key in values), None)


def _dev_mode_of(values: dict[str, Any]) -> bool:
    raw = values.get("dev_mode", values.get(DEV_MODE_VARIABLE, False))
    try:
        return TypeAdapter(bool).validate_python(raw)
    except ValidationError:
        raise ValueError(f"{DEV_MODE_VARIABLE} must be 1 or 0 (true or false)") from None


class ProcessSettings(BaseSettings):
    """What every sendpool process reads, the web console included: logging, development mode, the
    HTTP body cap, and the rule that secrets have no default. `ServiceSettings` adds the broker and
    the database, which the event-driven services need and the console does not."""

    # Subclasses set env_prefix="SENDPOOL_<SERVICE>_"; the knobs below keep their shared names
    # through their aliases. Python code (tests, the harness) passes fields by name.
    # A malformed value is never echoed in the error: some are secrets.
    model_config = SettingsConfigDict(
        env_prefix="SENDPOOL_", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    log_level: str = Field(
        "INFO",
        validation_alias=shared_name("SENDPOOL_LOG_LEVEL"),
        description="Log level for the service's structured logs.",
    )
    log_json: bool = Field(
        False,
        validation_alias=shared_name("SENDPOOL_LOG_JSON"),
        description="Emit logs as JSON lines (for log collectors) instead of console text.",
    )
    dev_mode: bool = Field(
        False,
        validation_alias=shared_name(DEV_MODE_VARIABLE),
        description="Development mode, for a developer's machine and the tests only: a secret left unset "
        "takes a public development value (in the repository) instead of stopping the service, and "
        "short secrets are allowed. Anyone who reaches a service in this mode can act as its operator.",
    )
    http_max_body_bytes: int = Field(
        HTTP_MAX_BODY_BYTES,
        ge=1024,
        validation_alias=shared_name("SENDPOOL_HTTP_MAX_BODY_BYTES"),
        description="The largest HTTP request body the service's API reads; a larger one is answered 413 "
        "before it is read (a body sent in chunks, as soon as it passes the cap). The default fits a "
        "campaign with both bodies at their 1 MiB maximum; the scheduler's recipient import has a cap "
        "of its own (SENDPOOL_SCHEDULER_RECIPIENTS_MAX_BODY_BYTES).",
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_renamed_variables(cls, values: Any) -> Any:
        renamed = {old: new for old, new in RENAMED_VARIABLES.items() if old in os.environ}
        if renamed:
            raise ValueError(
                "renamed settings are still set: "
                + "; ".join(f"{old} is now {new}" for old, new in sorted(renamed.items()))
            )
        return values

    @model_validator(mode="before")
    @classmethod
    def _require_safe_secrets(cls, values: Any) -> Any:
        # One check for every secret of the class, so that one error names all that are missing.
        if not isinstance(values, dict):
            return values
        dev_mode = _dev_mode_of(values)
        published = _public_values(cls)
        missing: list[str] = []
        unsafe: dict[str, str] = {}
        for name, field in secret_fields(cls).items():
            value = _given(values, name, field)
            if not _values_of(value):
                if dev_mode:
                    values = {**values, name: _secret_dev_value(field)}
                else:
                    missing.append(env_name(cls, name, field))
                continue
            reason = _unsafe_reason(value, field, published, dev_mode=dev_mode)
            if reason is not None:
                unsafe[env_name(cls, name, field)] = reason
        if missing or unsafe:
            raise SecretsRefused(missing, unsafe, dev_mode=dev_mode)
        return values


class ServiceSettings(ProcessSettings):
    """The settings of every event-driven service: `ProcessSettings`, RabbitMQ and PostgreSQL."""

    amqp_url: str = Field(
        "amqp://guest:guest@127.0.0.1:5672/",
        validation_alias=shared_name("SENDPOOL_AMQP_URL"),
        description="RabbitMQ URL, including the virtual host (the path).",
    )
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/sendpool",
        validation_alias=shared_name("SENDPOOL_DATABASE_URL"),
        description="PostgreSQL URL. Every service owns one schema in this database.",
    )
    message_metrics: bool = Field(
        True,
        validation_alias=shared_name("SENDPOOL_MESSAGE_METRICS"),
        description=(
            "FastStream's per-message Prometheus metrics (received, processed, durations, sizes, published) "
            "on `/metrics`. They cost throughput on every message (see docs/benchmarks.md); the services' own "
            "metrics (outcomes, routing decisions) stay either way."
        ),
    )
    db_pool_size: int = Field(
        10,
        ge=1,
        validation_alias=shared_name("SENDPOOL_DB_POOL_SIZE"),
        description="Maximum PostgreSQL connections per process.",
    )
    prefetch: int = Field(
        200,
        ge=1,
        validation_alias=shared_name("SENDPOOL_PREFETCH"),
        description="RabbitMQ prefetch per consumer: how many messages are in flight at once.",
    )
    batch_prefetch: int = Field(
        4,
        ge=1,
        validation_alias=shared_name("SENDPOOL_BATCH_PREFETCH"),
        description=(
            "RabbitMQ prefetch of the consumers of batches of recipients (the router's send queue, the "
            "servers' queues): how many batches, each of up to a few hundred recipients, are in hand at once."
        ),
    )
    transient_retry_seconds: float = Field(
        600.0,
        ge=0,
        validation_alias=shared_name("SENDPOOL_TRANSIENT_RETRY_SECONDS"),
        description=(
            "How long a message whose handling fails because a dependency is unreachable (PostgreSQL or "
            "RabbitMQ down, connection refused or reset, a time-out) is retried inside its consumer "
            "(0.5 s doubling to 30 s) before it is requeued like any failure, towards sendpool.dead. "
            "Counted from the outage's start; the waits do not spend the message's delivery limit. "
            "0 turns the waiting off. Keep it below RabbitMQ's consumer timeout (30 min by default): "
            "the message stays unacknowledged meanwhile."
        ),
    )
    startup_database_wait_seconds: float = Field(
        300.0,
        ge=0,
        validation_alias=shared_name("SENDPOOL_STARTUP_DATABASE_WAIT_SECONDS"),
        description="How long a starting service waits for PostgreSQL to accept connections (retrying with "
        "a growing pause) before it gives up and exits.",
    )
    instance_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex[:12],
        pattern=r"^[A-Za-z0-9_.<>-]{1,64}$",
        validation_alias=shared_name("SENDPOOL_INSTANCE_ID"),
        description="Names this process's own queues and leases; unique per replica. By default a random "
        "id per start (set it to the pod's name to find a replica's queues by it).",
    )


SettingsT = TypeVar("SettingsT", bound=ProcessSettings)


def load_settings(settings_class: type[SettingsT], program: str) -> SettingsT:
    """The settings of `program` from its environment, or exit (status 1) with one line that says
    what to set: a missing secret or a malformed value is the operator's to fix, not a traceback."""
    try:
        return settings_class()
    except SecretsRefused as refused:
        raise SystemExit(f"{program} cannot start: {refused}") from None
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}"
            for error in invalid.errors()
        )
        raise SystemExit(f"{program} cannot start: {problems}") from None


def announce_development_mode(settings: ProcessSettings) -> None:
    """Warn, loudly, that a process runs on public secrets: development mode must never reach production."""
    if not settings.dev_mode:
        return
    development = development_values(type(settings))
    public = sorted(
        env_name(type(settings), name, field)
        for name, field in secret_fields(type(settings)).items()
        if getattr(settings, name) == development[name]
    )
    structlog.get_logger("settings").warning(
        "DEVELOPMENT MODE (SENDPOOL_DEV_MODE=1): never run this where anyone else can reach it",
        public_secrets=public or "none",
    )


class ApiAuthSettings(BaseSettings):
    """The keys of the HTTP APIs' tokens, which every service serving an API must share."""

    token_secret: str = secret_field(
        env="SENDPOOL_TOKEN_SECRET",
        dev_value="development-mode-token-secret",
        description="HMAC key that signs API tokens; every service that checks tokens needs the same one.",
    )
    operator_token: str = secret_field(
        env="SENDPOOL_OPERATOR_TOKEN",
        dev_value="development-mode-operator-token",
        description="Bearer token of the operator (admin) role.",
    )


class VerpSettings(BaseSettings):
    """The key of the VERP tokens, which the delivery workers and the bounces service must share."""

    verp_secret: str = secret_field(
        env="SENDPOOL_VERP_SECRET",
        dev_value="development-mode-verp-secret",
        description="HMAC key that signs the VERP token in each message's Return-Path; the delivery workers "
        "and the bounces service need the same one, so a bounce can be traced to its message and not forged.",
    )


class UnsubscribeSettings(BaseSettings):
    """The key of the one-click unsubscribe tokens (`shared.unsubscribe`), which the delivery workers
    (that sign them) and the bounces service (that verifies them) must share."""

    unsubscribe_secret: str = secret_field(
        env="SENDPOOL_UNSUBSCRIBE_SECRET",
        dev_value="development-mode-unsubscribe-secret",
        description="HMAC key that signs the token in each message's List-Unsubscribe URL; the delivery "
        "workers and the bounces service need the same one, so that nobody can unsubscribe an address by "
        "making up a link. To rotate it, give the bounces service the old one in "
        "SENDPOOL_UNSUBSCRIBE_PREVIOUS_SECRETS first, then change it everywhere.",
    )
    unsubscribe_previous_secrets: CommaSeparated = Field(
        [],
        validation_alias=shared_name("SENDPOOL_UNSUBSCRIBE_PREVIOUS_SECRETS"),
        repr=False,
        description="Earlier values of SENDPOOL_UNSUBSCRIBE_SECRET, comma-separated: links in messages "
        "already sent with them keep working (the bounces service verifies with each; delivery signs with "
        "the current one only). Drop one once its messages are old enough to be forgotten.",
    )

    @property
    def unsubscribe_secrets(self) -> list[str]:
        """The secrets a token is verified with: the current one first."""
        return [self.unsubscribe_secret, *self.unsubscribe_previous_secrets]
