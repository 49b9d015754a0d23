"""The bounces service's HTTP API, on a running process: suppression lists (paging, search, import,
removal, audit), who may see and change what, feedback and its re-classification."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx

from services.bounces.adapters.feedback_store import PgFeedbackStore
from services.bounces.app.feedback import FeedbackPolicy, TakeFeedback
from shared.contracts import FeedbackClass
from tests.integration.bounces.feedback_support import feedback_about, remember, sent_event
from tests.support.api import bearer


class Caller:
    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.headers = bearer(token)

    async def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        return await self.http.request(
            method, path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs
        )

    async def ok(self, method: str, path: str, **kwargs) -> dict:
        response = await self.request(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}


async def announced_body_answer(http: httpx.AsyncClient, caller: Caller, env: dict, size: int) -> int:
    """The status a request announcing a body of `size` bytes gets before any of it is sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", http.base_url.port)
    writer.write(
        (
            f"POST /suppressions/import HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {caller.headers['Authorization']}\r\n"
            f"Content-Type: text/csv\r\nContent-Length: {size}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return int(status_line.split()[1])


def tenant(http, new_tenant_token, tenant_id=None) -> Caller:
    return Caller(http, new_tenant_token(tenant_id))


async def test_every_route_wants_a_token(http):
    for method, path in [
        ("GET", "/suppressions"),
        ("POST", "/suppressions"),
        ("POST", "/suppressions/import"),
        ("DELETE", "/suppressions/a@example.com"),
        ("GET", "/feedback"),
        ("GET", "/feedback/1"),
        ("POST", "/feedback/1/reclassify"),
        ("GET", "/audit"),
    ]:
        assert (await http.request(method, path)).status_code == 401, (method, path)
    wrong = await http.get("/suppressions", headers=bearer("spt_forged.token.0.signature"))
    assert wrong.status_code == 401


async def test_a_tenant_lists_its_suppressions_by_pages_and_searches_them(http, new_tenant_token):
    me = tenant(http, new_tenant_token)
    for number in range(7):
        await me.ok("POST", "/suppressions", json={"address": f"User{number}@Example.com", "reason": "asked"})
    await me.ok("POST", "/suppressions", json={"address": "someone@other.example"})

    first = await me.ok("GET", "/suppressions", params={"limit": 5})
    second = await me.ok("GET", "/suppressions", params={"limit": 5, "after": first["next"]})

    addresses = [item["address"] for item in first["items"] + second["items"]]
    assert addresses == sorted(addresses) and len(addresses) == 8 and second["next"] is None
    assert "user0@example.com" in addresses, "kept lower-cased"
    found = await me.ok("GET", "/suppressions", params={"q": "OTHER"})
    assert [item["address"] for item in found["items"]] == ["someone@other.example"]
    assert found["items"][0]["source"] == "manual"
    wildcard = await me.ok("GET", "/suppressions", params={"q": "%"})
    assert wildcard["items"] == [], "a search is for the text, never a pattern"


async def test_a_bad_address_is_refused_naming_the_field(http, new_tenant_token):
    me = tenant(http, new_tenant_token)

    response = await me.request("POST", "/suppressions", json={"address": "not an address"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "address"]


async def test_an_addition_never_weakens_a_suppression_in_force(http, new_tenant_token):
    me = tenant(http, new_tenant_token)
    await me.ok("POST", "/suppressions", json={"address": "keep@example.com"})

    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    again = await me.request(
        "POST", "/suppressions", json={"address": "keep@example.com", "expires_at": later}
    )

    assert again.status_code == 200
    assert again.json()["expires_at"] is None


async def test_an_import_reports_what_was_added_what_was_there_and_what_was_refused(http, new_tenant_token):
    me = tenant(http, new_tenant_token)
    await me.ok("POST", "/suppressions", json={"address": "there@example.com"})

    report = await me.ok(
        "POST",
        "/suppressions/import",
        content=b"address,reason\nnew1@example.com,asked by phone\nTHERE@example.com\nnonsense\nnew2@example.com\n",
        headers={"Content-Type": "text/csv"},
    )

    assert report["added"] == ["new1@example.com", "new2@example.com"]
    assert report["already_there"] == ["there@example.com"]
    assert [(r["row"], r["address"]) for r in report["refused"]] == [(2, "nonsense")]
    listed = await me.ok("GET", "/suppressions", params={"source": "import"})
    assert {(item["address"], item["reason"]) for item in listed["items"]} == {
        ("new1@example.com", "asked by phone"),
        ("new2@example.com", "imported"),
    }
    as_json = await me.ok(
        "POST", "/suppressions/import", json=["new3@example.com", {"address": "new1@example.com"}]
    )
    assert (as_json["added"], as_json["already_there"]) == (["new3@example.com"], ["new1@example.com"])


async def test_an_import_is_bounded(http, new_tenant_token, bounces_env):
    me = tenant(http, new_tenant_token)

    too_many = await me.request(
        "POST", "/suppressions/import", json=[f"a{n}@example.com" for n in range(10_001)]
    )
    not_a_list = await me.request("POST", "/suppressions/import", json={"address": "a@example.com"})
    too_large = await announced_body_answer(http, me, bounces_env, 3 * 1024 * 1024)

    assert too_many.status_code == 422
    assert not_a_list.status_code == 422
    assert too_large == 413, "refused on its announced size, before it is read"


async def test_a_removal_lifts_the_suppression_and_everything_is_audited(
    http, new_tenant_token, operator_token
):
    tenant_id = uuid4()
    me = tenant(http, new_tenant_token, tenant_id)
    await me.ok("POST", "/suppressions", json={"address": "gone@example.com"})

    await me.ok("DELETE", "/suppressions/Gone@Example.com")

    assert (await me.ok("GET", "/suppressions"))["items"] == []
    assert (await me.request("DELETE", "/suppressions/gone@example.com")).status_code == 404
    not_an_address = await me.request("DELETE", "/suppressions/not-an-address")
    assert not_an_address.status_code == 422
    assert not_an_address.json()["detail"][0]["loc"] == ["path", "address"]
    operator = Caller(http, operator_token)
    entries = [
        e
        for e in (await operator.ok("GET", "/audit", params={"limit": 500}))["items"]
        if e["tenant_id"] == str(tenant_id)
    ]
    assert [(e["action"], e["actor"], e["subject"]) for e in entries] == [
        ("suppression.removed", f"tenant:{tenant_id}", "gone@example.com"),
        ("suppression.added", f"tenant:{tenant_id}", "gone@example.com"),
    ]
    assert (await me.request("GET", "/audit")).status_code == 403, "the audit log is the operator's"


async def test_tenants_never_see_nor_change_each_others_lists_nor_the_global_one(
    http, new_tenant_token, operator_token
):
    ann_id, bob_id = uuid4(), uuid4()
    ann, bob = tenant(http, new_tenant_token, ann_id), tenant(http, new_tenant_token, bob_id)
    operator = Caller(http, operator_token)
    await ann.ok("POST", "/suppressions", json={"address": "anns@example.com"})
    await operator.ok(
        "POST", "/suppressions", params={"scope": "global"}, json={"address": "everyone@example.com"}
    )

    assert (await bob.ok("GET", "/suppressions"))["items"] == []
    assert (await bob.request("GET", "/suppressions", params={"tenant_id": str(ann_id)})).status_code == 403
    assert (await bob.request("DELETE", "/suppressions/anns@example.com")).status_code == 404
    assert (
        await bob.request("DELETE", "/suppressions/anns@example.com", params={"tenant_id": str(ann_id)})
    ).status_code == 403
    assert (await bob.request("GET", "/suppressions", params={"scope": "global"})).status_code == 403
    assert (
        await bob.request(
            "POST", "/suppressions", params={"scope": "global"}, json={"address": "x@example.com"}
        )
    ).status_code == 403
    assert (
        await bob.request("DELETE", "/suppressions/everyone@example.com", params={"scope": "global"})
    ).status_code == 403
    assert [i["address"] for i in (await ann.ok("GET", "/suppressions"))["items"]] == ["anns@example.com"]
    as_operator = await operator.ok("GET", "/suppressions", params={"tenant_id": str(ann_id)})
    assert [i["address"] for i in as_operator["items"]] == ["anns@example.com"]
    assert (await operator.request("GET", "/suppressions")).status_code == 422, "the operator names a list"
    await operator.ok("DELETE", "/suppressions/everyone@example.com", params={"scope": "global"})


async def test_feedback_is_shown_to_its_tenant_only_and_the_raw_source_to_the_operator_only(
    http, new_tenant_token, operator_token, bounces_db
):
    [sent] = await remember(bounces_db, sent_event())
    take = TakeFeedback(PgFeedbackStore(bounces_db), FeedbackPolicy())
    await take.take([feedback_about(sent.message_id, FeedbackClass.HARD, raw=b"the whole bounce")])
    await take.take([feedback_about(uuid4(), FeedbackClass.HARD, raw=f"unmatched {uuid4()}".encode())])
    owner = tenant(http, new_tenant_token, sent.tenant_id)
    stranger = tenant(http, new_tenant_token)
    operator = Caller(http, operator_token)

    [mine] = (await owner.ok("GET", "/feedback"))["items"]
    assert (mine["class"], mine["matched"], mine["recipient"]) == ("hard", True, sent.recipient)
    assert (await stranger.ok("GET", "/feedback"))["items"] == []
    assert (await stranger.request("GET", f"/feedback/{mine['id']}")).status_code == 404
    detail = await owner.ok("GET", f"/feedback/{mine['id']}")
    assert detail["raw_base64"] is None and detail["raw_size"] == len(b"the whole bounce")
    as_operator = await operator.ok("GET", f"/feedback/{mine['id']}")
    assert as_operator["raw_base64"] == "dGhlIHdob2xlIGJvdW5jZQ=="
    unmatched = await operator.ok("GET", "/feedback", params={"matched": "false", "limit": 1})
    assert unmatched["items"][0]["matched"] is False
    assert (await owner.ok("GET", "/feedback", params={"matched": "false"}))["items"] == []


async def test_only_the_operator_reclassifies_and_a_wrong_bounce_is_lifted(
    http, new_tenant_token, operator_token, bounces_db
):
    [sent] = await remember(bounces_db, sent_event())
    await TakeFeedback(PgFeedbackStore(bounces_db), FeedbackPolicy()).take(
        [feedback_about(sent.message_id, FeedbackClass.HARD)]
    )
    owner = tenant(http, new_tenant_token, sent.tenant_id)
    operator = Caller(http, operator_token)
    [report] = (await owner.ok("GET", "/feedback"))["items"]
    assert [i["address"] for i in (await owner.ok("GET", "/suppressions"))["items"]] == [sent.recipient]

    refused = await owner.request(
        "POST", f"/feedback/{report['id']}/reclassify", json={"class": "auto-reply"}
    )
    corrected = await operator.ok(
        "POST", f"/feedback/{report['id']}/reclassify", json={"class": "auto-reply", "note": "out of office"}
    )

    assert refused.status_code == 403
    assert corrected["class"] == "auto-reply"
    assert corrected["reclassified"]["original_class"] == "hard"
    assert corrected["reclassified"]["note"] == "out of office"
    assert (await owner.ok("GET", "/suppressions"))["items"] == []
    audit = (await operator.ok("GET", "/audit", params={"limit": 500}))["items"]
    mine = [(e["action"], e["actor"]) for e in audit if e["tenant_id"] == str(sent.tenant_id)]
    assert mine[:2] == [("suppression.removed", "operator"), ("feedback.reclassified", "operator")]
    bad = await operator.request("POST", f"/feedback/{report['id']}/reclassify", json={"class": "spam"})
    assert bad.status_code == 422
    assert (
        await operator.request("POST", "/feedback/999999999/reclassify", json={"class": "hard"})
    ).status_code == 404


async def test_what_the_fuzzing_found_is_refused_naming_the_field(http, new_tenant_token, operator_token):
    """Found by the attack suite's fuzzing (`tests/e2e/security/test_fuzz_api.py`), each a 500:
    ids and `before` past PostgreSQL's bigint; an expiry past year 9999 once in UTC; a lone
    surrogate in a JSON import (neither echoed nor stored); a NUL in a CSV import's reason."""
    me = tenant(http, new_tenant_token)
    operator = Caller(http, operator_token)
    too_large = str(2**70)
    json_body = {"Content-Type": "application/json"}
    refused: list[tuple[Caller, str, str, dict[str, Any], list[str]]] = [
        (me, "GET", "/feedback", {"params": {"before": too_large}}, ["query", "before"]),
        (operator, "GET", "/audit", {"params": {"before": too_large}}, ["query", "before"]),
        (me, "GET", f"/feedback/{too_large}", {}, ["path", "feedback_id"]),
        (
            operator,
            "POST",
            f"/feedback/{too_large}/reclassify",
            {"json": {"class": "hard"}},
            ["path", "feedback_id"],
        ),
        (
            me,
            "POST",
            "/suppressions",
            {"json": {"address": "late@example.com", "expires_at": "9999-12-31T23:59:59-14:00"}},
            ["body", "expires_at"],
        ),
        (
            me,
            "POST",
            "/suppressions/import",
            {"content": b'["x\\udb9d@example.com"]', "headers": json_body},
            ["body", "body"],
        ),
        (
            me,
            "POST",
            "/suppressions/import",
            {"content": b'[{"address": "r@example.com", "reason": "x\\udb9dy"}]', "headers": json_body},
            ["body", "body"],
        ),
        (
            me,
            "POST",
            "/suppressions/import",
            {"content": b"nul@example.com,a\x00reason\n", "headers": {"Content-Type": "text/csv"}},
            ["body", "body"],
        ),
    ]
    for caller, method, path, kwargs, location in refused:
        response = await caller.request(method, path, **kwargs)
        assert response.status_code == 422, (method, path, response.status_code, response.text)
        assert response.json()["detail"][0]["loc"] == location, response.text
    assert (await me.ok("GET", "/suppressions"))["items"] == [], "nothing of it was stored"
