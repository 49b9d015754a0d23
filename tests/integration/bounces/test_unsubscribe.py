"""The one-click unsubscribe endpoint of a real bounces process on a real PostgreSQL: a signed link
POSTed suppresses its recipient for its tenant only (source `unsubscribe`, audited), once however
often; a GET only shows the confirmation page; forged, tampered and malformed requests change nothing."""

from uuid import uuid4

import pytest

from shared.unsubscribe import UnsubscribeClaim, unsubscribe_token

ONE_CLICK = {
    "content": b"List-Unsubscribe=One-Click",
    "headers": {"content-type": "application/x-www-form-urlencoded"},
}


@pytest.fixture
def secret(bounces_env) -> str:
    return bounces_env["SENDPOOL_UNSUBSCRIBE_SECRET"]


def a_claim(recipient: str | None = None) -> UnsubscribeClaim:
    return UnsubscribeClaim(uuid4(), uuid4(), uuid4(), recipient or f"reader-{uuid4().hex[:8]}@Inbox.example")


async def suppressions_of(db, address: str) -> list[dict]:
    rows = await db.pool.fetch(
        "SELECT tenant_id, address, source, reason, expires_at FROM suppressions WHERE address = $1", address
    )
    return [dict(row) for row in rows]


async def test_a_one_click_post_suppresses_the_recipient_for_its_tenant_once(http, bounces_db, secret):
    claim = a_claim()
    token = unsubscribe_token(claim, secret)

    first = await http.post(f"/unsubscribe/{token}", **ONE_CLICK)
    again = await http.post(f"/unsubscribe/{token}", **ONE_CLICK)

    assert (first.status_code, again.status_code) == (200, 200)
    [row] = await suppressions_of(bounces_db, claim.recipient.lower())
    assert (row["tenant_id"], row["source"], row["expires_at"]) == (claim.tenant_id, "unsubscribe", None)
    assert str(claim.campaign_id) in row["reason"]
    audit = await bounces_db.pool.fetch(
        "SELECT actor, action FROM audit_log WHERE subject = $1", claim.recipient.lower()
    )
    assert [(a["actor"], a["action"]) for a in audit] == [
        (f"unsubscribe:{claim.message_id}", "suppression.added")
    ]


async def test_a_get_shows_a_confirmation_form_and_unsubscribes_nobody(http, bounces_db, secret):
    claim = a_claim()
    token = unsubscribe_token(claim, secret)

    page = await http.get(f"/unsubscribe/{token}")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<form method="post"' in page.text and 'value="One-Click"' in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert await suppressions_of(bounces_db, claim.recipient.lower()) == []


async def test_a_post_without_the_one_click_body_changes_nothing(http, bounces_db, secret):
    claim = a_claim()
    refused = await http.post(f"/unsubscribe/{unsubscribe_token(claim, secret)}", content=b"x=y")
    assert refused.status_code == 400
    assert await suppressions_of(bounces_db, claim.recipient.lower()) == []


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),  # tampered
        lambda token: unsubscribe_token(a_claim(), "an-attackers-own-secret"),  # forged
        lambda token: "A" * 1999,
        lambda token: "%00%0d%0a",
    ],
)
async def test_a_bad_token_is_a_404_that_says_nothing_more_and_suppresses_nobody(
    http, bounces_db, secret, forge
):
    claim = a_claim()
    bad = forge(unsubscribe_token(claim, secret))

    posted = await http.post(f"/unsubscribe/{bad}", **ONE_CLICK)
    shown = await http.get(f"/unsubscribe/{bad}")

    assert (posted.status_code, shown.status_code) == (404, 404)
    assert "signature" not in posted.text.lower() and "key" not in posted.text.lower()
    assert await suppressions_of(bounces_db, claim.recipient.lower()) == []


async def test_an_oversized_body_is_refused_unread(http, secret):
    token = unsubscribe_token(a_claim(), secret)
    refused = await http.post(f"/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click&" + b"x" * 20_000)
    assert refused.status_code == 413
