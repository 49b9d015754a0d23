"""Campaign states, stop reasons and the send batches a run's expansion batch becomes."""

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from services.scheduler.domain.campaign import (
    Campaign,
    CampaignState,
    InvalidTransition,
    RunState,
    describe_stop,
    first_run_state,
)
from services.scheduler.domain.expansion import ExpansionBatch, message_id_for
from services.scheduler.domain.recipients import Recipient
from shared.contracts import Exclusion, MessageContent, SendBatch, utcnow

CONTENT = MessageContent(from_address="news@shop.example", subject="Spring sale")


def _campaign(state: CampaignState) -> Campaign:
    now = datetime.now(UTC)
    return Campaign(uuid4(), uuid4(), "sale", uuid4(), CONTENT, state, None, now, now)


@pytest.mark.parametrize("state", [CampaignState.RUNNING, CampaignState.STOPPED, CampaignState.COMPLETED])
def test_only_a_draft_is_launched(state):
    _campaign(CampaignState.DRAFT).check_can_launch()
    with pytest.raises(InvalidTransition, match=f"is {state}; only a draft campaign can be launched"):
        _campaign(state).check_can_launch()


@pytest.mark.parametrize("state", [CampaignState.DRAFT, CampaignState.RUNNING, CampaignState.COMPLETED])
def test_only_a_stopped_campaign_is_resumed(state):
    _campaign(CampaignState.STOPPED).check_can_resume()
    with pytest.raises(InvalidTransition, match="only a paused or stopped campaign can be resumed"):
        _campaign(state).check_can_resume()


def test_a_run_over_an_empty_list_has_nothing_to_expand():
    assert first_run_state(0) is RunState.EXPANDED
    assert first_run_state(1) is RunState.EXPANDING


def test_a_stop_reason_names_each_server_left_out():
    first, second = uuid4(), uuid4()
    servers = [
        Exclusion(server_id=first, reason="inactive"),
        Exclusion(server_id=second, reason="over its daily limit"),
    ]

    assert describe_stop("no selected server is active", servers) == (
        f"no selected server is active (server {first}: inactive; server {second}: over its daily limit)"
    )
    assert describe_stop("paused by the operator", []) == "paused by the operator"
    assert describe_stop("", []) == "stopped by routing"


def test_message_ids_are_stable_per_run_and_recipient():
    run_id = uuid4()

    assert message_id_for(run_id, 7) == message_id_for(run_id, 7)
    assert message_id_for(run_id, 7) != message_id_for(run_id, 8)
    assert message_id_for(run_id, 7) != message_id_for(uuid4(), 7)


def test_a_batch_becomes_send_batches_with_one_entry_per_recipient_and_moves_the_cursor():
    batch = ExpansionBatch(
        run_id=uuid4(),
        campaign_id=uuid4(),
        tenant_id=uuid4(),
        content=CONTENT,
        after_cursor=40,
        recipients=(
            Recipient(41, "ann@example.com", "Ann"),
            Recipient(45, "bob@example.com", ""),
            Recipient(46, "cy@example.com", "Cy"),
        ),
    )
    now = utcnow()

    messages = batch.send_batches(2, first_attempt_at=now)

    assert [len(message.recipients) for message in messages] == [2, 1]
    requests = [request for message in messages for request in message.sends()]
    assert [(r.recipient, r.recipient_name) for r in requests] == [
        ("ann@example.com", "Ann"),
        ("bob@example.com", ""),
        ("cy@example.com", "Cy"),
    ]
    assert [r.message_id for r in requests] == [message_id_for(batch.run_id, id) for id in (41, 45, 46)]
    assert [r.message_id for r in requests] == batch.message_ids
    assert {(r.run_id, r.campaign_id, r.tenant_id, r.content) for r in requests} == {
        (batch.run_id, batch.campaign_id, batch.tenant_id, CONTENT)
    }
    assert {(r.attempt, r.first_attempt_at, r.redelivered, tuple(r.avoid_server_ids)) for r in requests} == {
        (1, now, False, ())
    }
    # What the router receives validates, and says the same.
    for message in messages:
        assert SendBatch.model_validate_json(message.model_dump_json()) == message
    assert batch.next_cursor == 46
    assert ExpansionBatch(batch.run_id, batch.campaign_id, batch.tenant_id, CONTENT, 46, ()).next_cursor == 46
