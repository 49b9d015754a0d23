"""Server types: every built-in form, validation that names the field, the split of secrets, and plugins."""

from importlib.metadata import EntryPoint

import pytest
from pydantic import SecretStr

from services.catalog.adapters import server_type_plugins
from services.catalog.adapters.server_type_plugins import InvalidServerTypePlugin, installed_server_types
from services.catalog.domain.server_forms import ServerSettingsModel
from services.catalog.domain.server_types import (
    BUILT_IN_REGISTRY,
    BUILT_IN_TYPES,
    SMTP,
    ServerTypeRegistry,
    ServerTypeSpec,
)
from shared.errors import Conflict, InvalidInput


def locs(exc: InvalidInput) -> list[tuple]:
    return [error.loc for error in exc.errors]


# Per type: the smallest valid settings, the secret fields, and what a missing required field is.
MINIMAL = {
    "smtp": ({"host": "mx.example"}, {"password"}),
    "ses_api": (
        {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "s", "region": "eu-west-1"},
        {"secret_access_key"},
    ),
    "ses_smtp": ({"region": "us-east-1", "username": "AKIAEXAMPLE", "password": "s"}, {"password"}),
    "sendgrid_api": ({"api_key": "SG.x"}, {"api_key"}),
    "sendgrid_smtp": ({"api_key": "SG.x"}, {"api_key"}),
    "mailgun_api": ({"api_key": "key-x", "domain": "mg.example.com"}, {"api_key", "webhook_signing_key"}),
    "mailgun_smtp": (
        {"username": "postmaster@mg.example.com", "password": "s"},
        {"password", "webhook_signing_key"},
    ),
    "sparkpost_api": ({"api_key": "x"}, {"api_key", "webhook_auth_token"}),
    "sparkpost_smtp": ({"api_key": "x"}, {"api_key", "webhook_auth_token"}),
    "elasticemail_api": ({"api_key": "x"}, {"api_key", "webhook_token"}),
    "elasticemail_smtp": ({"username": "u@example.com", "password": "s"}, {"password", "webhook_token"}),
    "sendmail": ({}, set()),
    "gmail_oauth": (
        {
            "email": "me@example.com",
            "client_id": "id.apps.googleusercontent.com",
            "client_secret": "c",
            "refresh_token": "r",
        },
        {"client_secret", "refresh_token"},
    ),
    "direct_mx": ({}, set()),
}


def test_the_registry_has_every_type_of_the_architecture_table_with_its_vendor_and_integration():
    assert {(spec.name, spec.vendor, spec.integration) for spec in BUILT_IN_TYPES} == {
        ("smtp", "smtp", "smtp"),
        ("ses_api", "ses", "api"),
        ("ses_smtp", "ses", "smtp"),
        ("sendgrid_api", "sendgrid", "api"),
        ("sendgrid_smtp", "sendgrid", "smtp"),
        ("mailgun_api", "mailgun", "api"),
        ("mailgun_smtp", "mailgun", "smtp"),
        ("sparkpost_api", "sparkpost", "api"),
        ("sparkpost_smtp", "sparkpost", "smtp"),
        ("elasticemail_api", "elasticemail", "api"),
        ("elasticemail_smtp", "elasticemail", "smtp"),
        ("sendmail", "sendmail", "local"),
        ("gmail_oauth", "gmail", "smtp"),
        ("direct_mx", "mx", "smtp"),
    }
    assert set(MINIMAL) == {spec.name for spec in BUILT_IN_TYPES}


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_each_type_splits_its_secrets_out_and_marks_them_write_only(name):
    spec = BUILT_IN_REGISTRY.get(name)
    raw, secret_fields = MINIMAL[name]

    settings = spec.validate_settings(raw)

    assert spec.secret_fields == secret_fields
    assert set(settings.secrets) == {field for field in secret_fields if field in raw}
    assert not secret_fields & set(settings.plain)
    assert settings.merged() == {**settings.plain, **{field: raw[field] for field in settings.secrets}}
    properties = spec.form_schema()["properties"]
    write_only = {
        field
        for field, schema in properties.items()
        if schema.get("writeOnly") or any(option.get("writeOnly") for option in schema.get("anyOf", []))
    }
    assert write_only == secret_fields


@pytest.mark.parametrize("name", sorted(name for name, (raw, _) in MINIMAL.items() if raw))
def test_each_type_refuses_a_missing_required_field_by_name(name):
    raw, _ = MINIMAL[name]
    required = BUILT_IN_REGISTRY.get(name).form_schema()["required"]
    missing = required[0]

    with pytest.raises(InvalidInput) as refused:
        BUILT_IN_REGISTRY.get(name).validate_settings({k: v for k, v in raw.items() if k != missing})

    assert locs(refused.value) == [("settings", missing)]


def test_defaults_that_match_the_vendors():
    def plain(name: str, **extra: object) -> dict:
        return BUILT_IN_REGISTRY.get(name).validate_settings({**MINIMAL[name][0], **extra}).plain

    assert plain("smtp") == {
        "host": "mx.example",
        "port": 587,
        "encryption": "tls",
        "username": None,
        "verify_certificate": True,
    }
    assert plain("elasticemail_smtp")["port"] == 2525
    assert (plain("sendgrid_smtp")["host"], plain("sendgrid_smtp")["port"]) == (None, 587)
    assert plain("mailgun_api")["region"] == "us" and plain("sparkpost_smtp")["region"] == "us"
    assert plain("sendmail") == {}
    assert plain("ses_api")["configuration_set"] is None
    assert plain("gmail_oauth")["token_url"] == "https://oauth2.googleapis.com/token"
    assert plain("direct_mx") == {"helo_hostname": None}
    assert plain("sendgrid_api", base_url="https://127.0.0.1:8025/")["base_url"] == "https://127.0.0.1:8025"
    assert plain("mailgun_api", domain="MG.Example.COM")["domain"] == "mg.example.com"


@pytest.mark.parametrize(
    ("name", "settings", "field"),
    [
        ("smtp", {}, "host"),
        ("smtp", {"host": ""}, "host"),
        ("smtp", {"host": "mx.example\r\nRCPT TO:<victim@example.com>"}, "host"),
        ("smtp", {"host": "mx example"}, "host"),
        ("smtp", {"host": "mx.example", "port": 0}, "port"),
        ("smtp", {"host": "mx.example", "port": 65536}, "port"),
        ("smtp", {"host": "mx.example", "encryption": "starttls"}, "encryption"),
        ("smtp", {"host": "mx.example", "username": "u\nMAIL FROM"}, "username"),
        ("smtp", {"host": "mx.example", "verify_certificate": "sometimes"}, "verify_certificate"),
        ("smtp", {"host": "mx.example", "passwrod": "typo"}, "passwrod"),
        ("ses_api", {**MINIMAL["ses_api"][0], "region": "Europe"}, "region"),
        ("ses_smtp", {**MINIMAL["ses_smtp"][0], "port": 70000}, "port"),
        ("mailgun_api", {**MINIMAL["mailgun_api"][0], "region": "asia"}, "region"),
        ("mailgun_api", {**MINIMAL["mailgun_api"][0], "domain": "mg.example.com\r\nBcc: x"}, "domain"),
        ("sendgrid_api", {"api_key": "k", "base_url": "ftp://files.example"}, "base_url"),
        ("sendgrid_api", {"api_key": "k", "base_url": "http://api.example"}, "base_url"),  # https only
        (
            "gmail_oauth",
            {**MINIMAL["gmail_oauth"][0], "token_url": "http://oauth.example/token"},
            "token_url",
        ),
        ("sendgrid_api", {"api_key": "k", "base_url": "https://api.example/?debug=1"}, "base_url"),
        ("sendgrid_smtp", {"api_key": "k", "host": "smtp.example\nDATA"}, "host"),
        ("sendmail", {"path": "/usr/sbin/sendmail"}, "path"),  # the operator's setting, not a server's
        ("sendmail", {"path": None}, "path"),
        ("gmail_oauth", {**MINIMAL["gmail_oauth"][0], "email": "not-an-address"}, "email"),
        ("direct_mx", {"helo_hostname": "mta\r\n.example.com"}, "helo_hostname"),
    ],
)
def test_bad_settings_name_the_field(name, settings, field):
    with pytest.raises(InvalidInput) as refused:
        BUILT_IN_REGISTRY.get(name).validate_settings(settings)
    assert locs(refused.value) == [("settings", field)]


def test_a_header_breaking_character_is_named_as_such():
    with pytest.raises(InvalidInput) as refused:
        SMTP.validate_settings({"host": "mx.example\r\nRCPT TO:<x@example.com>"})
    assert "CR, LF or NUL" in refused.value.errors[0].message


def test_a_refusal_never_echoes_the_values():
    with pytest.raises(InvalidInput) as refused:
        SMTP.validate_settings({"host": "mx.example", "password": ["s3cret-in-a-list"]})
    assert "s3cret" not in str(refused.value)


def test_an_unknown_type_is_refused_naming_type_and_the_known_ones():
    with pytest.raises(InvalidInput) as refused:
        BUILT_IN_REGISTRY.get("ses-v9")
    assert locs(refused.value) == [("type",)]
    assert "known types: smtp, ses_api" in str(refused.value)
    with pytest.raises(Conflict, match="not installed"):
        BUILT_IN_REGISTRY.of_stored("ses-v9")


# ----------------------------------------------------------------------------------------- plugins


class PostmarkSettings(ServerSettingsModel):
    """Postmark email API."""

    server_token: SecretStr
    message_stream: str = "outbound"


POSTMARK = ServerTypeSpec(
    name="postmark_api",
    vendor="postmark",
    integration="api",
    settings_model=PostmarkSettings,
    title="Postmark",
)


def fake_entry_points(monkeypatch, *targets: str) -> None:
    found = [
        EntryPoint(name=f"plugin{n}", value=target, group=server_type_plugins.ENTRY_POINT_GROUP)
        for n, target in enumerate(targets)
    ]
    monkeypatch.setattr(
        server_type_plugins,
        "entry_points",
        lambda group: found if group == server_type_plugins.ENTRY_POINT_GROUP else [],
    )


def test_a_plugin_type_is_loaded_and_listed_after_the_built_in_ones(monkeypatch):
    fake_entry_points(monkeypatch, f"{__name__}:POSTMARK")

    registry = ServerTypeRegistry.with_plugins(installed_server_types())

    names = [spec.name for spec in registry]
    assert names[: len(BUILT_IN_TYPES)] == [spec.name for spec in BUILT_IN_TYPES]
    assert names[-1] == "postmark_api"
    settings = registry.get("postmark_api").validate_settings({"server_token": "pm-123"})
    assert (settings.plain, settings.secrets) == ({"message_stream": "outbound"}, {"server_token": "pm-123"})


def test_a_plugin_that_is_no_type_or_clashes_stops_the_start(monkeypatch):
    fake_entry_points(monkeypatch, f"{__name__}:PostmarkSettings")
    with pytest.raises(InvalidServerTypePlugin, match="PostmarkSettings.*, not a ServerTypeSpec"):
        installed_server_types()

    fake_entry_points(monkeypatch, "no_such_module_anywhere:TYPE")
    with pytest.raises(InvalidServerTypePlugin, match="cannot be loaded"):
        installed_server_types()

    with pytest.raises(ValueError, match="registered twice"):
        ServerTypeRegistry.with_plugins([SMTP])


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"name": "Postmark API"}, "server type name"),
        ({"vendor": "post.mark"}, "vendor"),
        ({"integration": "carrier-pigeon"}, "integration"),
        ({"settings_model": dict}, "settings_model"),
    ],
)
def test_a_malformed_spec_is_refused_when_it_is_made(changes, problem):
    fields = {
        "name": "postmark_api",
        "vendor": "postmark",
        "integration": "api",
        "settings_model": PostmarkSettings,
    }
    with pytest.raises(ValueError, match=problem):
        ServerTypeSpec(**{**fields, **changes})


def test_every_type_has_a_short_label_for_people_and_a_plugin_gets_one_from_its_name():
    labels = {spec.name: spec.label for spec in BUILT_IN_TYPES}
    assert labels["smtp"] == "SMTP relay"
    assert labels["ses_api"] == "Amazon SES API" and labels["elasticemail_smtp"] == "Elastic Email SMTP"
    assert labels["direct_mx"] == "Direct to MX"
    assert len(set(labels.values())) == len(labels)  # a type picker tells them apart
    assert POSTMARK.label == "Postmark api"
