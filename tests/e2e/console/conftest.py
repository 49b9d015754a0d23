"""The console in front of a whole stack (one of each service, two delivery workers), in Chromium."""

import pytest

from tests.support.console import LAPTOP, chromium
from tests.support.stacks import isolated_stack

WAVES = (
    ("catalog",),
    ("delivery", "delivery-2", "router", "scheduler", "bounces", "events", "webhooks"),
    ("console",),
)


@pytest.fixture(scope="package")
def console_stack(service_env, logs_dir):
    env = {
        **service_env,
        "SENDPOOL_DELIVERY_VENDOR": "smtp",
        "SENDPOOL_DELIVERY_RETRY_BASE_SECONDS": "1",
        "SENDPOOL_CONSOLE_SESSION_KEYS": "Y29uc29sZS10ZXN0cy1zZXNzaW9uLWtleS0zMmJ5dGU=",
    }
    with isolated_stack(
        logs_dir / "console", env, service_env["SENDPOOL_OPERATOR_TOKEN"], WAVES, name="sendpool-console"
    ) as stack:
        yield stack


@pytest.fixture(scope="package")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
