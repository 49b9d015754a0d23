"""The kinds of sending server the catalog knows: each a settings form, a vendor and an integration.

A server's settings are validated by its type's form, then split: plain fields are stored as
they are, fields typed `SecretStr` are encrypted and never shown again. Fields marked with
`server_forms.DESTINATION` (in `json_schema_extra`) say where the server connects: changing one sends the
stored secrets somewhere new, so the secrets must be given again with it.

A type marked `operator_only` runs on the platform's own machine or sends from its own IP
addresses (`sendmail`, `direct_mx`): only the operator adds such servers, as pool servers that
plans grant; a tenant never chooses one for itself.

Third-party types plug in through the entry-point group `sendpool.server_types`. Each entry
point names a `ServerTypeSpec` (e.g. in the plugin's pyproject.toml:
`[project.entry-points."sendpool.server_types"] postmark_api = "sendpool_postmark:POSTMARK_API"`),
whose `settings_model` is a pydantic model, ideally a `ServerSettingsModel`. Its `vendor` names
the delivery workers (`SENDPOOL_DELIVERY_VENDOR`) that must know how to send for the type. A plugin
cannot replace a built-in type nor another plugin's.
"""

import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo

from services.catalog.domain import server_forms as forms
from shared.errors import Conflict, FieldError, InvalidInput

Integration = Literal["smtp", "api", "local"]

_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
# The vendor is part of queue names (`delivery.<vendor>.<server_id>`), where a dot would split it.
_VENDOR_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class ConnectionSettings:
    """A server's validated settings, split into what may be shown and what must be encrypted."""

    plain: dict[str, Any]
    secrets: dict[str, str] = field(repr=False)

    def merged(self) -> dict[str, Any]:
        """Every field in clear, for the delivery worker only."""
        return {**self.plain, **self.secrets}


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


def _is_destination(info: FieldInfo) -> bool:
    extra = info.json_schema_extra
    return isinstance(extra, dict) and extra.get(forms.DESTINATION_MARK) is True


@dataclass(frozen=True)
class ServerTypeSpec:
    name: str
    vendor: str
    integration: Integration
    settings_model: type[BaseModel]
    title: str = ""
    operator_only: bool = False  # uses the platform's own machine or IPs: pool servers only
    label: str = ""
    """A short name for people (`SMTP relay`), as a type picker shows it; made from `name` when not given."""

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " ").capitalize())
        if not _TYPE_NAME.match(self.name):
            raise ValueError(f"server type name {self.name!r} must match {_TYPE_NAME.pattern}")
        if not _VENDOR_NAME.match(self.vendor):
            raise ValueError(
                f"vendor {self.vendor!r} of server type {self.name!r} must match {_VENDOR_NAME.pattern}"
            )
        if self.integration not in get_args(Integration):
            raise ValueError(
                f"integration of server type {self.name!r} must be one of {get_args(Integration)}"
            )
        if not (isinstance(self.settings_model, type) and issubclass(self.settings_model, BaseModel)):
            raise ValueError(f"settings_model of server type {self.name!r} must be a pydantic model class")

    @property
    def secret_fields(self) -> frozenset[str]:
        return frozenset(
            name for name, info in self.settings_model.model_fields.items() if _is_secret(info.annotation)
        )

    @property
    def destination_fields(self) -> frozenset[str]:
        """Fields that say where the server connects: a new value must come with the secrets again."""
        return frozenset(
            name for name, info in self.settings_model.model_fields.items() if _is_destination(info)
        )

    def require_secrets_for_new_destination(
        self, current: ConnectionSettings, wanted: ConnectionSettings, given: Collection[str]
    ) -> None:
        """A stored secret never follows a server to a new destination: when `wanted` connects somewhere
        else than `current`, each secret stored now must be among the fields `given` with the change."""
        moved = sorted(
            name for name in self.destination_fields if wanted.plain.get(name) != current.plain.get(name)
        )
        missing = sorted(name for name in current.secrets if name not in given)
        if moved and missing:
            changed = ", ".join(moved)
            raise InvalidInput(
                *(
                    FieldError(
                        ("settings", name),
                        f"give {name} again: {changed} changed, and a stored secret is never sent "
                        "to a new destination",
                    )
                    for name in missing
                )
            )

    def form_schema(self) -> dict[str, Any]:
        """The JSON Schema of the settings form; secret fields are `writeOnly`."""
        return self.settings_model.model_json_schema()

    def validate_settings(self, raw: dict[str, Any]) -> ConnectionSettings:
        """Validate settings given by a caller; errors name the field under `settings` and never echo values."""
        try:
            model = self.settings_model.model_validate(raw)
        except ValidationError as exc:
            raise InvalidInput(
                *(FieldError(("settings", *error["loc"]), error["msg"]) for error in exc.errors())
            ) from None
        secret_fields = self.secret_fields
        secrets = {
            name: value.get_secret_value()
            for name in secret_fields
            if isinstance(value := getattr(model, name), SecretStr)
        }
        return ConnectionSettings(
            plain=model.model_dump(mode="json", exclude=set(secret_fields)), secrets=secrets
        )


def _spec(
    name: str,
    label: str,
    vendor: str,
    integration: Integration,
    model: type[BaseModel],
    *,
    operator_only: bool = False,
) -> ServerTypeSpec:
    title = (model.__doc__ or name).strip().split("\n")[0]
    return ServerTypeSpec(
        name=name,
        vendor=vendor,
        integration=integration,
        settings_model=model,
        title=title,
        operator_only=operator_only,
        label=label,
    )


def _vendor_types(
    vendor: str, shown_as: str, api: type[BaseModel], smtp: type[BaseModel]
) -> tuple[ServerTypeSpec, ServerTypeSpec]:
    """A vendor's API (`<vendor>_api`) and its SMTP relay (`<vendor>_smtp`), labelled `<shown_as> API`
    and `<shown_as> SMTP`."""
    return (
        _spec(f"{vendor}_api", f"{shown_as} API", vendor, "api", api),
        _spec(f"{vendor}_smtp", f"{shown_as} SMTP", vendor, "smtp", smtp),
    )


SMTP = _spec("smtp", "SMTP relay", "smtp", "smtp", forms.SmtpSettings)

BUILT_IN_TYPES: tuple[ServerTypeSpec, ...] = (
    SMTP,
    *_vendor_types("ses", "Amazon SES", forms.SesApiSettings, forms.SesSmtpSettings),
    *_vendor_types("sendgrid", "SendGrid", forms.SendgridApiSettings, forms.SendgridSmtpSettings),
    *_vendor_types("mailgun", "Mailgun", forms.MailgunApiSettings, forms.MailgunSmtpSettings),
    *_vendor_types("sparkpost", "SparkPost", forms.SparkpostApiSettings, forms.SparkpostSmtpSettings),
    *_vendor_types(
        "elasticemail", "Elastic Email", forms.ElasticemailApiSettings, forms.ElasticemailSmtpSettings
    ),
    # A program on the worker's machine, and mail from the platform's own IPs: the operator's to offer.
    _spec("sendmail", "Local sendmail", "sendmail", "local", forms.SendmailSettings, operator_only=True),
    _spec("gmail_oauth", "Gmail (OAuth)", "gmail", "smtp", forms.GmailOauthSettings),
    _spec("direct_mx", "Direct to MX", "mx", "smtp", forms.DirectMxSettings, operator_only=True),
)


class ServerTypeRegistry:
    """Every type this catalog knows, built-in ones first, in a stable order for the type picker."""

    def __init__(self, specs: Iterable[ServerTypeSpec]) -> None:
        self._specs: dict[str, ServerTypeSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"server type {spec.name!r} is registered twice")
            self._specs[spec.name] = spec

    @classmethod
    def with_plugins(cls, plugins: Iterable[ServerTypeSpec]) -> "ServerTypeRegistry":
        return cls([*BUILT_IN_TYPES, *plugins])

    def __iter__(self) -> Iterator[ServerTypeSpec]:
        return iter(self._specs.values())

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def get(self, name: str, *, location: str = "body") -> ServerTypeSpec:
        """The type a caller asked for; an unknown one is refused naming the field `type`."""
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(self._specs)
            raise InvalidInput.field(
                "type", f"unknown server type {name!r}; known types: {known}", location=location
            ) from None

    def of_stored(self, name: str) -> ServerTypeSpec:
        """The type of a stored server: missing means its plugin was uninstalled, not a caller's mistake."""
        spec = self._specs.get(name)
        if spec is None:
            raise Conflict(
                f"server type {name!r} is not installed in this catalog (was its plugin removed?); "
                "its settings cannot be changed until it is"
            )
        return spec


BUILT_IN_REGISTRY = ServerTypeRegistry(BUILT_IN_TYPES)
