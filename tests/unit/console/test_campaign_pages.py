"""The campaign and tenant pages rendered against fake APIs (no network): templates, forms, fragments."""

import json
import re
from uuid import uuid4

import httpx
import pytest

from services.console.domain.session import Session
from tests.unit.console.harness import console_client

TENANT = uuid4()
CAMPAIGN = str(uuid4())
LIST = str(uuid4())
SERVERS = [str(uuid4()) for _ in range(3)]
PLAN = str(uuid4())


def _server(n: int, server_id: str, tenant=TENANT) -> dict:
    return {
        "id": server_id,
        "name": f"sink {n}",
        "type": "smtp",
        "state": "active",
        "tenant_id": str(tenant) if tenant else None,
        "shared": False,
    }


class FakeApis:
    def __init__(self) -> None:
        self.state = "draft"
        self.stop_reason: str | None = None
        self.calls: list[tuple[str, str, object]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path, method = request.url.path, request.method
        self.calls.append((method, f"{request.url.host}{path}", body))
        host = request.url.host
        if host == "scheduler":
            if path == "/campaigns" and method == "GET":
                return httpx.Response(200, json={"campaigns": [self.campaign()], "next_cursor": None})
            if path == f"/campaigns/{CAMPAIGN}/definition":
                return httpx.Response(200, json=self.campaign())
            if path == f"/campaigns/{CAMPAIGN}":
                return httpx.Response(
                    200,
                    json={
                        "id": CAMPAIGN,
                        "name": "spring sale",
                        "stop_reason": self.stop_reason,
                        "progress": {"send_rate_per_minute": 120.0, "estimated_completion_at": None},
                        "state": self.state,
                        "total": 100,
                        "expanded": 100,
                        "counts": {"sent": 60, "queued": 40},
                        "per_server": {SERVERS[0]: 6, SERVERS[1]: 12, SERVERS[2]: 42},
                    },
                )
            if path == "/lists" and method == "GET":
                return httpx.Response(
                    200,
                    json={
                        "lists": [
                            {"id": LIST, "name": "customers", "recipient_count": 100, "field_names": ["plan"]}
                        ],
                        "next_cursor": None,
                    },
                )
            if path == "/campaigns" and method == "POST":
                if "{{ nope }}" in body["content"]["subject"]:
                    return httpx.Response(
                        422,
                        json={
                            "detail": [
                                {
                                    "loc": ["body", "content", "subject"],
                                    "msg": "line 1: unknown field nope",
                                    "type": "value_error",
                                }
                            ]
                        },
                    )
                return httpx.Response(201, json={**self.campaign(), "name": body["name"]})
            if path == f"/lists/{LIST}":
                return httpx.Response(200, json={"id": LIST, "recipient_count": 100})
            if path == f"/campaigns/{CAMPAIGN}/launch":
                if self.state != "draft":
                    return httpx.Response(409, json={"detail": f"campaign is {self.state}"})
                self.state = "running"
                return httpx.Response(202, json={})
        if host == "catalog":
            if path == "/servers":
                servers = [_server(n, s) for n, s in enumerate(SERVERS, 1)] + [_server(9, str(uuid4()), None)]
                return httpx.Response(
                    200, json={"items": servers, "total": len(servers), "limit": 500, "offset": 0}
                )
            if path == f"/campaigns/{CAMPAIGN}/sending-policy":
                if method == "PUT":
                    return httpx.Response(200, json={"campaign_id": CAMPAIGN, **body})
                return httpx.Response(
                    200,
                    json={
                        "campaign_id": CAMPAIGN,
                        "tenant_id": str(TENANT),
                        "use_all": True,
                        "selection": [],
                    },
                )
            if path == "/tenants" and method == "GET":
                return httpx.Response(200, json=[{"id": str(TENANT), "name": "acme", "plan_id": PLAN}])
            if path == "/tenants" and method == "POST":
                return httpx.Response(
                    201,
                    json={
                        "id": str(uuid4()),
                        "name": body["name"],
                        "plan_id": body["plan_id"],
                        "token": "spt_secret-token",
                        "token_id": "abc",
                    },
                )
            if path == "/plans" and method == "GET":
                return httpx.Response(
                    200,
                    json=[
                        {
                            "id": PLAN,
                            "name": "gold",
                            "server_ids": [],
                            "allow_own_servers": True,
                            "server_quota": None,
                            "managed_pool": False,
                        }
                    ],
                )
            if path == f"/plans/{PLAN}":
                return httpx.Response(
                    200,
                    json={
                        "id": PLAN,
                        "name": "gold",
                        "server_ids": [],
                        "allow_own_servers": True,
                        "server_quota": None,
                        "managed_pool": False,
                    },
                )
        if host == "router" and path == f"/campaigns/{CAMPAIGN}/dry-run":
            return httpx.Response(
                200,
                json={
                    "campaign_id": CAMPAIGN,
                    "mode": "selection",
                    "messages": body["messages"],
                    "excluded": [],
                    "servers": [
                        {
                            "server_id": s,
                            "weight": w,
                            "expected_messages": w * 10,
                            "share": w / 10,
                            "limited": False,
                        }
                        for s, w in zip(SERVERS, (1, 2, 7), strict=True)
                    ],
                    "seconds_to_send": None,
                },
            )
        return httpx.Response(404, json={"detail": f"no fake for {method} {host}{path}"})

    def campaign(self) -> dict:
        return {
            "id": CAMPAIGN,
            "name": "spring",
            "list_id": LIST,
            "state": self.state,
            "stop_reason": None,
            "content": {"from_address": "news@example.com", "subject": "Hello"},
            "created_at": "2026-12-06T10:00:00Z",
            "updated_at": "2026-12-06T10:00:00Z",
            "send_at": None,
            "time_zone": None,
        }


@pytest.fixture
def fake():
    return FakeApis()


# The stand-in tells the APIs apart by host.
FAKE_HOSTS = {
    "catalog_url": "http://catalog",
    "scheduler_url": "http://scheduler",
    "router_url": "http://router",
}


@pytest.fixture
def tenant(fake):
    session = Session.signed_in(f"spt_{TENANT}.x", "tenant")
    with console_client(fake, session=session, **FAKE_HOSTS) as client:
        yield client, session


@pytest.fixture
def operator(fake):
    session = Session.signed_in("operator-token", "operator")
    with console_client(fake, session=session, **FAKE_HOSTS) as client:
        yield client, session


def test_the_campaign_list_and_page_render(tenant):
    client, _ = tenant
    listed = client.get("/campaigns")
    assert listed.status_code == 200 and f"/campaigns/{CAMPAIGN}" in listed.text
    shown = client.get(f"/campaigns/{CAMPAIGN}")
    assert shown.status_code == 200
    assert "Use all my servers" in shown.text and "Launch" in shown.text and "news@example.com" in shown.text
    assert 'hx-trigger="every 2s"' not in shown.text  # a draft is not polled


def test_the_preview_gives_the_shares_out_of_band(tenant):
    client, session = tenant
    form = {
        "csrf": session.csrf,
        "use": "selection",
        **{f"weight-{s}": w for s, w in zip(SERVERS, ("1", "2", "7"), strict=True)},
    }
    answer = client.post(f"/campaigns/{CAMPAIGN}/policy/preview", data=form, headers={"HX-Request": "true"})
    assert answer.status_code == 200
    shares = dict(
        re.findall(r'id="share-([0-9a-f-]+)" class="share-value" hx-swap-oob="true">([^<]+)<', answer.text)
    )
    assert [shares[s] for s in SERVERS] == ["10 %", "20 %", "70 %"]


def test_saving_an_empty_selection_is_refused_by_the_field_and_a_good_one_is_put(tenant, fake):
    client, session = tenant
    empty = client.post(f"/campaigns/{CAMPAIGN}/policy", data={"csrf": session.csrf, "use": "selection"})
    assert empty.status_code == 422 and "Give at least one server a weight above 0" in empty.text
    form = {
        "csrf": session.csrf,
        "use": "selection",
        f"weight-{SERVERS[0]}": "1",
        f"weight-{SERVERS[2]}": "7",
    }
    saved = client.post(f"/campaigns/{CAMPAIGN}/policy", data=form, follow_redirects=False)
    assert saved.status_code == 303
    put = [body for method, where, body in fake.calls if method == "PUT"]
    assert put == [
        {
            "use_all": False,
            "selection": [{"server_id": SERVERS[0], "weight": 1}, {"server_id": SERVERS[2], "weight": 7}],
        }
    ]


def test_a_post_without_the_form_key_is_refused(tenant):
    client, _ = tenant
    assert client.post(f"/campaigns/{CAMPAIGN}/launch", data={}).status_code == 403


def test_launch_then_progress_polls_and_a_second_launch_shows_the_schedulers_409(tenant):
    client, session = tenant
    launched = client.post(
        f"/campaigns/{CAMPAIGN}/launch", data={"csrf": session.csrf}, headers={"HX-Request": "true"}
    )
    assert (
        launched.status_code == 200 and 'hx-trigger="every 2s"' in launched.text and "Pause" in launched.text
    )
    progress = client.get(f"/campaigns/{CAMPAIGN}/progress?seen=draft", headers={"HX-Request": "true"})
    assert (
        "every 2s" in progress.text and 'hx-swap-oob="innerHTML"' in progress.text and "70 %" in progress.text
    )
    again = client.post(f"/campaigns/{CAMPAIGN}/launch", data={"csrf": session.csrf})
    assert again.status_code == 409 and "campaign is running" in again.text


def test_a_completed_campaigns_progress_has_no_trigger(tenant, fake):
    client, _ = tenant
    fake.state = "completed"
    progress = client.get(f"/campaigns/{CAMPAIGN}/progress?seen=completed", headers={"HX-Request": "true"})
    assert "hx-trigger" not in progress.text and "hx-swap-oob" not in progress.text


def test_a_campaign_stopped_while_its_page_is_open_says_why_at_the_next_poll(tenant, fake):
    client, _ = tenant
    fake.state, fake.stop_reason = "stopped", "every selected server is inactive: sink 1 (disabled)"
    progress = client.get(f"/campaigns/{CAMPAIGN}/progress?seen=running", headers={"HX-Request": "true"})
    assert "every selected server is inactive: sink 1 (disabled)" in progress.text


def test_the_dry_run_fragment(tenant):
    client, session = tenant
    answer = client.post(
        f"/campaigns/{CAMPAIGN}/dry-run",
        data={"csrf": session.csrf, "messages": "100"},
        headers={"HX-Request": "true"},
    )
    assert (
        answer.status_code == 200
        and "sink 3" in answer.text
        and "70 %" in answer.text
        and "not bounded" in answer.text
    )


def test_the_operator_creates_a_tenant_and_sees_its_token_once(operator):
    client, session = operator
    page = client.get("/tenants")
    assert page.status_code == 200 and "acme" in page.text and "gold" in page.text
    created = client.post("/tenants", data={"csrf": session.csrf, "name": "newco", "plan_id": PLAN})
    assert (
        created.status_code == 201
        and "spt_secret-token" in created.text
        and "Copy the API token now" in created.text
    )
    plan = client.get(f"/plans/{PLAN}")
    assert plan.status_code == 200 and "sink 9" in plan.text and "sink 1" not in plan.text


def test_a_tenant_cannot_open_the_tenants_page(tenant):
    client, _ = tenant
    assert client.get("/tenants").status_code == 403


def test_a_new_campaign_is_created_as_a_draft_and_a_template_error_is_shown_at_its_field(tenant, fake):
    client, session = tenant
    form = client.get("/campaigns/new")
    assert form.status_code == 200 and "customers (100 recipients)" in form.text and "plan" in form.text
    assert "field-error" not in form.text and 'role="alert"' not in form.text  # nothing refused yet
    fields = {
        "csrf": session.csrf,
        "name": "spring sale",
        "list_id": LIST,
        "content.from_address": "news@example.com",
        "content.subject": "Hi {{ nope }}",
        "content.text": "hello",
    }
    refused = client.post("/campaigns/new", data=fields, follow_redirects=False)
    assert refused.status_code == 422
    assert re.search(r'id="f-content-subject-error">line 1: unknown field nope<', refused.text)
    assert 'value="spring sale"' in refused.text  # what was typed stays

    created = client.post("/campaigns/new", data={**fields, "content.subject": "Hi"}, follow_redirects=False)
    assert created.status_code == 303 and created.headers["location"] == f"/campaigns/{CAMPAIGN}"
    posted = [
        body for method, where, body in fake.calls if method == "POST" and where == "scheduler/campaigns"
    ]
    assert posted[-1] == {
        "name": "spring sale",
        "list_id": LIST,
        "content": {"from_address": "news@example.com", "subject": "Hi", "text": "hello"},
    }


def test_a_new_campaign_with_nothing_typed_calls_no_api(tenant, fake):
    client, session = tenant
    before = len(fake.calls)
    refused = client.post("/campaigns/new", data={"csrf": session.csrf}, follow_redirects=False)
    assert refused.status_code == 422
    assert "Give the campaign a name." in refused.text
    # Only the lists were read again, to offer them.
    assert [where for _, where, _ in fake.calls[before:]] == ["scheduler/lists"]
