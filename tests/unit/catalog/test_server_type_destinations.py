"""The rule that a stored secret never follows a new destination, and the types only the operator adds."""

import pytest

from services.catalog.domain.server_types import BUILT_IN_REGISTRY, ConnectionSettings
from shared.errors import InvalidInput

SMTP = BUILT_IN_REGISTRY.get("smtp")
STORED = ConnectionSettings(
    plain={
        "host": "mx.example",
        "port": 587,
        "encryption": "tls",
        "username": "u",
        "verify_certificate": True,
    },
    secrets={"password": "stored"},
)


def wanted(**changes: object) -> ConnectionSettings:
    return SMTP.validate_settings({**STORED.merged(), **changes})


@pytest.mark.parametrize("move", [{"host": "collector.example"}, {"port": 25}])
def test_a_new_destination_needs_the_stored_secrets_again(move):
    with pytest.raises(InvalidInput) as refused:
        SMTP.require_secrets_for_new_destination(STORED, wanted(**move), given=move.keys())

    [error] = refused.value.errors
    assert error.loc == ("settings", "password")
    assert f"{next(iter(move))} changed" in error.message


def test_the_secrets_given_with_a_new_destination_or_no_new_destination_pass():
    SMTP.require_secrets_for_new_destination(
        STORED, wanted(host="new.example", password="new"), given={"host", "password"}
    )
    SMTP.require_secrets_for_new_destination(STORED, wanted(username="v"), given={"username"})
    SMTP.require_secrets_for_new_destination(STORED, wanted(host="mx.example"), given={"host"})


def test_destination_fields_come_from_the_forms():
    destinations = {spec.name: spec.destination_fields for spec in BUILT_IN_REGISTRY}

    assert destinations["smtp"] == {"host", "port"}
    assert destinations["gmail_oauth"] == {"host", "port", "token_url"}
    assert destinations["ses_api"] == {"base_url", "region"}
    assert destinations["mailgun_smtp"] == {"host", "port", "region"}
    schema = SMTP.form_schema()["properties"]
    assert schema["host"]["x-destination"] is True and "x-destination" not in schema["username"]


def test_types_on_the_platforms_own_machine_or_ips_are_the_operators():
    assert {spec.name for spec in BUILT_IN_REGISTRY if spec.operator_only} == {"sendmail", "direct_mx"}
