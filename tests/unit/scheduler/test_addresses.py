"""The fast address check shared by the CSV import and the JSON API."""

import pytest
from pydantic import ValidationError

from services.scheduler.domain.addresses import address_refusal, normalized_address
from services.scheduler.entrypoints.schemas import RecipientIn


@pytest.mark.parametrize(
    "address",
    [
        "ann@example.com",
        "Ann.Lee+news@mail.example.co.uk",
        "o'brien@example.ie",
        "x_y-z@sub-domain.example.org",
        "a@b.io",
        f"{'l' * 64}@example.com",
    ],
)
def test_common_addresses_are_accepted(address: str) -> None:
    assert address_refusal(address) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("", "email_missing"),
        (f"{'a' * 245}@example.com", "email_too_long"),
        ("ann lee@example.com", "email_bad_characters"),
        ("ann@example.com\r\nbcc@evil.example", "email_bad_characters"),
        ("ann\x00@example.com", "email_bad_characters"),
        ("ann@localhost", "email_no_domain_dot"),
        ("ann@", "email_no_domain_dot"),
        ("ann", "email_bad_syntax"),
        ("@example.com", "email_bad_syntax"),
        ("ann..lee@example.com", "email_bad_syntax"),
        (".ann@example.com", "email_bad_syntax"),
        ("ann@example..com", "email_bad_syntax"),
        ("ann@-example.com", "email_bad_syntax"),
        ("ann@example.com.", "email_bad_syntax"),
        ("ann@exa_mple.com", "email_bad_syntax"),
        ("ann@example.123", "email_bad_syntax"),
        ("ann@b@example.com", "email_bad_syntax"),
        ('"ann"@example.com', "email_bad_syntax"),
        (f"{'l' * 65}@example.com", "email_bad_syntax"),
        ("ann@exämple.com", "email_bad_syntax"),
    ],
)
def test_a_refused_address_says_why(address: str, reason: str) -> None:
    assert address_refusal(address) == reason


def test_the_domain_is_lowered_and_the_local_part_kept() -> None:
    assert normalized_address("Ann.Lee@Example.COM") == "Ann.Lee@example.com"


@pytest.mark.parametrize("address", ["ann@localhost", "ann..lee@example.com", "ann@exämple.com"])
def test_the_json_api_refuses_what_the_import_refuses(address: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RecipientIn.model_validate({"email": address})
    assert refused.value.errors()[0]["loc"] == ("email",)


def test_the_json_api_takes_custom_fields_within_the_contract_limits() -> None:
    accepted = RecipientIn.model_validate({"email": "ann@example.com", "fields": {"first_name": "Ann"}})
    assert accepted.fields == {"first_name": "Ann"}
    for fields, where in (
        ({"first name": "Ann"}, ("fields", "first name", "[key]")),
        ({"city": "x" * 1001}, ("fields", "city")),
    ):
        with pytest.raises(ValidationError) as refused:
            RecipientIn.model_validate({"email": "ann@example.com", "fields": fields})
        assert refused.value.errors()[0]["loc"] == where
    with pytest.raises(ValidationError):
        RecipientIn.model_validate({"email": "ann@example.com", "fields": {f"f{i}": "" for i in range(51)}})
