"""The AsyncAPI documents in docs/asyncapi/ are generated from the services' FastStream apps; they
must be current, and they must tell consumers what they need."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ops.asyncapi_doc import DOCUMENTED

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    # In a process of its own: building the apps configures logging, as it does in a service.
    directory = tmp_path_factory.mktemp("asyncapi")
    subprocess.run([sys.executable, "-m", "ops.cli", "asyncapi", str(directory)], cwd=REPO, check=True)
    return directory


@pytest.mark.parametrize("service", DOCUMENTED)
def test_the_published_document_is_current(generated, service):
    published = REPO / "docs" / "asyncapi" / f"{service}.json"
    assert published.read_text() == (generated / f"{service}.json").read_text(), (
        f"{published.name} is stale: run `make docs`"
    )


def test_status_events_are_documented_with_their_schema(generated):
    document = json.loads((generated / "delivery.json").read_text())
    channel = document["channels"]["delivery: status events"]
    assert channel["bindings"]["amqp"]["exchange"]["name"] == "sendpool.status"
    schemas = document["components"]["schemas"]
    assert {"status", "message_id", "server_id", "reply_code"} <= set(schemas["StatusEvent"]["properties"])


def test_the_public_status_stream_is_documented_with_its_envelope_and_details(generated):
    document = json.loads((generated / "events.json").read_text())
    channel = document["channels"]["events: public status stream"]
    assert channel["bindings"]["amqp"]["exchange"]["name"] == "sendpool.events"
    assert channel["address"] == "<tenant>.<campaign>.<type>"
    assert "at least once" in channel["description"]
    assert "| `routed` | `run_id`, `decision` |" in channel["description"]
    schemas = document["components"]["schemas"]
    assert "| `bounced` | `run_id`, `feedback_class`" in schemas["EventBatch"]["description"]
    assert {"event_id", "type", "occurred_at", "tenant_id", "campaign_id", "message_id", "recipient", "server_id",
            "vendor", "attempt", "details"} <= set(schemas["Event"]["properties"])  # fmt: skip
