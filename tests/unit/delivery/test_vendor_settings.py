"""Each server type's settings, read the way its adapter reads them: the vendor's endpoints by
region, the fixed logins of the SMTP relays, overrides, and clear refusals of bad settings."""

import re
from pathlib import Path

import pytest

from services.delivery.adapters.mailgun_api import MailgunApi, MailgunApiSettings
from services.delivery.adapters.server_settings import parse_server_settings
from services.delivery.adapters.ses_api import SesApi, SesApiSettings
from services.delivery.adapters.smtp import SmtpOptions
from services.delivery.adapters.sparkpost_api import SparkpostApi, SparkpostApiSettings
from services.delivery.adapters.vendor_smtp import (
    ElasticemailSmtpSettings,
    MailgunSmtpSettings,
    SendgridSmtpSettings,
    SesSmtpSettings,
    SparkpostSmtpSettings,
)
from services.delivery.adapters.vendors import VendorSenders
from services.delivery.app.ports import UnusableServer
from shared.contracts import ServerConnectionSettings

ARCHITECTURE = Path(__file__).resolve().parents[3] / "docs" / "architecture.md"


def test_the_worker_has_an_adapter_for_every_server_type_of_the_architecture():
    section = ARCHITECTURE.read_text().split("### Server types", 1)[1].split("\n### ", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \| `\w+` \|", section, flags=re.MULTILINE))

    assert documented, "the architecture's server types table was not found"
    assert VendorSenders(SmtpOptions()).server_types == documented


@pytest.mark.parametrize(
    ("model", "settings", "host", "port", "username"),
    [
        (
            SesSmtpSettings,
            {"region": "eu-west-1", "username": "AKIA1", "password": "p"},
            "email-smtp.eu-west-1.amazonaws.com",
            587,
            "AKIA1",
        ),
        (
            SesSmtpSettings,
            {"region": "us-east-1", "username": "AKIA1", "password": "p", "port": 2587},
            "email-smtp.us-east-1.amazonaws.com",
            2587,
            "AKIA1",
        ),
        (SendgridSmtpSettings, {"api_key": "SG.k"}, "smtp.sendgrid.net", 587, "apikey"),
        (MailgunSmtpSettings, {"username": "u", "password": "p"}, "smtp.mailgun.org", 587, "u"),
        (
            MailgunSmtpSettings,
            {"username": "u", "password": "p", "region": "eu"},
            "smtp.eu.mailgun.org",
            587,
            "u",
        ),
        (SparkpostSmtpSettings, {"api_key": "k"}, "smtp.sparkpostmail.com", 587, "SMTP_Injection"),
        (
            SparkpostSmtpSettings,
            {"api_key": "k", "region": "eu"},
            "smtp.eu.sparkpostmail.com",
            587,
            "SMTP_Injection",
        ),
        (ElasticemailSmtpSettings, {"username": "u", "password": "p"}, "smtp.elasticemail.com", 2525, "u"),
    ],
)
def test_relays_reach_the_vendors_host_over_verified_starttls(model, settings, host, port, username):
    smtp = model.model_validate(settings).smtp_settings()

    assert (smtp.host, smtp.port, smtp.username) == (host, port, username)
    assert (smtp.encryption, smtp.verify_certificate) == ("tls", True)


def test_a_host_and_port_override_replace_the_vendors():
    smtp = SendgridSmtpSettings(api_key="k", host="relay.internal", port=2525).smtp_settings()

    assert (smtp.host, smtp.port, smtp.username) == ("relay.internal", 2525, "apikey")


@pytest.mark.parametrize(
    ("api", "base_url"),
    [
        (
            SesApi(SesApiSettings(access_key_id="AKIA1", secret_access_key="s", region="ap-southeast-2")),
            "https://email.ap-southeast-2.amazonaws.com",
        ),
        (MailgunApi(MailgunApiSettings(api_key="k", domain="mg.shop.example")), "https://api.mailgun.net"),
        (
            MailgunApi(MailgunApiSettings(api_key="k", domain="mg.shop.example", region="eu")),
            "https://api.eu.mailgun.net",
        ),
        (SparkpostApi(SparkpostApiSettings(api_key="k")), "https://api.sparkpost.com"),
        (SparkpostApi(SparkpostApiSettings(api_key="k", region="eu")), "https://api.eu.sparkpost.com"),
    ],
)
def test_apis_are_reached_at_the_regions_endpoint(api, base_url):
    assert api.base_url == base_url


def test_bad_settings_are_refused_naming_each_field_but_never_a_secret():
    with pytest.raises(UnusableServer) as refused:
        parse_server_settings(
            SesApiSettings, {"secret_access_key": "very-secret", "region": "Europe (Ireland)"}, "ses_api"
        )

    message = str(refused.value)
    assert message.startswith("invalid ses_api settings: ")
    assert "access_key_id: Field required" in message
    assert "region: String should match pattern" in message
    assert "very-secret" not in message and "Ireland" not in message


def test_a_server_type_the_worker_does_not_know_is_refused_with_the_types_it_knows():
    with pytest.raises(
        UnusableServer, match=r"no sender for server type 'postmark'.*direct_mx, elasticemail_api"
    ):
        VendorSenders(SmtpOptions())("postmark", ServerConnectionSettings())
