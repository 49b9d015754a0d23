"""The last suppression check, with the use case's ports faked: suppressed recipients are settled
unsent, once, and every other recipient goes on as before."""

from datetime import timedelta
from uuid import uuid4

from services.delivery.app.late_sends import AdmissionUnavailable
from services.delivery.app.suppression import SuppressionScreen
from services.delivery.domain.attempts import AttemptRecord, AttemptState
from services.delivery.domain.outcomes import Sent
from shared.contracts import AdmissionReply, MessageStatus
from tests.unit.delivery.messages import delivery_requested, send_requested
from tests.unit.delivery.test_deliver import SERVER, request, use_case
from tests.unit.delivery.test_late_sends import NOW, Clock, ScriptedAdmissions, delivery, pacer

HARD = "hard bounce on 2026-03-01: 550 5.1.1 user unknown"


async def test_a_suppressed_recipient_is_claimed_recorded_and_reported_suppressed_without_a_send():
    case = use_case()
    message = request()

    await case.deliver.settle_suppressed(message, HARD, redelivered=False)

    assert case.journal.kinds() == ["claim", "record", "status"]
    [record] = case.journal.of("record")
    assert (record.state, record.reply_text) == (AttemptState.SUPPRESSED, HARD)
    [status] = case.journal.of("status")
    assert (status.status, status.reply_text, status.server_id) == (MessageStatus.SUPPRESSED, HARD, SERVER)
    assert status.routing_key.endswith(".suppressed")
    assert case.metrics.outcomes == [("smtp", SERVER, "suppressed")]
    assert case.health.observed == [], "nothing was sent, so the server's health learns nothing"


async def test_a_redelivered_copy_of_a_suppressed_message_is_republished_not_sent_even_if_no_longer_suppressed():
    case = use_case()
    message = request()
    await case.deliver.settle_suppressed(message, HARD, redelivered=False)

    # The address was removed from the list meanwhile: the copy finds the final record anyway.
    await case.deliver(message, redelivered=True)

    assert case.journal.kinds() == ["claim", "record", "status", "status"]
    assert [status.status for status in case.journal.of("status")] == ["suppressed", "suppressed"]
    assert len({status.event_id for status in case.journal.of("status")}) == 1, "the same fact, the same id"
    assert case.metrics.outcomes == [("smtp", SERVER, "suppressed")], "counted once"


async def test_a_message_sent_before_its_recipient_was_suppressed_stays_sent():
    case = use_case()
    message = request()
    await case.deliver(message, redelivered=False)

    # It bounced, the address was suppressed, and a copy of the message came again.
    await case.deliver.settle_suppressed(message, HARD, redelivered=True)

    assert case.attempts.records[message.send.message_id].state is AttemptState.SENT
    assert [status.status for status in case.journal.of("status")] == ["sent", "sent"]


async def test_a_message_left_sending_by_a_stopped_worker_is_not_sent_again_once_suppressed():
    case = use_case()
    message = request()
    left = AttemptRecord.claim(message.send.message_id, SERVER, 1)
    case.attempts.records[message.send.message_id] = left

    await case.deliver.settle_suppressed(message, HARD, redelivered=True)

    assert "send" not in case.journal.kinds()
    assert case.attempts.records[message.send.message_id].state is AttemptState.SUPPRESSED


async def test_a_retry_of_a_deferred_message_is_suppressed_over_its_deferral():
    case = use_case()
    message = request(attempt=2)
    case.attempts.records[message.send.message_id] = AttemptRecord(
        message.send.message_id, SERVER, 1, AttemptState.DEFERRED, 451, "4.2.0", "mailbox busy"
    )

    await case.deliver.settle_suppressed(message, HARD, redelivered=False)

    record = case.attempts.records[message.send.message_id]
    assert (record.state, record.attempt, record.reply_code) == (AttemptState.SUPPRESSED, 2, None)


async def test_a_late_message_that_waited_for_capacity_is_asked_about_again_and_not_sent_if_suppressed_now():
    case = use_case()
    case.capacity.waits = True
    message = request()
    case.suppression.addresses[message.send.recipient] = "complaint (abuse report)"

    await case.deliver(message, redelivered=False)

    assert case.suppression.asked == [[message.send.recipient]]
    assert "send" not in case.journal.kinds()
    [status] = case.journal.of("status")
    assert (status.status, status.reply_text) == ("suppressed", "complaint (abuse report)")


async def test_a_message_that_did_not_wait_is_not_asked_about_again():
    case = use_case(Sent("Q1", 250, "2.0.0 Ok"))
    message = request()
    case.suppression.addresses[message.send.recipient] = "complaint"  # its batch was checked already

    await case.deliver(message, redelivered=False)

    assert case.suppression.asked == []
    assert "send" in case.journal.kinds()


async def test_a_late_message_still_mailable_after_its_wait_is_sent():
    case = use_case(Sent("Q1", 250, "2.0.0 Ok"))
    case.capacity.waits = True

    await case.deliver(request(), redelivered=False)

    assert len(case.suppression.asked) == 1
    assert case.journal.kinds() == ["claim", "send", "record", "status"]


async def test_the_screen_asks_once_per_tenant_of_a_batch_and_names_the_suppressed_messages():
    case = use_case()
    tenant, other_tenant = uuid4(), uuid4()

    def addressed(tenant_id, recipient):
        send = send_requested().model_copy(update={"tenant_id": tenant_id, "recipient": recipient})
        return delivery_requested(SERVER, send)

    ours = [addressed(tenant, f"user{i}@inbox.example") for i in range(5)]
    theirs = addressed(other_tenant, "user1@inbox.example")
    case.suppression.addresses["user1@inbox.example"] = "unsubscribed"
    settled: list[tuple] = []

    async def settle(request, reason, redelivered):
        settled.append((request.send.message_id, reason, redelivered))

    screen = SuppressionScreen(case.suppression, settle)
    held_back = await screen.screen([*ours, theirs])

    assert case.suppression.asked == [[f"user{i}@inbox.example" for i in range(5)], ["user1@inbox.example"]]
    # The fake's list is one for every tenant; the real one answers per tenant. Each question named its tenant.
    assert held_back == {ours[1].send.message_id: "unsubscribed", theirs.send.message_id: "unsubscribed"}
    await screen.settle(SERVER, ours[1], "unsubscribed", True)
    assert settled == [(ours[1].send.message_id, "unsubscribed", True)]


async def test_capacity_says_whether_a_message_waited_so_that_only_those_are_asked_about_again():
    clock = Clock()
    admitted = AdmissionReply(admitted=True)
    at_cap = AdmissionReply(admitted=False, retry_at=NOW + timedelta(seconds=4), reason="at cap")

    assert await pacer(ScriptedAdmissions(), clock).wait_for_capacity(delivery(routed_seconds_ago=1)) is False
    assert (
        await pacer(ScriptedAdmissions(admitted), clock).wait_for_capacity(delivery(routed_seconds_ago=30))
        is False
    )
    assert (
        await pacer(ScriptedAdmissions(at_cap, admitted), clock).wait_for_capacity(
            delivery(routed_seconds_ago=30)
        )
        is True
    )
    down = ScriptedAdmissions(AdmissionUnavailable("no router answered"), admitted)
    assert await pacer(down, clock).wait_for_capacity(delivery(routed_seconds_ago=30)) is True
