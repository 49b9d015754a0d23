"""A server type's JSON Schema as form fields, and a submitted form back as the catalog's JSON."""

import pytest

from services.console.domain.forms import (
    FormInvalid,
    changed_settings,
    errors_by_field,
    identity_from_form,
    limits_from_form,
    settings_fields,
    settings_from_form,
    warmup_from_form,
)

SMTP_SCHEMA = {
    "properties": {
        "host": {"maxLength": 253, "minLength": 1, "title": "Host", "type": "string"},
        "port": {"default": 587, "maximum": 65535, "minimum": 1, "title": "Port", "type": "integer"},
        "encryption": {
            "default": "tls",
            "description": "`tls` requires STARTTLS.",
            "enum": ["tls", "ssl", "none"],
            "title": "Encryption",
            "type": "string",
        },
        "username": {"anyOf": [{"maxLength": 256, "type": "string"}, {"type": "null"}], "default": None},
        "password": {
            "anyOf": [{"format": "password", "type": "string", "writeOnly": True}, {"type": "null"}],
            "default": None,
            "title": "Password",
        },
        "verify_certificate": {"default": True, "title": "Verify Certificate", "type": "boolean"},
        "ratio": {"type": "number", "minimum": 0},
        "region": {"type": "string", "pattern": "^[a-z]{2}-\\d$"},
        "email": {"type": "string", "format": "email"},
        "topics": {"type": "array", "items": {"type": "string"}, "default": []},
    },
    "required": ["host"],
}


def by_name(fields):
    return {item.name: item for item in fields}


def test_schema_types_become_inputs_with_their_constraints():
    fields = by_name(settings_fields(SMTP_SCHEMA, ["password"]))
    assert fields["settings.host"].kind == "text"
    assert fields["settings.host"].required
    assert fields["settings.host"].attrs == {"maxlength": 253, "minlength": 1}
    assert fields["settings.port"].kind == "number"
    assert fields["settings.port"].attrs == {"step": 1, "min": 1, "max": 65535}
    assert fields["settings.port"].value == 587
    assert fields["settings.ratio"].attrs["step"] == "any"
    assert fields["settings.encryption"].kind == "select"
    assert fields["settings.encryption"].options == ("tls", "ssl", "none")
    assert fields["settings.encryption"].hint == "`tls` requires STARTTLS."
    assert fields["settings.verify_certificate"].kind == "checkbox"
    assert fields["settings.verify_certificate"].value is True
    assert fields["settings.username"].kind == "text"
    assert fields["settings.username"].nullable
    assert fields["settings.username"].label == "Username"
    assert fields["settings.region"].attrs["pattern"] == "[a-z]{2}-\\d"
    assert fields["settings.email"].kind == "email"
    assert fields["settings.topics"].kind == "textarea"
    assert fields["settings.host"].id == "f-settings-host"


def test_secrets_are_write_only_password_inputs_never_filled():
    fields = by_name(settings_fields(SMTP_SCHEMA, ["password"], values={"settings.password": "hunter2"}))
    password = fields["settings.password"]
    assert password.kind == "password"
    assert password.secret
    assert password.value is None
    assert "Write-only" in password.hint


def test_on_an_edit_a_required_secret_may_stay_blank():
    schema = {"properties": {"api_key": {"type": "string", "writeOnly": True}}, "required": ["api_key"]}
    assert by_name(settings_fields(schema, ["api_key"]))["settings.api_key"].required
    edited = by_name(settings_fields(schema, ["api_key"], editing=True))["settings.api_key"]
    assert not edited.required
    assert "blank to keep" in edited.hint


def test_values_fill_the_inputs_from_a_form_or_from_the_server():
    submitted = by_name(
        settings_fields(SMTP_SCHEMA, ["password"], values={"settings.host": "mx.example.com"})
    )
    assert submitted["settings.host"].value == "mx.example.com"
    assert submitted["settings.verify_certificate"].value is False  # an unchecked box was not sent
    stored = by_name(settings_fields(SMTP_SCHEMA, ["password"], values={"host": "h", "topics": ["a", "b"]}))
    assert stored["settings.host"].value == "h"
    assert stored["settings.topics"].value == "a\nb"


def test_the_form_becomes_typed_settings():
    form = {
        "settings.host": " mx.example.com ",
        "settings.port": "2525",
        "settings.encryption": "none",
        "settings.username": "",
        "settings.password": "",
        "settings.ratio": "0.5",
        "settings.topics": "a\nb, c\n",
        "settings.unknown": "ignored",
        "name": "not a setting",
    }
    assert settings_from_form(SMTP_SCHEMA, form, ["password"]) == {
        "host": "mx.example.com",
        "port": 2525,
        "encryption": "none",
        "verify_certificate": False,
        "ratio": 0.5,
        "topics": ["a", "b", "c"],
    }


def test_a_checked_box_is_true_and_a_secret_keeps_its_spaces():
    form = {"settings.verify_certificate": "on", "settings.password": " pass word "}
    settings = settings_from_form(SMTP_SCHEMA, form, ["password"])
    assert settings["verify_certificate"] is True
    assert settings["password"] == " pass word "


def test_a_malformed_number_is_a_field_error():
    with pytest.raises(FormInvalid) as raised:
        settings_from_form(SMTP_SCHEMA, {"settings.port": "twenty"}, ["password"])
    assert raised.value.errors == {"settings.port": "must be a whole number"}


def test_limits_warmup_and_identity():
    assert limits_from_form({"limits.per_hour": "100", "limits.per_day": ""}) == {"per_hour": 100}
    with pytest.raises(FormInvalid):
        limits_from_form({"limits.per_second": "1.5"})
    assert warmup_from_form({"warmup.kind": ""}) is None
    assert warmup_from_form(
        {
            "warmup.kind": "linear",
            "warmup.start_date": "2025-03-01",
            "warmup.start_volume": "50",
            "warmup.target_volume": "5000",
            "warmup.days": "10",
        }
    ) == {"kind": "linear", "start_date": "2025-03-01", "start_volume": 50, "target_volume": 5000, "days": 10}
    assert warmup_from_form(
        {"warmup.kind": "table", "warmup.start_date": "2025-03-01", "warmup.table": "10\n20"}
    )["table"] == [10, 20]
    assert identity_from_form({"identity.from_domains": ""}) is None
    assert identity_from_form(
        {
            "identity.from_domains": "example.com\nexample.org",
            "identity.dkim_selector": "s1",
            "identity.dkim_private_key": "",
        }
    ) == {"from_domains": ["example.com", "example.org"], "dkim_selector": "s1"}


def test_an_edit_sends_only_what_changed_and_every_secret_given():
    current = {"host": "a", "port": 25}
    assert changed_settings(current, {"host": "a", "port": 2525, "password": "x"}, ["password"]) == {
        "port": 2525,
        "password": "x",
    }


def test_api_errors_land_on_their_inputs():
    placed, loose = errors_by_field(
        {"settings.host": "bad host", "identity.from_domains.1": "not a domain", "weird": "?"},
        ["settings.host", "identity.from_domains", "settings"],
    )
    assert placed == {"settings.host": "bad host", "identity.from_domains": "not a domain"}
    assert loose == ["weird: ?"]
