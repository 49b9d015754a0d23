"""`TakeFeedback` against real PostgreSQL: what each class of feedback causes, matching, copies,
recipients that do not agree, feedback that came before its `sent` event, and re-classification."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from services.bounces.adapters.counter_store import PgCounterStore
from services.bounces.adapters.feedback_store import PgFeedbackStore
from services.bounces.app.feedback import (
    FeedbackPolicy,
    PruneFeedback,
    ReclassifyFeedback,
    RematchFeedback,
    TakeFeedback,
)
from services.bounces.bootstrap import MIGRATIONS, SCHEMA
from services.bounces.domain.feedback import RecipientReport
from shared.contracts import FeedbackClass, MessageStatus, status_event_id
from shared.db import Database
from shared.errors import NotFound
from tests.integration.bounces.feedback_support import (
    audit_rows,
    feedback_about,
    feedback_rows,
    outbox_events,
    remember,
    sent_event,
    suppressions_of,
)

POLICY = FeedbackPolicy(
    soft_bounce_limit=3, soft_window=timedelta(days=7), soft_suppression_days=7, raw_max_bytes=4096
)


@pytest.fixture(scope="module")
async def database(database_url):
    async with Database(database_url, SCHEMA, MIGRATIONS, pool_size=4, wait_seconds=0) as database:
        yield database


@pytest.fixture
def take(database) -> TakeFeedback:
    return TakeFeedback(PgFeedbackStore(database), POLICY)


async def test_a_hard_bounce_suppresses_the_recipient_for_good_and_says_bounced(database, take):
    [sent] = await remember(database, sent_event("Ann@Example.com"))

    await take.take([feedback_about(sent.message_id, FeedbackClass.HARD, address="ann@example.com")])

    suppressed = await suppressions_of(database, sent.tenant_id)
    assert list(suppressed) == ["ann@example.com"]
    assert suppressed["ann@example.com"]["expires_at"] is None
    assert suppressed["ann@example.com"]["source"] == "bounce"
    assert "5.1.1" in suppressed["ann@example.com"]["reason"]
    [event] = await outbox_events(database, sent.tenant_id)
    assert event.status is MessageStatus.BOUNCED
    assert event.feedback_class is FeedbackClass.HARD
    assert (event.enhanced_code, event.reply_text) == ("5.1.1", "550 5.1.1 user unknown")
    assert event.event_id == status_event_id(sent.message_id, MessageStatus.BOUNCED, 1, sent.event.server_id)
    assert (event.campaign_id, event.server_id, event.recipient) == (
        sent.event.campaign_id,
        sent.event.server_id,
        "Ann@Example.com",
    )
    [row] = await feedback_rows(database, message_id=sent.message_id)
    assert row["published_status"] == "bounced"
    [audited] = await audit_rows(database, sent.tenant_id)
    assert (audited["actor"], audited["action"], audited["subject"]) == (
        "bounces",
        "suppression.added",
        "ann@example.com",
    )


async def test_soft_bounces_suppress_for_a_while_only_once_the_limit_is_reached(database, take):
    tenant = uuid4()
    sent = await remember(database, *(sent_event("bob@example.com", tenant_id=tenant) for _ in range(3)))

    for number, message in enumerate(sent[:2]):
        await take.take([feedback_about(message.message_id, FeedbackClass.SOFT, status="4.2.2")])
        assert await suppressions_of(database, tenant) == {}, f"not after {number + 1} soft bounces"
    await take.take([feedback_about(sent[2].message_id, FeedbackClass.SOFT, status="4.2.2")])

    suppression = (await suppressions_of(database, tenant))["bob@example.com"]
    expected_expiry = datetime.now(UTC) + timedelta(days=7)
    assert abs((suppression["expires_at"] - expected_expiry).total_seconds()) < 60
    events = await outbox_events(database, tenant)
    assert [(e.status, e.feedback_class) for e in events] == [(MessageStatus.BOUNCED, FeedbackClass.SOFT)] * 3


async def test_soft_bounces_of_another_tenant_do_not_add_up(database, take):
    address = f"{uuid4().hex[:8]}@example.com"
    sent = await remember(database, *(sent_event(address) for _ in range(3)))  # three tenants

    await take.take([feedback_about(message.message_id, FeedbackClass.SOFT) for message in sent])

    for message in sent:
        assert await suppressions_of(database, message.tenant_id) == {}


async def test_a_complaint_suppresses_and_says_complained(database, take):
    [sent] = await remember(database, sent_event())

    await take.take(
        [feedback_about(sent.message_id, FeedbackClass.COMPLAINT, status="", feedback_type="abuse")]
    )

    assert (await suppressions_of(database, sent.tenant_id))[sent.recipient]["source"] == "complaint"
    [event] = await outbox_events(database, sent.tenant_id)
    assert (event.status, event.feedback_class) == (MessageStatus.COMPLAINED, FeedbackClass.COMPLAINT)


async def test_an_unsubscribe_suppresses_without_a_status_event(database, take):
    [sent] = await remember(database, sent_event())

    await take.take([feedback_about(sent.message_id, FeedbackClass.UNSUBSCRIBE)])

    assert (await suppressions_of(database, sent.tenant_id))[sent.recipient]["source"] == "unsubscribe"
    assert await outbox_events(database, sent.tenant_id) == []


@pytest.mark.parametrize(
    "feedback_class", [FeedbackClass.AUTO_REPLY, FeedbackClass.NOT_BOUNCE, FeedbackClass.UNKNOWN]
)
async def test_auto_replies_non_bounces_and_unknown_feedback_are_kept_and_cause_nothing(
    database, take, feedback_class
):
    [sent] = await remember(database, sent_event())

    await take.take([feedback_about(sent.message_id, feedback_class)])

    [row] = await feedback_rows(database, message_id=sent.message_id)
    assert row["class"] == feedback_class.value
    assert row["published_status"] is None
    assert await suppressions_of(database, sent.tenant_id) == {}
    assert await outbox_events(database, sent.tenant_id) == []


async def test_feedback_about_a_message_never_sent_is_kept_unmatched_and_acts_on_nothing(database, take):
    unknown = uuid4()
    raw = f"bounce of {unknown}".encode()

    await take.take([feedback_about(unknown, FeedbackClass.HARD, address="carl@example.com", raw=raw)])

    [row] = await feedback_rows(database, claimed_message_id=unknown)
    assert (row["message_id"], row["tenant_id"], row["published_status"]) == (None, None, None)
    assert row["reported_recipient"] == "carl@example.com"
    assert (
        await database.pool.fetchval("SELECT count(*) FROM suppressions WHERE address = 'carl@example.com'")
        == 0
    )


async def test_the_same_feedback_taken_twice_acts_once(database, take):
    [sent] = await remember(database, sent_event())
    dsn = feedback_about(sent.message_id, FeedbackClass.HARD)

    await take.take([dsn, dsn])
    await take.take([dsn])

    assert len(await feedback_rows(database, message_id=sent.message_id)) == 1
    assert len(await outbox_events(database, sent.tenant_id)) == 1
    assert len(await audit_rows(database, sent.tenant_id)) == 1


async def test_a_webhook_event_retried_with_another_body_is_still_the_same_event(database, take):
    [sent] = await remember(database, sent_event())
    event_id = f"evt-{uuid4()}"

    await take.take([feedback_about(sent.message_id, FeedbackClass.HARD, raw=b"first", event_id=event_id)])
    await take.take([feedback_about(sent.message_id, FeedbackClass.HARD, raw=b"again", event_id=event_id)])

    assert len(await feedback_rows(database, message_id=sent.message_id)) == 1


async def test_a_report_naming_another_address_suppresses_nobody(database, take):
    [sent] = await remember(database, sent_event("dana@example.com"))
    victim = f"victim-{uuid4().hex[:6]}@example.com"

    await take.take([feedback_about(sent.message_id, FeedbackClass.HARD, address=victim)])

    [row] = await feedback_rows(database, message_id=sent.message_id)
    assert row["recipient_mismatch"] is True
    assert (row["recipient"], row["reported_recipient"]) == ("dana@example.com", victim)
    assert await suppressions_of(database, sent.tenant_id) == {}
    assert await outbox_events(database, sent.tenant_id) == []


async def test_a_report_of_three_recipients_is_three_rows_and_only_the_messages_own_acts(database, take):
    [sent] = await remember(database, sent_event("erin@example.com"))
    reports = tuple(
        RecipientReport(address, "5.1.1", "failed", "no such user")
        for address in ("other1@example.com", "ERIN@example.com", "other2@example.com")
    )

    await take.take([feedback_about(sent.message_id, FeedbackClass.HARD, recipients=reports)])

    rows = await feedback_rows(database, message_id=sent.message_id)
    assert [row["recipient_mismatch"] for row in rows] == [True, False, True]
    assert len({row["source_id"] for row in rows}) == 1, "the three share one stored source"
    assert list(await suppressions_of(database, sent.tenant_id)) == ["erin@example.com"]
    assert len(await outbox_events(database, sent.tenant_id)) == 1


async def test_feedback_is_matched_by_the_message_id_inside_it_and_by_the_vendors_message_id(database, take):
    server = uuid4()
    by_header, by_vendor = await remember(
        database, sent_event(), sent_event(server_id=server, vendor_message_id=f"vendor-{uuid4()}")
    )

    await take.take(
        [
            feedback_about(None, FeedbackClass.HARD, original_message_id=by_header.message_id),
            feedback_about(
                None,
                FeedbackClass.HARD,
                server_id=server,
                vendor_message_id=by_vendor.event.vendor_message_id,
            ),
        ]
    )

    assert list(await suppressions_of(database, by_header.tenant_id)) == [by_header.recipient]
    assert list(await suppressions_of(database, by_vendor.tenant_id)) == [by_vendor.recipient]


async def test_a_vendor_message_id_of_another_server_matches_nothing(database, take):
    [sent] = await remember(database, sent_event(vendor_message_id=f"vendor-{uuid4()}"))

    await take.take(
        [
            feedback_about(
                None, FeedbackClass.HARD, server_id=uuid4(), vendor_message_id=sent.event.vendor_message_id
            )
        ]
    )

    assert await suppressions_of(database, sent.tenant_id) == {}


async def test_feedback_that_came_before_its_sent_event_is_matched_later_a_batch_per_round(database, take):
    early = [sent_event() for _ in range(3)]
    await take.take([feedback_about(event.message_id, FeedbackClass.HARD) for event in early])
    assert await suppressions_of(database, early[0].tenant_id) == {}

    await remember(database, *early)
    rematch = RematchFeedback(PgFeedbackStore(database), POLICY, window=timedelta(minutes=5), batch=2)
    # Other tests' unmatched feedback is in the window too: rounds go on from where the last one
    # stopped, so every candidate gets its turn however many wait before it.
    for _ in range(1000):
        await rematch()
        if all([await suppressions_of(database, event.tenant_id) for event in early]):
            break

    for event in early:
        assert list(await suppressions_of(database, event.tenant_id)) == [event.recipient]
        assert len(await outbox_events(database, event.tenant_id)) == 1


async def test_an_operator_reclassifying_a_bounce_as_an_auto_reply_lifts_what_it_caused(database, take):
    [sent] = await remember(database, sent_event())
    await take.take([feedback_about(sent.message_id, FeedbackClass.HARD)])
    [row] = await feedback_rows(database, message_id=sent.message_id)
    counters = PgCounterStore(database)
    reclassify = ReclassifyFeedback(PgFeedbackStore(database), counters, POLICY)

    await reclassify(row["id"], FeedbackClass.AUTO_REPLY, by="operator", note="a vacation notice")

    assert await suppressions_of(database, sent.tenant_id) == {}
    [after] = await feedback_rows(database, message_id=sent.message_id)
    assert (after["class"], after["original_class"], after["reclassified_by"]) == (
        "auto-reply",
        "hard",
        "operator",
    )
    assert after["published_status"] is None
    actions = [entry["action"] for entry in await audit_rows(database, sent.tenant_id)]
    assert actions == ["suppression.added", "feedback.reclassified", "suppression.removed"]
    assert await counters.totals(sent.event.server_id) == {"bounced:hard": -1}, (
        "the bounce counted is taken back"
    )

    await reclassify(row["id"], FeedbackClass.COMPLAINT, by="operator", note="it was a complaint after all")

    assert (await suppressions_of(database, sent.tenant_id))[sent.recipient]["source"] == "complaint"
    events = await outbox_events(database, sent.tenant_id)
    assert [e.status for e in events] == [MessageStatus.BOUNCED, MessageStatus.COMPLAINED]


async def test_reclassifying_unknown_feedback_is_refused(database):
    reclassify = ReclassifyFeedback(PgFeedbackStore(database), PgCounterStore(database), POLICY)
    with pytest.raises(NotFound):
        await reclassify(10**12, FeedbackClass.HARD, by="operator", note="")


async def test_a_report_naming_thousands_of_recipients_is_kept_bounded(database, take):
    [sent] = await remember(database, sent_event())
    flood = tuple(RecipientReport(f"r{n}@example.com", "5.1.1", "failed") for n in range(5000))

    await take.take([feedback_about(sent.message_id, FeedbackClass.HARD, recipients=flood)])

    assert len(await feedback_rows(database, message_id=sent.message_id)) == 100
    assert await suppressions_of(database, sent.tenant_id) == {}, "none of them is the message's recipient"


async def test_feedback_past_its_retention_is_deleted_and_the_suppression_it_caused_stays(database, take):
    [old, recent] = await remember(database, sent_event("old@example.com"), sent_event("new@example.com"))
    await take.take([feedback_about(old.message_id, FeedbackClass.HARD, address="old@example.com")])
    await take.take([feedback_about(recent.message_id, FeedbackClass.HARD, address="new@example.com")])
    # The first arrived 200 days ago.
    await database.pool.execute(
        """UPDATE feedback_sources SET received_at = now() - interval '200 days'
           WHERE id = (SELECT source_id FROM feedback WHERE message_id = $1)""",
        old.message_id,
    )

    pruned = await PruneFeedback(PgFeedbackStore(database), timedelta(days=180))()

    assert pruned >= 1
    assert await feedback_rows(database, message_id=old.message_id) == []
    assert len(await feedback_rows(database, message_id=recent.message_id)) == 1
    kept = await suppressions_of(database, old.tenant_id)
    assert "old@example.com" in kept and kept["old@example.com"]["expires_at"] is None


async def test_a_recipient_with_an_internationalized_domain_is_suppressed_under_the_lists_key(database, take):
    [sent] = await remember(database, sent_event("Ann@xn--bcher-kva.example"))

    # The DSN names the domain in Unicode; it is the message's recipient all the same.
    await take.take([feedback_about(sent.message_id, FeedbackClass.HARD, address="ann@Bücher.example")])

    assert list(await suppressions_of(database, sent.tenant_id)) == ["ann@bücher.example"]
