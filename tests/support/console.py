"""Driving the console in a real browser: Debian's Chromium through Playwright, signed in with a token.

`assert_accessible` runs axe-core (the copy in axe-playwright-python) on the page and fails on any
serious or critical violation; `screenshot` keeps a picture for docs/console/ when the run was asked
to (`make screenshots`, which sets SENDPOOL_CONSOLE_SCREENSHOTS to the folder).
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = os.environ.get("SENDPOOL_CHROMIUM", "/usr/bin/chromium")
"""Debian's chromium package (the Makefile installs it): Playwright cannot download its own here."""
LAPTOP = {"width": 1366, "height": 900}
"""A laptop's screen: every page must be usable at this size."""
SCREENSHOTS_VARIABLE = "SENDPOOL_CONSOLE_SCREENSHOTS"
BLOCKING_IMPACTS = ("serious", "critical")


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Page, console_url: str, token: str) -> None:
    """Through the sign-in form, as a person would; lands on the pool page."""
    page.goto(f"{console_url}/sign-in")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


_axe = Axe()


def assert_accessible(page: Page) -> None:
    """No serious or critical axe-core violation on the page as it is now (WCAG 2.1 A and AA rules)."""
    results = _axe.run(
        page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}}
    )
    blocking = [
        violation
        for violation in results.response["violations"]
        if violation.get("impact") in BLOCKING_IMPACTS
    ]
    assert not blocking, "\n".join(
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"][:5])
        for violation in blocking
    )


def screenshot(page: Page, name: str) -> None:
    """`docs/console/<name>.png` of the whole page, when the run was asked for screenshots."""
    folder = os.environ.get(SCREENSHOTS_VARIABLE)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
