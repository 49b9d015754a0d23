"""From `sendpool.status` to the public envelope: each type carries its own details, nothing else."""

from datetime import UTC, datetime
from uuid import uuid4

from services.events.domain.stream import STREAM_DESCRIPTION
from services.events.domain.translation import events_of, search_address
from shared.contracts import (
    CampaignEvent,
    CampaignEventKind,
    CampaignProgress,
    Exclusion,
    FeedbackClass,
    MessageStatus,
    RoutingDecision,
    StatusBatch,
    StatusEvent,
)
from shared.events import DETAIL_KEYS, Event, EventBatch

TENANT, CAMPAIGN = uuid4(), uuid4()


def status(kind: MessageStatus, **fields) -> StatusEvent:
    return StatusEvent(
        status=kind,
        message_id=uuid4(),
        tenant_id=TENANT,
        campaign_id=CAMPAIGN,
        run_id=uuid4(),
        recipient="Someone@Example.COM",
        **fields,
    )


def test_routed_carries_the_decision_and_the_server():
    server, excluded = uuid4(), uuid4()
    decision = RoutingDecision(
        mode="selection",
        weights={str(server): 3.0},
        excluded=[Exclusion(server_id=excluded, reason="paused")],
    )
    routed = status(MessageStatus.ROUTED, server_id=server, vendor="smtp", decision=decision)
    [event] = events_of(StatusBatch.of([routed])[0])
    assert event.event_id == routed.event_id
    assert event.type == "routed" and event.server_id == server and event.vendor == "smtp"
    assert event.details["decision"]["weights"] == {str(server): 3.0}
    assert event.details["decision"]["excluded"][0] == {"server_id": str(excluded), "reason": "paused"}
    assert set(event.details) == {"run_id", "decision"}
    assert event.routing_key == f"{TENANT}.{CAMPAIGN}.routed"


def test_bounced_carries_its_feedback_class_and_diagnostic():
    bounced = status(
        MessageStatus.BOUNCED,
        feedback_class=FeedbackClass.HARD,
        enhanced_code="5.1.1",
        reply_text="user unknown",
        attempt=2,
    )
    [event] = events_of(bounced)  # a single event, as earlier versions published them
    assert event.details == {
        "run_id": str(bounced.run_id),
        "feedback_class": "hard",
        "enhanced_code": "5.1.1",
        "reply_text": "user unknown",
    }
    assert event.attempt == 2 and event.recipient == "Someone@Example.COM"


def test_the_platforms_reason_is_named_reason_and_unknown_values_are_left_out():
    [event] = events_of(status(MessageStatus.SUPPRESSED, reply_text="hard bounce on 2026-01-01"))
    assert event.details["reason"] == "hard bounce on 2026-01-01"
    assert "reply_text" not in event.details
    [sent] = events_of(status(MessageStatus.SENT, reply_code=250))
    assert sent.details["reply_code"] == 250
    assert "vendor_message_id" not in sent.details and "decision" not in sent.details


def test_every_detail_is_one_its_type_may_hold():
    kinds = [MessageStatus.DEFERRED, MessageStatus.WAITING, MessageStatus.FAILED, MessageStatus.HELD]
    for kind in kinds:
        [event] = events_of(
            status(kind, reply_code=451, reply_text="later", retry_at=datetime(2030, 1, 1, tzinfo=UTC))
        )
        assert set(event.details) <= set(DETAIL_KEYS[kind.value]), kind


def test_campaign_events_have_no_message_and_a_stable_id():
    occurred = datetime(2026, 5, 1, 12, tzinfo=UTC)
    progress = CampaignProgress(total=10, expanded=10, counts={"sent": 4})
    decision = CampaignEvent(
        kind=CampaignEventKind.PROGRESS,
        tenant_id=TENANT,
        campaign_id=CAMPAIGN,
        progress=progress,
        occurred_at=occurred,
    )
    [event] = events_of(decision)
    assert event.type == "campaign_progress" and event.message_id is None and event.recipient is None
    assert event.details["progress"]["counts"] == {"sent": 4}
    assert "reason" not in event.details  # empty: left out
    [again] = events_of(decision.model_copy())  # the outbox relayed it twice: the same id
    assert again.event_id == event.event_id
    stopped = CampaignEvent(
        kind=CampaignEventKind.STOPPED,
        tenant_id=TENANT,
        campaign_id=CAMPAIGN,
        reason="no server can send",
        servers=[Exclusion(server_id=uuid4(), reason="disabled")],
        occurred_at=occurred,
    )
    [stop] = events_of(stopped)
    assert stop.event_id != event.event_id
    assert (
        stop.details["reason"] == "no server can send" and stop.details["servers"][0]["reason"] == "disabled"
    )


def test_a_batch_round_trips_as_the_published_json():
    events = events_of(StatusBatch.of([status(MessageStatus.SENT) for _ in range(3)])[0])
    [batch] = EventBatch.of(events)
    parsed = EventBatch.model_validate_json(batch.model_dump_json())
    assert parsed.routing_key == f"{TENANT}.{CAMPAIGN}.sent"
    assert [e.event_id for e in parsed.events] == [e.event_id for e in events]
    assert Event.model_validate(parsed.events[0].model_dump(mode="json")) == events[0]


def test_addresses_are_searched_without_case():
    assert search_address(" Someone@Example.COM ") == "someone@example.com"
    assert search_address(None) is None


def test_the_stream_description_lists_every_type_with_its_details():
    for event_type, keys in DETAIL_KEYS.items():
        assert f"| `{event_type}` |" in STREAM_DESCRIPTION
        for key in keys:
            assert f"`{key}`" in STREAM_DESCRIPTION
    assert "details" in EventBatch.model_json_schema()["description"]
    assert "| `bounced` | `run_id`, `feedback_class`" in EventBatch.model_json_schema()["description"]
