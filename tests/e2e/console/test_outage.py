"""The console when a service it calls is down, against the real stack: a page naming the service
(502), the session kept, and the same page again once the service is back."""

from playwright.sync_api import expect

from tests.support.console import sign_in


def test_a_stopped_catalog_is_a_page_naming_it_and_the_console_recovers_when_it_is_back(console_stack, page):
    url = console_stack.console_url
    sign_in(page, url, console_stack.operator_token)
    console_stack.stop_service("catalog")
    try:
        answer = page.goto(f"{url}/")
        assert answer is not None and answer.status == 502
        expect(page.get_by_role("heading", name="A service is unavailable", level=1)).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text("The catalog could not answer")
        # Still signed in: an outage is no reason to ask for the token again.
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    finally:
        console_stack.start_again("catalog")
    answer = page.goto(f"{url}/")
    assert answer is not None and answer.status == 200
    expect(page.get_by_role("heading", name="The pool", level=1)).to_be_visible()
