"""What feedback causes (`services.bounces.domain.actions`): matching, whose address acts, copies."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from services.bounces.domain.actions import (
    Match,
    Report,
    SentMessage,
    Suppression,
    SuppressionSource,
    dedupe_key,
    immediate_suppression,
    match,
    status_event,
    strongest,
)
from services.bounces.domain.feedback import Classification, Feedback
from shared.contracts import FeedbackClass, MessageStatus

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def sent(recipient: str = "Ann@Example.com", **overrides) -> SentMessage:
    values = dict(
        message_id=uuid4(),
        tenant_id=uuid4(),
        campaign_id=uuid4(),
        run_id=uuid4(),
        server_id=uuid4(),
        vendor="ses",
        recipient=recipient,
        vendor_message_id="v-1",
        sent_at=NOW,
    )
    return SentMessage(**{**values, **overrides})


def report(feedback_class=FeedbackClass.HARD, address="", **overrides) -> Report:
    values = dict(
        id=1,
        feedback_class=feedback_class,
        claimed_message_id=None,
        original_message_id=None,
        claimed_server_id=None,
        vendor_message_id=None,
        reported_recipient=address,
        status_code="5.1.1",
        diagnostic="550 5.1.1\nuser   unknown",
    )
    return Report(**{**values, **overrides})


def test_the_intakes_message_id_comes_first_then_the_one_inside_then_the_vendors():
    a, b, c = sent(), sent(), sent()
    by_id = {a.message_id: a, b.message_id: b}
    by_vendor = {(c.server_id, "v-9"): c}

    both = report(claimed_message_id=a.message_id, original_message_id=b.message_id)
    inside_only = report(claimed_message_id=uuid4(), original_message_id=b.message_id)
    vendor = report(claimed_server_id=c.server_id, vendor_message_id="v-9")
    vendor_elsewhere = report(claimed_server_id=uuid4(), vendor_message_id="v-9")

    assert match(both, by_id, by_vendor) is a
    assert match(inside_only, by_id, by_vendor) is b, "an id that was never sent falls through"
    assert match(vendor, by_id, by_vendor) is c
    assert match(vendor_elsewhere, by_id, by_vendor) is None


@pytest.mark.parametrize(
    ("feedback_class", "source"),
    [
        (FeedbackClass.HARD, SuppressionSource.BOUNCE),
        (FeedbackClass.COMPLAINT, SuppressionSource.COMPLAINT),
        (FeedbackClass.UNSUBSCRIBE, SuppressionSource.UNSUBSCRIBE),
        (FeedbackClass.SOFT, None),
        (FeedbackClass.AUTO_REPLY, None),
        (FeedbackClass.NOT_BOUNCE, None),
        (FeedbackClass.UNKNOWN, None),
    ],
)
def test_which_classes_suppress_at_once_and_for_good(feedback_class, source):
    message = sent()
    suppression = immediate_suppression(Match(report(feedback_class), message))
    if source is None:
        assert suppression is None
    else:
        assert suppression is not None
        assert (suppression.source, suppression.expires_at) == (source, None)
        assert (suppression.tenant_id, suppression.address) == (message.tenant_id, "ann@example.com")


@pytest.mark.parametrize(
    ("feedback_class", "status"),
    [
        (FeedbackClass.HARD, MessageStatus.BOUNCED),
        (FeedbackClass.SOFT, MessageStatus.BOUNCED),
        (FeedbackClass.COMPLAINT, MessageStatus.COMPLAINED),
        (FeedbackClass.UNSUBSCRIBE, None),
        (FeedbackClass.AUTO_REPLY, None),
        (FeedbackClass.UNKNOWN, None),
    ],
)
def test_which_classes_are_told_as_status_events(feedback_class, status):
    event = status_event(Match(report(feedback_class), sent()), now=NOW)
    assert (event.status if event else None) == status


def test_the_status_event_is_the_same_for_every_copy_and_carries_a_one_line_diagnostic():
    message = sent()
    first = status_event(Match(report(), message), now=NOW)
    again = status_event(Match(report(id=2), message), now=NOW + timedelta(hours=1))
    assert first is not None and again is not None
    assert first.event_id == again.event_id
    assert first.reply_text == "550 5.1.1 user unknown"
    assert first.enhanced_code == "5.1.1"


@pytest.mark.parametrize("address", ["", "ann@example.com", "ANN@EXAMPLE.COM"])
def test_a_report_about_the_messages_recipient_or_nobody_in_particular_acts(address):
    assert immediate_suppression(Match(report(address=address), sent())) is not None


def test_a_report_naming_another_address_acts_on_nobody():
    found = Match(report(address="victim@example.com"), sent())
    assert not found.recipient_agrees
    assert immediate_suppression(found) is None
    assert status_event(found, now=NOW) is None


def test_the_strongest_suppression_of_an_address_wins():
    tenant = uuid4()
    for_a_week = Suppression(
        tenant, "a@example.com", "soft", SuppressionSource.BOUNCE, NOW + timedelta(days=7)
    )
    for_good = Suppression(tenant, "a@example.com", "hard", SuppressionSource.BOUNCE)
    elsewhere = Suppression(uuid4(), "a@example.com", "soft", SuppressionSource.BOUNCE, NOW)
    assert strongest([for_a_week, for_good, elsewhere]) == [for_good, elsewhere]
    assert strongest([for_good, for_a_week]) == [for_good]


def test_copies_of_a_mail_share_a_dedupe_key_and_a_vendor_event_is_known_by_its_id():
    classification = Classification(FeedbackClass.HARD, "dsn")
    mail = Feedback(
        "smtp", b"a bounce", classification, details={"envelope_recipient": "bounces+x@r.example"}
    )
    same = Feedback(
        "smtp", b"a bounce", classification, details={"envelope_recipient": "bounces+x@r.example"}
    )
    to_another = Feedback(
        "smtp", b"a bounce", classification, details={"envelope_recipient": "bounces+y@r.example"}
    )
    event = Feedback("ses", b"{...}", classification, details={"event_id": "abc"})
    retried = Feedback("ses", b"{... other ...}", classification, details={"event_id": "abc"})
    same_id_other_vendor = Feedback("mailgun", b"{...}", classification, details={"event_id": "abc"})
    assert dedupe_key(mail) == dedupe_key(same) != dedupe_key(to_another)
    assert dedupe_key(event) == dedupe_key(retried) != dedupe_key(same_id_other_vendor)
