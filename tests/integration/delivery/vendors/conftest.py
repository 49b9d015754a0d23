"""Vendor fakes for the adapter tests: one server per vendor for the package, reset for each test,
and a test fails when the adapter sent a request the vendor's spec would reject."""

from collections.abc import Iterator

import pytest

from tests.support.vendor_fakes import (
    ElasticEmailFake,
    MailgunFake,
    SendGridFake,
    SesFake,
    SparkPostFake,
    VendorFake,
)


def _checked(fake: VendorFake) -> Iterator[VendorFake]:
    fake.reset()
    yield fake
    assert not fake.violations, "requests the vendor's spec rejects:\n" + "\n".join(fake.violations)


@pytest.fixture(scope="package")
def sendgrid_server():
    with SendGridFake() as fake:
        yield fake


@pytest.fixture(scope="package")
def mailgun_server():
    with MailgunFake() as fake:
        yield fake


@pytest.fixture(scope="package")
def sparkpost_server():
    with SparkPostFake() as fake:
        yield fake


@pytest.fixture(scope="package")
def elasticemail_server():
    with ElasticEmailFake() as fake:
        yield fake


@pytest.fixture(scope="package")
def ses_server():
    with SesFake() as fake:
        yield fake


@pytest.fixture
def sendgrid(sendgrid_server):
    yield from _checked(sendgrid_server)


@pytest.fixture
def mailgun(mailgun_server):
    mailgun_server.domain_state = "active"
    yield from _checked(mailgun_server)


@pytest.fixture
def sparkpost(sparkpost_server):
    sparkpost_server.rejected_recipients.clear()
    yield from _checked(sparkpost_server)


@pytest.fixture
def elasticemail(elasticemail_server):
    yield from _checked(elasticemail_server)


@pytest.fixture
def ses(ses_server):
    ses_server.sending_enabled = True
    yield from _checked(ses_server)
