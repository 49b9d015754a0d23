"""Signing in with a token, in Chromium: the operator sees the pool, a wrong token is told why."""

from playwright.sync_api import expect

from tests.support.console import assert_accessible, screenshot, sign_in


def test_a_wrong_token_is_refused_with_the_catalogs_reason(console_stack, page):
    page.goto(f"{console_stack.console_url}/")
    expect(page).to_have_url(f"{console_stack.console_url}/sign-in?next=%2F")
    assert_accessible(page)
    screenshot(page, "sign-in")
    page.get_by_label("API token").fill("spt_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The token was refused: invalid token")


def test_the_operator_signs_in_sees_the_pool_and_signs_out(console_stack, page):
    sign_in(page, console_stack.console_url, console_stack.operator_token)
    expect(page.get_by_role("heading", name="The pool")).to_be_visible()
    expect(page.get_by_role("link", name="Tenants and plans")).to_be_visible()
    expect(page.locator("#hourly-capacity")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "pool")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out")
    page.goto(f"{console_stack.console_url}/")
    expect(page.get_by_label("API token")).to_be_visible()
