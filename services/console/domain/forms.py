"""Server forms: a server type's JSON Schema as form fields, and a submitted form back as the API's JSON.

Every input is named by its dotted path in the catalog's request body (`settings.host`,
`limits.per_hour`, `identity.from_domains`), so a 422's field errors (`ApiRefused.fields`, keyed the
same way) land next to the input they are about. Secret fields are write-only: rendered empty as
passwords, and a blank one is left out (on an edit: unchanged).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, get_args

from shared.contracts import SendingLimits, WarmupSchedule

Kind = str
"""`text`, `password`, `email`, `url`, `number`, `checkbox`, `select`, `textarea`, `date`."""

LIMIT_PERIODS = tuple(SendingLimits.model_fields)
"""`per_second`, `per_minute`, `per_hour`, `per_day`: the catalog's `SendingLimits`."""
LIMIT_LABELS = {
    "per_second": "Per second",
    "per_minute": "Per minute",
    "per_hour": "Per hour",
    "per_day": "Per day",
}
SENDS_MAX = 10_000_000
WARMUP_KINDS: tuple[str, ...] = get_args(WarmupSchedule.model_fields["kind"].annotation)
"""`linear`, `exponential`, `table`: the kinds of the catalog's `WarmupSchedule`."""


@dataclass(frozen=True)
class FormField:
    name: str
    """The input's name: its dotted path in the request body, e.g. `settings.host`."""
    label: str
    kind: Kind
    required: bool = False
    hint: str = ""
    options: tuple[str, ...] = ()
    attrs: dict[str, str | int | float] = field(default_factory=dict)
    """HTML constraint attributes: `min`, `max`, `step`, `maxlength`, `minlength`, `pattern`."""
    value: Any = None
    secret: bool = False
    nullable: bool = False

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("_", "-")


class FormInvalid(Exception):
    """The form could not be read as the API's JSON: per field (dotted name) what is wrong."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = dict(errors)


def _unwrap(prop: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """A property's schema without its `anyOf [X, null]` wrapper, and whether null is allowed."""
    options = prop.get("anyOf")
    if not isinstance(options, list):
        return dict(prop), False
    kept = [option for option in options if option.get("type") != "null"]
    nullable = len(kept) < len(options)
    inner: dict[str, Any] = dict(kept[0]) if len(kept) == 1 else {"type": "string"}
    for key in ("title", "description", "default", "x-destination"):
        if key in prop and key not in inner:
            inner[key] = prop[key]
    return inner, nullable


def _label(key: str, prop: Mapping[str, Any]) -> str:
    title = prop.get("title")
    if isinstance(title, str) and title:
        return title
    return key.replace("_", " ").capitalize()


def _field_of(
    key: str, prop: Mapping[str, Any], *, prefix: str, required: bool, secret: bool, editing: bool
) -> FormField:
    schema, nullable = _unwrap(prop)
    kind_of = schema.get("type")
    attrs: dict[str, str | int | float] = {}
    options: tuple[str, ...] = ()
    hint = str(schema.get("description") or "")
    value: Any = schema.get("default")
    if secret or schema.get("writeOnly") or schema.get("format") == "password":
        secret = True
        kind: Kind = "password"
        value = None
        hint = (hint + " " if hint else "") + (
            "Write-only: leave it blank to keep the current value."
            if editing
            else "Write-only: never shown again once saved."
        )
    elif "enum" in schema:
        kind = "select"
        options = tuple(str(option) for option in schema["enum"])
    elif kind_of == "boolean":
        kind = "checkbox"
    elif kind_of in ("integer", "number"):
        kind = "number"
        attrs["step"] = 1 if kind_of == "integer" else "any"
        for source, target in (("minimum", "min"), ("maximum", "max")):
            if source in schema:
                attrs[target] = schema[source]
        if "exclusiveMinimum" in schema and "min" not in attrs:
            attrs["min"] = schema["exclusiveMinimum"]
    elif kind_of == "array":
        kind = "textarea"
        hint = (hint + " " if hint else "") + "One per line."
        value = "\n".join(str(item) for item in value) if isinstance(value, list) else None
    else:
        kind = {"email": "email", "uri": "url", "date": "date"}.get(str(schema.get("format")), "text")
    if kind in ("text", "password", "email", "url"):
        for source, target in (("maxLength", "maxlength"), ("minLength", "minlength")):
            if source in schema:
                attrs[target] = schema[source]
        if "pattern" in schema and kind == "text":
            attrs["pattern"] = str(schema["pattern"]).removeprefix("^").removesuffix("$")
    return FormField(
        name=f"{prefix}.{key}" if prefix else key,
        label=_label(key, schema),
        kind=kind,
        required=required and not (secret and editing),
        hint=hint,
        options=options,
        attrs=attrs,
        value=value,
        secret=secret,
        nullable=nullable,
    )


def settings_fields(
    schema: Mapping[str, Any],
    secret_fields: Iterable[str] = (),
    *,
    values: Mapping[str, Any] | None = None,
    prefix: str = "settings",
    editing: bool = False,
) -> list[FormField]:
    """The form of a type's settings, in the schema's order; `values` (what was submitted, or the
    server's current settings) fill the inputs, except the secret ones, which always render empty."""
    secrets = set(secret_fields)
    required = set(schema.get("required", ()))
    fields: list[FormField] = []
    for key, prop in (schema.get("properties") or {}).items():
        built = _field_of(
            key, prop, prefix=prefix, required=key in required, secret=key in secrets, editing=editing
        )
        if values is not None and not built.secret:
            given = values.get(built.name, values.get(key))
            if built.kind == "checkbox":
                built = _with_value(built, bool(given) and given not in ("false", "off"))
            elif isinstance(given, list):
                built = _with_value(built, "\n".join(str(item) for item in given))
            elif given is not None:
                built = _with_value(built, given)
            elif built.name in values or key in values:
                built = _with_value(built, None)
        fields.append(built)
    return fields


def _with_value(built: FormField, value: Any) -> FormField:
    return FormField(**{**built.__dict__, "value": value})


def _text(form: Mapping[str, str], name: str) -> str:
    return str(form.get(name) or "").strip()


def _integer(text: str, name: str, errors: dict[str, str]) -> int | None:
    try:
        return int(text)
    except ValueError:
        errors[name] = "must be a whole number"
        return None


def _number(text: str, name: str, errors: dict[str, str]) -> float | None:
    try:
        return float(text)
    except ValueError:
        errors[name] = "must be a number"
        return None


def _lines(text: str) -> list[str]:
    return [item.strip() for item in text.replace(",", "\n").splitlines() if item.strip()]


def settings_from_form(
    schema: Mapping[str, Any],
    form: Mapping[str, str],
    secret_fields: Iterable[str] = (),
    *,
    prefix: str = "settings",
) -> dict[str, Any]:
    """The settings the form gives, typed as the schema says: blanks left out (the API's defaults
    apply, a blank secret stays as it is), booleans from checkboxes (absent: false), numbers
    coerced, fields the schema does not name ignored. Raises `FormInvalid` for a malformed number."""
    errors: dict[str, str] = {}
    settings: dict[str, Any] = {}
    for built in settings_fields(schema, secret_fields, prefix=prefix):
        key = built.name.removeprefix(f"{prefix}.") if prefix else built.name
        if built.kind == "checkbox":
            settings[key] = _text(form, built.name).lower() in ("on", "true", "1", "yes")
            continue
        raw = str(form.get(built.name) or "") if built.secret else _text(form, built.name)
        if not raw.strip():
            continue
        if built.kind == "number":
            number = (
                _integer(raw, built.name, errors)
                if built.attrs.get("step") == 1
                else _number(raw, built.name, errors)
            )
            if number is not None:
                settings[key] = number
        elif built.kind == "textarea":
            settings[key] = _lines(raw)
        else:
            settings[key] = raw
    if errors:
        raise FormInvalid(errors)
    return settings


def limit_fields(values: Mapping[str, Any] | None = None) -> list[FormField]:
    """Per second, minute, hour and day: each optional, at least 1."""
    values = values or {}
    return [
        FormField(
            name=f"limits.{period}",
            label=LIMIT_LABELS[period],
            kind="number",
            attrs={"min": 1, "max": SENDS_MAX, "step": 1},
            value=values.get(f"limits.{period}", values.get(period)),
        )
        for period in LIMIT_PERIODS
    ]


def limits_from_form(form: Mapping[str, str]) -> dict[str, int]:
    """The limits given (blank: no limit for that span)."""
    errors: dict[str, str] = {}
    limits: dict[str, int] = {}
    for period in LIMIT_PERIODS:
        name = f"limits.{period}"
        text = _text(form, name)
        if text:
            number = _integer(text, name, errors)
            if number is not None:
                limits[period] = number
    if errors:
        raise FormInvalid(errors)
    return limits


def warmup_from_form(form: Mapping[str, str]) -> dict[str, Any] | None:
    """The warmup schedule, or None when no kind was chosen."""
    kind = _text(form, "warmup.kind")
    if not kind:
        return None
    errors: dict[str, str] = {}
    if kind not in WARMUP_KINDS:
        raise FormInvalid({"warmup.kind": f"must be one of {', '.join(WARMUP_KINDS)}"})
    start = _text(form, "warmup.start_date")
    try:
        start_date = date.fromisoformat(start) if start else date.today()
    except ValueError:
        errors["warmup.start_date"] = "must be a date, e.g. 2025-01-31"
        start_date = date.today()
    warmup: dict[str, Any] = {"kind": kind, "start_date": start_date.isoformat()}
    if kind == "table":
        table = []
        for item in _lines(_text(form, "warmup.table")):
            number = _integer(item, "warmup.table", errors)
            if number is not None:
                table.append(number)
        warmup["table"] = table
    else:
        for key in ("start_volume", "target_volume", "days"):
            text = _text(form, f"warmup.{key}")
            if text:
                number = _integer(text, f"warmup.{key}", errors)
                if number is not None:
                    warmup[key] = number
    if errors:
        raise FormInvalid(errors)
    return warmup


def identity_from_form(form: Mapping[str, str]) -> dict[str, Any] | None:
    """The identity, or None when no from-domain was given; a blank key is left out."""
    domains = _lines(_text(form, "identity.from_domains"))
    if not domains:
        return None
    identity: dict[str, Any] = {"from_domains": domains}
    for key in ("dkim_selector", "return_path_domain"):
        text = _text(form, f"identity.{key}")
        if text:
            identity[key] = text
    key_text = str(form.get("identity.dkim_private_key") or "")
    if key_text.strip():
        identity["dkim_private_key"] = key_text.strip() + "\n"
    return identity


def changed_settings(
    current: Mapping[str, Any], submitted: Mapping[str, Any], secrets: Iterable[str]
) -> dict[str, Any]:
    """What an edit changes: settings that differ from the current ones, and every secret given."""
    secret_names = set(secrets)
    return {
        key: value for key, value in submitted.items() if key in secret_names or current.get(key) != value
    }


def errors_by_field(errors: Mapping[str, str], names: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """The API's field errors placed on the inputs (`identity.from_domains.0` on `identity.from_domains`),
    and those no input is for, as sentences for the top of the form."""
    known = sorted(set(names), key=len, reverse=True)
    placed: dict[str, str] = {}
    loose: list[str] = []
    for path, message in errors.items():
        target = next((name for name in known if path == name or path.startswith(name + ".")), None)
        if target is None:
            loose.append(f"{path}: {message}")
        else:
            placed.setdefault(target, message)
    return placed, loose
