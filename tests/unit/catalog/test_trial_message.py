"""The message a test-send pushes through a server: from an address the server may send for."""

from datetime import UTC, datetime

import pytest

from services.catalog.domain.identity import Identity
from services.catalog.domain.servers import Edit, edit, new_server
from services.catalog.domain.trial_message import trial_message
from shared.contracts import SendingLimits, ServerIdentity
from shared.errors import InvalidInput

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def server(*from_domains: str):
    saved = new_server(
        tenant_id=None, name="relay-1", type="smtp", vendor="smtp", settings={}, sealed_secrets="",
        limits=SendingLimits(), now=NOW,
    )  # fmt: skip
    if not from_domains:
        return saved
    return edit(
        saved, NOW, Edit(identity=(Identity(public=ServerIdentity(from_domains=list(from_domains))), None))
    )


def test_it_comes_from_the_first_from_domain_unless_told_otherwise():
    content = trial_message(server("news.example.com", "shop.example"), None)
    assert (content.from_address, content.from_name) == ("test@news.example.com", "sendpool")
    assert content.subject == "sendpool test message through relay-1"
    assert "'relay-1' (smtp)" in content.text

    assert trial_message(server("shop.example"), "Sales@Shop.Example").from_address == "Sales@Shop.Example"
    assert trial_message(server(), "me@anywhere.example").from_address == "me@anywhere.example"


@pytest.mark.parametrize(
    ("from_domains", "from_address", "problem"),
    [
        ((), None, "give a from_address: the server has no identity.from_domains"),
        (("shop.example",), "me@other.example", "the server sends for shop.example only"),
    ],
)
def test_a_sender_it_may_not_use_is_refused_naming_from_address(from_domains, from_address, problem):
    with pytest.raises(InvalidInput) as refused:
        trial_message(server(*from_domains), from_address)
    [error] = refused.value.errors
    assert error.loc == ("from_address",) and problem in error.message
