"""A tenant in Chromium: sets a 1:2:7 sending policy, sees the dry run, launches, and watches the
progress reach completed without a reload; the SMTP sinks' counts follow the weights."""

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.support.console import assert_accessible, screenshot, sign_in
from tools.stack.campaigns import (
    SENDER_DOMAIN,
    campaign_content,
    draft_campaign,
    enabled_smtp_server,
    new_tenant,
    recipient_addresses,
)
from tools.stack.sinks import CountingSmtpSinks

WEIGHTS = (1, 2, 7)
RECIPIENTS = 200
SLACK_POINTS = 12.0
"""How far (in percentage points) each sink's share may be from its weight's share."""


@pytest.fixture(scope="module")
def sinks():
    with CountingSmtpSinks(len(WEIGHTS)) as running:
        yield running


@pytest.fixture
def tenant_campaign(console_stack, sinks):
    """A tenant on a plan allowing own servers, one enabled server per sink, and a draft campaign."""
    operator = console_stack.operator_api()
    plan = operator.create_plan(f"own servers {uuid.uuid4().hex[:6]}")
    tenant = new_tenant(operator, f"console tenant {uuid.uuid4().hex[:6]}", plan_id=plan.id)
    servers = [
        enabled_smtp_server(tenant, f"sink {n}", port, identity={"from_domains": [SENDER_DOMAIN]})
        for n, port in enumerate(sinks.ports, start=1)
    ]
    campaign = draft_campaign(
        tenant, recipient_addresses(RECIPIENTS), campaign_content(500), name="console weighted run"
    )
    return tenant, servers, campaign


def test_a_tenant_sets_1_2_7_sees_the_dry_run_launches_and_watches_it_complete(
    console_stack, page, sinks, tenant_campaign
):
    tenant, servers, campaign = tenant_campaign
    url = console_stack.console_url
    sign_in(page, url, tenant.token)

    page.get_by_role("link", name="Campaigns").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "campaigns")

    page.get_by_role("link", name="console weighted run").click()
    expect(page.get_by_role("heading", name="console weighted run")).to_be_visible()
    page.get_by_label("Only these servers").check()
    for server, weight in zip(servers, WEIGHTS, strict=True):
        page.get_by_label(f"Weight of {server.name}", exact=True).fill(str(weight))
    # Shares recomputed by htmx as the weights are typed: no reload, no script of our own.
    for server, share in zip(servers, ("10 %", "20 %", "70 %"), strict=True):
        expect(page.locator(f"#share-{server.id}")).to_have_text(share)
    expect(page.locator("#policy-summary")).to_contain_text("total weight 10")
    assert_accessible(page)
    screenshot(page, "campaign-policy")
    page.get_by_role("button", name="Save the sending policy").click()
    expect(page.get_by_role("status").filter(has_text="sending policy is saved")).to_be_visible()
    saved = tenant.call("GET", f"{console_stack.catalog_url}/campaigns/{campaign.id}/sending-policy")
    assert saved["use_all"] is False
    assert {item["server_id"]: item["weight"] for item in saved["selection"]} == {
        str(server.id): weight for server, weight in zip(servers, WEIGHTS, strict=True)
    }

    page.get_by_label("Messages to simulate").fill(str(RECIPIENTS))
    page.get_by_role("button", name="Run the dry run").click()
    dry_run = page.locator("#dry-run-servers")
    expect(dry_run).to_be_visible()
    for server, share in zip(servers, ("10 %", "20 %", "70 %"), strict=True):
        expect(dry_run.get_by_role("row", name=re.compile(rf"^{server.name}\b"))).to_contain_text(share)
    assert_accessible(page)
    screenshot(page, "campaign-dry-run")

    before = sinks.counts()
    page.evaluate("window.stillTheSamePage = true")  # gone if anything reloads the page
    page.get_by_role("button", name="Launch").click()
    expect(page.locator("#campaign-sentence")).to_contain_text(re.compile("Sending|Completed"))
    expect(page.locator("#campaign-sentence")).to_contain_text("Completed", timeout=120_000)
    assert page.evaluate("window.stillTheSamePage") is True
    expect(page.locator("#progress")).not_to_have_attribute("hx-trigger", re.compile("."))
    expect(page.locator("#done-bar")).to_have_attribute("value", str(RECIPIENTS))
    per_server = page.locator("#progress-servers")
    for server in servers:
        expect(per_server).to_contain_text(server.name)
    expect(page.get_by_role("button", name="Launch")).to_have_count(0)
    expect(page.locator("#campaign-schedule")).to_have_text("launched at once")
    assert_accessible(page)
    screenshot(page, "campaign-progress")

    received = [now - then for now, then in zip(sinks.counts(), before, strict=True)]
    assert sum(received) == RECIPIENTS, received
    for got, weight in zip(received, WEIGHTS, strict=True):
        assert abs(100 * got / RECIPIENTS - 100 * weight / sum(WEIGHTS)) <= SLACK_POINTS, received


def test_the_schedulers_refusal_is_shown_and_a_narrowed_policy_needs_a_weight(
    console_stack, page, tenant_campaign
):
    tenant, servers, campaign = tenant_campaign
    sign_in(page, console_stack.console_url, tenant.token)
    page.goto(f"{console_stack.console_url}/campaigns/{campaign.id}")
    page.get_by_label("Only these servers").check()
    page.get_by_role("button", name="Save the sending policy").click()
    expect(page.get_by_role("alert")).to_contain_text("Give at least one server a weight above 0")
    # Cancelled through the API behind the page's back: its Launch is now refused with the reason.
    tenant.call("POST", f"{console_stack.scheduler_url}/campaigns/{campaign.id}/launch")
    tenant.cancel(campaign.id)
    page.get_by_role("button", name="Launch").click()
    expect(page.locator("#campaign-control").get_by_role("alert")).to_contain_text("refused to launch")


def test_a_tenant_creates_a_campaign_in_the_console_and_a_template_error_is_shown_at_its_field(
    console_stack, page
):
    operator = console_stack.operator_api()
    tenant = new_tenant(operator, f"console tenant {uuid.uuid4().hex[:6]}")
    customers = tenant.create_list("customers")
    tenant.add_recipients(customers.id, recipient_addresses(3))
    sign_in(page, console_stack.console_url, tenant.token)

    page.get_by_role("link", name="Campaigns").click()
    page.get_by_role("link", name="New campaign").click()
    expect(page.get_by_role("heading", name="New campaign", level=1)).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    page.get_by_label(re.compile(r"^Name")).fill("autumn letter")
    page.get_by_label(re.compile(r"^List")).select_option(label="customers (3 recipients)")
    page.get_by_label(re.compile(r"^From address")).fill(f"news@{SENDER_DOMAIN}")
    page.get_by_label(re.compile(r"^Subject")).fill("Hello {{ favourite_colour }}")
    page.get_by_label("Text part").fill("Autumn is here.")
    assert_accessible(page)
    screenshot(page, "campaign-new")
    page.get_by_role("button", name="Create the campaign").click()

    # The scheduler checks the template against the list's fields, and says where.
    expect(page.locator("#f-content-subject-error")).to_contain_text("favourite_colour")
    expect(page.get_by_label(re.compile(r"^Subject"))).to_have_attribute("aria-invalid", "true")
    page.get_by_label(re.compile(r"^Subject")).fill("Hello {{ first_name | default('there') }}")
    page.get_by_role("button", name="Create the campaign").click()

    expect(page).to_have_url(re.compile(r"/campaigns/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", name="autumn letter", level=1)).to_be_visible()
    expect(page.locator("#campaign-schedule")).to_have_text("not launched")
