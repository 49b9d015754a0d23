"""The scheduler's HTTP API: lists, recipients, campaigns, validation and who may see what."""

from uuid import uuid4

from tests.integration.scheduler.harness import SchedulerApi, campaign_content


async def test_recipients_are_added_once_per_address_whatever_the_case(tenant: SchedulerApi):
    recipient_list = await tenant.create_list("customers")
    assert recipient_list["name"] == "customers"

    first = await tenant.add_recipients(
        recipient_list["id"], ["ann@example.com", "bob@example.com", "ANN@example.com"]
    )
    again = await tenant.add_recipients(recipient_list["id"], ["Bob@Example.com", "cid@example.com"])

    assert first == {"added": 2, "total": 2}
    assert again == {"added": 1, "total": 3}


async def test_a_bad_address_is_refused_naming_its_entry(tenant: SchedulerApi):
    recipient_list = await tenant.create_list()
    body = {"recipients": [{"email": "ann@example.com"}, {"email": "not-an-address"}]}

    response = await tenant.request("POST", f"/lists/{recipient_list['id']}/recipients", body)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "recipients", 1, "email"]
    assert "input" not in error, "a refused request is never echoed (shared.http_errors)"
    # Nothing of a refused request is kept.
    assert await tenant.add_recipients(recipient_list["id"], ["ann@example.com"]) == {"added": 1, "total": 1}


async def test_a_recipient_name_must_be_header_safe(tenant: SchedulerApi):
    recipient_list = await tenant.create_list()
    body = {"recipients": [{"email": "ann@example.com", "name": "Ann\r\nBcc: all@example.com"}]}

    response = await tenant.request("POST", f"/lists/{recipient_list['id']}/recipients", body)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "recipients", 0, "name"]


async def test_a_campaign_is_created_as_a_draft_with_its_content(tenant: SchedulerApi):
    recipient_list = await tenant.create_list()

    campaign = await tenant.create_campaign(
        recipient_list["id"], subject="Hello", reply_to="help@shop.example"
    )

    assert campaign["state"] == "draft"
    assert campaign["list_id"] == recipient_list["id"]
    assert campaign["content"]["subject"] == "Hello"
    assert campaign["content"]["reply_to"] == "help@shop.example"
    report = await tenant.campaign(campaign["id"])
    assert report == {
        "id": campaign["id"],
        "name": campaign["name"],
        "state": "draft",
        "stop_reason": None,
        "total": 0,
        "expanded": 0,
        "counts": {},
        "per_server": {},
        "progress": None,  # no run yet: no rate, no estimate
    }
    # The campaign as created, for a page that shows its content (the report has only its counts).
    definition = await tenant.request("GET", f"/campaigns/{campaign['id']}/definition")
    assert definition.status_code == 200
    assert definition.json() == campaign


async def test_a_line_break_in_a_header_field_is_refused_naming_the_field(tenant: SchedulerApi):
    recipient_list = await tenant.create_list()

    for field in ("subject", "from_name"):
        body = {
            "name": "injection",
            "list_id": recipient_list["id"],
            "content": campaign_content(**{field: "Sale\r\nBcc: everyone@example.com"}),
        }
        response = await tenant.request("POST", "/campaigns", body)

        assert response.status_code == 422, field
        assert response.json()["detail"][0]["loc"] == ["body", "content", field]


async def test_a_campaign_needs_a_real_from_address_and_known_fields(tenant: SchedulerApi):
    recipient_list = await tenant.create_list()

    bad_from = {
        "name": "x",
        "list_id": recipient_list["id"],
        "content": campaign_content(from_address="shop"),
    }
    misspelt = {
        "name": "x",
        "list_id": recipient_list["id"],
        "content": {**campaign_content(), "subjet": "typo"},
    }

    response = await tenant.request("POST", "/campaigns", bad_from)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "content", "from_address"]
    response = await tenant.request("POST", "/campaigns", misspelt)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "content", "subjet"]


async def test_a_campaign_on_an_unknown_list_is_refused(tenant: SchedulerApi):
    missing = str(uuid4())
    body = {"name": "x", "list_id": missing, "content": campaign_content()}

    response = await tenant.request("POST", "/campaigns", body)

    assert response.status_code == 404
    assert missing in response.json()["detail"]


async def test_another_tenants_lists_and_campaigns_do_not_exist_for_a_tenant(
    tenant: SchedulerApi, other_tenant: SchedulerApi
):
    recipient_list = await tenant.create_list()
    campaign = await tenant.create_campaign(recipient_list["id"])
    body = {"name": "x", "list_id": recipient_list["id"], "content": campaign_content()}

    attempts = [
        await other_tenant.request("GET", f"/campaigns/{campaign['id']}"),
        await other_tenant.request("GET", f"/campaigns/{campaign['id']}/definition"),
        await other_tenant.request("POST", f"/campaigns/{campaign['id']}/launch"),
        await other_tenant.request("POST", f"/campaigns/{campaign['id']}/resume"),
        await other_tenant.request(
            "POST", f"/lists/{recipient_list['id']}/recipients", {"recipients": [{"email": "a@b.example"}]}
        ),
        await other_tenant.request("POST", "/campaigns", body),
    ]

    assert [response.status_code for response in attempts] == [404] * len(attempts)
    assert (await tenant.campaign(campaign["id"]))["state"] == "draft"


async def test_calls_without_a_valid_token_are_refused(tenant: SchedulerApi, http):
    recipient_list = await tenant.create_list()
    campaign = await tenant.create_campaign(recipient_list["id"])

    anonymous = SchedulerApi(http, None)
    forged = SchedulerApi(http, f"spt_{uuid4()}.abc.0000")
    for caller in (anonymous, forged):
        assert (await caller.request("GET", f"/campaigns/{campaign['id']}")).status_code == 401
        assert (await caller.request("POST", "/lists", {"name": "x"})).status_code == 401


async def test_the_operator_reads_any_campaign_but_acts_for_no_tenant(
    tenant: SchedulerApi, operator: SchedulerApi
):
    recipient_list = await tenant.create_list()
    campaign = await tenant.create_campaign(recipient_list["id"])

    assert (await operator.campaign(campaign["id"]))["state"] == "draft"
    refused = await operator.request("POST", f"/campaigns/{campaign['id']}/launch")
    assert refused.status_code == 403
    assert "tenant" in refused.json()["detail"]


async def test_a_campaign_is_launched_once(tenant: SchedulerApi):
    launched = await tenant.launched_campaign(3)

    assert launched["state"] == "running"
    assert launched["total"] == 3
    again = await tenant.request("POST", f"/campaigns/{launched['id']}/launch")
    assert again.status_code == 409
    assert "running" in again.json()["detail"]
    not_stopped = await tenant.request("POST", f"/campaigns/{launched['id']}/resume")
    assert not_stopped.status_code == 409


async def test_a_campaign_over_an_empty_list_completes_at_once(tenant: SchedulerApi):
    recipient_list = await tenant.create_list()
    campaign = await tenant.create_campaign(recipient_list["id"])

    launched = await tenant.launch(campaign["id"])

    assert launched["total"] == 0
    report = await tenant.wait_for(campaign["id"], lambda r: r["state"] == "completed")
    assert report["expanded"] == 0
