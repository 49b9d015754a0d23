"""The console with the keyboard alone, in Chromium: the skip link, the order of Tab, and the sign-in."""

import re

from playwright.sync_api import Page, expect

from tests.support.console import sign_in

FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return "";
  const label = el.labels && el.labels.length ? el.labels[0].textContent.trim() : "";
  const name = el.getAttribute("aria-label") || label || el.textContent.trim() || el.getAttribute("name") || "";
  return `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}:${name.replace(/\\s+/g, " ")}`;
}"""


def focused(page: Page) -> str:
    result: str = page.evaluate(FOCUSED)
    return result


def tab_order(page: Page, presses: int) -> list[str]:
    order = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        order.append(focused(page))
    return order


def position(order: list[str], prefix: str) -> int:
    matches = [i for i, item in enumerate(order) if item.startswith(prefix)]
    assert matches, f"{prefix!r} never took the focus: {order}"
    return matches[0]


def test_the_first_tab_is_the_skip_link_and_enter_moves_focus_to_the_content(console_stack, page):
    sign_in(page, console_stack.console_url, console_stack.operator_token)
    page.goto(f"{console_stack.console_url}/")

    page.keyboard.press("Tab")
    assert focused(page) == "a:Skip to content"
    expect(page.get_by_role("link", name="Skip to content")).to_be_visible()  # shown once focused

    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{console_stack.console_url}/#main")
    assert page.evaluate("() => document.activeElement.id") == "main"
    # The next Tab continues inside the content, not back at the top of the page.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.getElementById('main').contains(document.activeElement)")


def test_tab_reaches_the_navigation_then_the_filter_form_in_reading_order(console_stack, page):
    sign_in(page, console_stack.console_url, console_stack.operator_token)
    page.goto(f"{console_stack.console_url}/")

    order = tab_order(page, 25)

    steps = [
        "a:Skip to content",
        "a:Pool",
        "a:Add server",
        "a:Tenants and plans",
        "button:Sign out",
        "input#q:Search name or host",
        "select#type-filter:Type",
        "button:Filter",
    ]
    positions = [position(order, step) for step in steps]
    assert positions == sorted(positions), order
    assert any(item.startswith("input:") and "active" in item for item in order), "no state checkbox"


def test_the_filter_form_works_from_the_keyboard(console_stack, page):
    sign_in(page, console_stack.console_url, console_stack.operator_token)
    page.goto(f"{console_stack.console_url}/")
    for _ in range(30):
        page.keyboard.press("Tab")
        if focused(page).startswith("input#q:"):
            break
    else:
        raise AssertionError("Tab never reached the search field")
    page.keyboard.type("no-server-has-this-name")
    page.keyboard.press("Enter")
    # "Any type" is the empty choice, which the form sends too (`type=`) and the console ignores.
    expect(page).to_have_url(re.compile(r"/\?q=no-server-has-this-name(&type=)?$"))
    expect(page.locator("#server-count")).to_contain_text("0 servers")


def test_the_sign_in_form_can_be_completed_with_the_keyboard_alone(console_stack, page):
    page.goto(f"{console_stack.console_url}/")
    expect(page.get_by_label("API token")).to_be_visible()

    for _ in range(10):
        page.keyboard.press("Tab")
        if focused(page).startswith("input#token:"):
            break
    else:
        raise AssertionError("Tab never reached the token field")
    page.keyboard.type(console_stack.operator_token)
    page.keyboard.press("Tab")
    assert focused(page) == "button:Sign in"
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="The pool")).to_be_visible()
    expect(page).to_have_url(f"{console_stack.console_url}/")
