"""Server pages in Chromium against the real stack: the type picker, the generated form, the detail
page with Test connection / Send a test email / Enable, a failing test explained, and tenant isolation."""

import re

from playwright.sync_api import expect

from tests.support.console import assert_accessible, screenshot, sign_in
from tests.support.smtp import SmtpSink
from tools.stack.campaigns import new_tenant
from tools.stack.ports import free_port

SERVER_PAGE = re.compile(r"/servers/[0-9a-f-]{36}$")
NAME = re.compile(r"^Name\b")


def test_the_operator_adds_a_pool_smtp_server_tests_it_enables_it_and_sends_a_test_email(console_stack, page):
    with SmtpSink() as sink:
        sign_in(page, console_stack.console_url, console_stack.operator_token)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Add server").click()
        expect(page.get_by_role("heading", name="Add a server", level=1)).to_be_visible()
        expect(page.locator("#server-types .card")).to_have_count(14)
        assert_accessible(page)
        screenshot(page, "add-server")

        page.get_by_role("link", name="SMTP relay").click()
        expect(page.get_by_role("heading", name="Add a SMTP relay server")).to_be_visible()
        expect(page.get_by_label("Password")).to_have_attribute("type", "password")
        expect(page.get_by_label("Owner")).to_be_visible()
        page.get_by_label(NAME).fill("console sink")
        page.get_by_label("Host").fill("127.0.0.1")
        page.get_by_label("Port").fill(str(sink.port))
        page.get_by_label("Encryption").select_option("none")
        page.get_by_label("Per hour").fill("3600")
        assert_accessible(page)
        screenshot(page, "server-form")
        page.get_by_role("button", name="Add server").click()

        expect(page).to_have_url(SERVER_PAGE)
        expect(page.get_by_role("heading", name="console sink", level=1)).to_be_visible()
        expect(page.locator("#cannot-enable")).to_contain_text("never been tested")
        expect(page.locator("#limits")).to_contain_text("3,600")
        expect(page.locator("#connection")).to_contain_text("127.0.0.1")

        page.get_by_role("button", name="Test connection").click()
        expect(page.locator("#action-result")).to_contain_text("Connection successful")
        expect(page.locator("#cannot-enable")).to_have_count(0)
        page.get_by_role("button", name="Enable").click()
        expect(page.locator("#server-state .badge")).to_have_text("active")
        expect(page.locator("#title-state")).to_have_text("active")

        page.get_by_label("Test email to").fill("someone@example.net")
        page.get_by_label("From (optional)").fill("console@example.com")
        page.get_by_role("button", name="Send a test email").click()
        expect(page.locator("#action-result")).to_contain_text("Test email sent to someone@example.net")
        assert [message.rcpt_tos for message in sink.messages] == [["someone@example.net"]]
        assert_accessible(page)
        screenshot(page, "server-detail")

        page.get_by_label("Reason to pause").fill("maintenance of the relay")
        page.get_by_role("button", name="Pause").click()
        expect(page.locator("#pause-reason")).to_contain_text("maintenance of the relay")
        page.get_by_role("button", name="Resume").click()
        expect(page.locator("#server-state .badge")).to_have_text("active")


def test_a_failing_connection_test_shows_its_reason_and_why_it_cannot_be_enabled(console_stack, page):
    closed = free_port()
    server = console_stack.operator_api().create_smtp_server("closed port", host="127.0.0.1", port=closed)
    sign_in(page, console_stack.console_url, console_stack.operator_token)
    page.goto(f"{console_stack.console_url}/servers/{server.id}")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#action-result")).to_contain_text("Connection failed")
    expect(page.locator("#last-test")).to_contain_text("Failed")
    expect(page.locator("#cannot-enable")).to_contain_text(
        "The last connection test failed (Connection failed"
    )
    assert_accessible(page)
    screenshot(page, "server-test-failed")
    page.get_by_role("button", name="Enable").click()
    expect(page.locator("#action-result")).to_contain_text("The catalog refused")
    expect(page.locator("#action-result")).to_contain_text("last test failed")


def test_a_form_error_from_the_catalog_is_shown_next_to_its_field(console_stack, page):
    sign_in(page, console_stack.console_url, console_stack.operator_token)
    page.goto(f"{console_stack.console_url}/servers/new/smtp")
    page.get_by_label(NAME).fill("bad host")
    page.get_by_label("Host").fill("not a host!")
    page.get_by_role("button", name="Add server").click()
    expect(page.get_by_role("alert")).to_contain_text("The server was not saved")
    expect(page.locator("#f-settings-host-error")).to_be_visible()
    expect(page.get_by_label("Host")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label(NAME)).to_have_value("bad host")


def test_a_tenant_never_sees_another_tenants_server(console_stack, page):
    operator = console_stack.operator_api()
    tenant_a = new_tenant(operator, "console tenant A")
    tenant_b = new_tenant(operator, "console tenant B")
    hidden = tenant_a.create_smtp_server("tenant A private relay", host="127.0.0.1", port=free_port())

    sign_in(page, console_stack.console_url, tenant_b.token)
    expect(page.get_by_role("heading", name="Your servers")).to_be_visible()
    expect(page.get_by_text("tenant A private relay")).to_have_count(0)
    page.goto(f"{console_stack.console_url}/servers/{hidden.id}")
    expect(page.get_by_role("heading", name="Not found", level=1)).to_be_visible()
    expect(page.get_by_text("tenant A private relay")).to_have_count(0)

    # The operator's types are shown to a tenant, but not offered.
    page.goto(f"{console_stack.console_url}/servers/new")
    expect(page.get_by_role("link", name="Direct to MX")).to_have_count(0)
    expect(page.locator("#server-types")).to_contain_text("Only the operator adds this type")
    page.goto(f"{console_stack.console_url}/servers/new/direct_mx")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
