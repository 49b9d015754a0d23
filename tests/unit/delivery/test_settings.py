"""The worker's settings under their names: `SENDPOOL_DELIVERY_*` for its own knobs, the shared
ones unprefixed, and the names of earlier versions refused rather than ignored."""

import re

import pytest
from pydantic import ValidationError

from services.delivery.settings import DeliverySettings
from shared.settings import RENAMED_VARIABLES


def test_every_delivery_name_the_renamed_variables_point_to_is_a_setting():
    names = {name for new in RENAMED_VARIABLES.values() for name in re.findall(r"SENDPOOL_DELIVERY_\w+", new)}

    assert names, "the table names delivery settings"
    for name in names:
        assert name.removeprefix("SENDPOOL_DELIVERY_").lower() in DeliverySettings.model_fields, name


def test_own_knobs_are_read_with_the_service_prefix_and_shared_ones_without(monkeypatch):
    monkeypatch.setenv("SENDPOOL_DELIVERY_VENDOR", "ses")
    monkeypatch.setenv("SENDPOOL_DELIVERY_DNS_SERVERS", "10.0.0.2, 10.0.0.3:5353")
    monkeypatch.setenv("SENDPOOL_DELIVERY_SERVER_SETTINGS_TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("SENDPOOL_VERP_SECRET", "shared-with-bounces")
    monkeypatch.setenv("SENDPOOL_PREFETCH", "50")

    settings = DeliverySettings()

    assert (settings.vendor, settings.dns_servers) == ("ses", ["10.0.0.2", "10.0.0.3:5353"])
    assert (settings.server_settings_timeout_seconds, settings.catalog_snapshot_timeout_seconds) == (3, 10)
    assert (settings.verp_secret, settings.prefetch) == ("shared-with-bounces", 50)


@pytest.mark.parametrize(
    "old", ["SENDPOOL_VENDOR", "SENDPOOL_SMTP_TIMEOUT_SECONDS", "SENDPOOL_CATALOG_RPC_TIMEOUT_SECONDS"]
)
def test_a_name_of_an_earlier_version_is_refused_naming_its_successor(monkeypatch, old):
    monkeypatch.setenv(old, "5")

    with pytest.raises(ValidationError, match=f"{old} is now SENDPOOL_"):
        DeliverySettings()
