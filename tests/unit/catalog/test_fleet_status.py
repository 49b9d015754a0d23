"""The causes of a pause as monitoring labels them, and the catalog's server gauges built from one round."""

from uuid import uuid4

from services.catalog.adapters.metrics import FleetStatusCollector
from services.catalog.domain.fleet_status import ServerStatus, pause_cause
from shared.contracts import ServerState


def test_pause_causes():
    assert pause_cause("bounces", "bounce rate 7.2 % over the last 24 h ...") == "bounce_rate"
    assert pause_cause("bounces", "complaint rate 0.5 % over the last 24 h ...") == "complaint_rate"
    assert pause_cause("bounces", "bounce rate 9 % ...; complaint rate 1 % ...") == "bounce_rate"
    assert pause_cause("operator", "abuse report") == "operator"
    assert pause_cause("tenant", "bounce rate looked high") == "other", (
        "only the bounces service's rates count"
    )
    assert pause_cause("bounces", "something else") == "other"


def test_gauges_from_one_round():
    paused_id, vendor = uuid4(), "ses"
    statuses = [
        ServerStatus(paused_id, vendor, ServerState.PAUSED, "operator", "x" * 300),
        ServerStatus(uuid4(), vendor, ServerState.ACTIVE, None, None),
        ServerStatus(uuid4(), vendor, ServerState.ACTIVE, None, None),
    ]
    collector = FleetStatusCollector()
    assert list(collector.collect()) == [], "nothing before the first round"
    collector.statuses = statuses
    samples = {
        (metric.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in collector.collect()
        for sample in metric.samples
    }
    assert samples[("sendpool_catalog_servers", (("state", "active"), ("vendor", vendor)))] == 2
    assert samples[("sendpool_catalog_servers", (("state", "disabled"), ("vendor", vendor)))] == 0
    paused = (("cause", "operator"), ("server_id", str(paused_id)), ("vendor", vendor))
    assert samples[("sendpool_catalog_server_paused", paused)] == 1
    info = (("reason", "x" * 120), ("server_id", str(paused_id)))
    assert samples[("sendpool_catalog_server_pause_info", info)] == 1
