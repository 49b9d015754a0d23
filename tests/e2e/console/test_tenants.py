"""The operator in Chromium: creates a tenant and sees its token once, creates a plan, grants it a
pool server, and moves the tenant to it."""

import uuid

from playwright.sync_api import expect

from tests.support.console import assert_accessible, screenshot, sign_in
from tools.stack.api import SendpoolApi


def test_the_operator_creates_a_tenant_a_plan_grants_a_pool_server_and_moves_the_tenant(console_stack, page):
    operator = console_stack.operator_api()
    suffix = uuid.uuid4().hex[:6]
    pool_server = operator.create_smtp_server(f"pool relay {suffix}", host="127.0.0.1", port=2525)
    url = console_stack.console_url
    sign_in(page, url, console_stack.operator_token)

    page.get_by_role("link", name="Tenants and plans").click()
    expect(page.get_by_role("heading", name="Tenants and plans", level=1)).to_be_visible()
    assert_accessible(page)
    screenshot(page, "tenants")

    tenant_name = f"northwind {suffix}"
    page.get_by_label("Tenant name").fill(tenant_name)
    page.get_by_role("button", name="Create tenant").click()
    expect(page.get_by_role("heading", name=f"Tenant {tenant_name} is created")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Copy the API token now")
    token = page.get_by_label(f"API token of {tenant_name}").input_value()
    assert token.startswith("spt_")
    assert token not in page.url
    assert_accessible(page)
    screenshot(page, "tenant-created")
    # The token works, and is never shown again.
    as_tenant = SendpoolApi(console_stack.http, console_stack.catalog_url, console_stack.scheduler_url, token)
    assert as_tenant.call("GET", f"{console_stack.catalog_url}/servers/summary") is not None
    page.goto(f"{url}/tenants")
    expect(page.get_by_role("row", name=tenant_name)).to_be_visible()
    assert token not in page.content()

    plan_name = f"silver {suffix}"
    page.get_by_label("Plan name").fill(plan_name)
    page.get_by_label("Server quota").fill("3")
    page.get_by_role("button", name="Create plan").click()
    expect(page.get_by_role("heading", name=f"Plan {plan_name}")).to_be_visible()
    page.get_by_label(pool_server.name).check()
    page.get_by_role("button", name="Save granted servers").click()
    expect(page.get_by_role("status")).to_contain_text("pool servers are saved")
    expect(page.get_by_label(pool_server.name)).to_be_checked()
    plans = {plan["name"]: plan for plan in operator.call("GET", f"{console_stack.catalog_url}/plans")}
    assert plans[plan_name]["server_ids"] == [str(pool_server.id)]
    assert plans[plan_name]["server_quota"] == 3

    page.goto(f"{url}/tenants")
    page.get_by_label(f"Plan of {tenant_name}").select_option(label=plan_name)
    page.get_by_role("button", name=f"Move {tenant_name}").click()
    expect(page.get_by_role("status")).to_contain_text("on its new plan")
    tenants = {t["name"]: t for t in operator.call("GET", f"{console_stack.catalog_url}/tenants")}
    assert tenants[tenant_name]["plan_id"] == plans[plan_name]["id"]


def test_a_tenant_may_not_open_the_tenants_page(console_stack, page):
    operator = console_stack.operator_api()
    tenant = operator.create_tenant(f"curious {uuid.uuid4().hex[:6]}")
    sign_in(page, console_stack.console_url, tenant.token)
    page.goto(f"{console_stack.console_url}/tenants")
    expect(page.get_by_role("alert")).to_contain_text("Only the operator")
