"""VERP Return-Paths: they name their message, and a forged or garbled one names nothing."""

from uuid import UUID

from hypothesis import assume, given
from hypothesis import strategies as st

from services.delivery.domain.identity import SenderIdentity
from services.delivery.domain.verp import return_path
from shared.verp import parse_verp, verp_address

SECRET = "verp-test-secret"

secrets = st.text(min_size=1, max_size=40)
domains = st.from_regex(r"\A[a-z0-9]{1,12}(\.[a-z0-9]{1,12}){1,3}\Z")
any_character = st.characters(codec="utf-8")


@given(message_id=st.uuids(), domain=domains, secret=secrets)
def test_an_address_parses_back_to_its_message(message_id, domain, secret):
    address = verp_address(message_id, domain, secret)

    assert parse_verp(address, secret) == message_id


@given(message_id=st.uuids(), domain=domains)
def test_the_local_part_fits_rfc_5321_and_is_plain_lowercase(message_id, domain):
    local_part, _, found_domain = verp_address(message_id, domain, SECRET).partition("@")

    assert len(local_part) <= 64
    assert found_domain == domain
    assert local_part.startswith("bounces+")
    assert local_part == local_part.lower() and local_part.isascii()


@given(message_id=st.uuids(), domain=domains, data=st.data())
def test_any_single_character_changed_in_the_local_part_is_rejected(message_id, domain, data):
    address = verp_address(message_id, domain, SECRET)
    local_length = address.index("@")
    position = data.draw(st.integers(0, local_length - 1), label="position")
    replacement = data.draw(any_character, label="replacement")
    original = address[position]
    # Mail systems may change the case of a local part, so that is the one change that is no change.
    assume(not (replacement.isascii() and replacement.lower() == original.lower()))

    changed = address[:position] + replacement + address[position + 1 :]

    assert parse_verp(changed, SECRET) is None


@given(message_id=st.uuids(), domain=domains, data=st.data())
def test_a_character_dropped_or_added_in_the_local_part_is_rejected(message_id, domain, data):
    address = verp_address(message_id, domain, SECRET)
    position = data.draw(st.integers(0, address.index("@") - 1), label="position")
    extra = data.draw(any_character, label="extra")

    dropped = address[:position] + address[position + 1 :]
    added = address[:position] + extra + address[position:]

    assert parse_verp(dropped, SECRET) is None
    assert parse_verp(added, SECRET) is None


@given(message_id=st.uuids(), domain=domains, secret=secrets, other=secrets)
def test_an_address_signed_with_another_key_is_rejected(message_id, domain, secret, other):
    assume(secret != other)

    assert parse_verp(verp_address(message_id, domain, other), secret) is None


@given(message_id=st.uuids(), other_id=st.uuids(), domain=domains)
def test_one_messages_token_cannot_be_moved_to_another(message_id, other_id, domain):
    assume(message_id != other_id)
    token = verp_address(message_id, domain, SECRET).split("+", 1)[1].split("@")[0]
    forged_id_part = verp_address(other_id, domain, SECRET).split("+", 1)[1][:26]  # the id's characters

    assert parse_verp(f"bounces+{forged_id_part}{token[26:]}@{domain}", SECRET) is None


@given(anything=st.text(max_size=120))
def test_arbitrary_text_never_parses_and_never_raises(anything):
    assert parse_verp(anything, SECRET) is None


def test_case_changes_and_angle_brackets_are_read_as_the_same_address():
    message_id = UUID("0b7f6d4c-2a61-4a8e-9c55-0d1d6c1f7a10")
    address = verp_address(message_id, "bounce.shop.example", SECRET)

    assert parse_verp(address.upper(), SECRET) == message_id
    assert parse_verp(f"<{address}>", SECRET) == message_id


def test_the_return_path_domain_is_the_identitys_or_else_the_from_domain():
    message_id = UUID("0b7f6d4c-2a61-4a8e-9c55-0d1d6c1f7a10")
    with_domain = SenderIdentity(return_path_domain="bounces.shop.example")

    assert return_path(message_id, "shop.example", with_domain, SECRET).endswith("@bounces.shop.example")
    assert return_path(message_id, "shop.example", SenderIdentity(), SECRET).endswith("@shop.example")
    assert return_path(message_id, "shop.example", None, SECRET).endswith("@shop.example")
    assert parse_verp(return_path(message_id, "shop.example", None, SECRET), SECRET) == message_id
