"""Every row of the SMTP reply table, and the parsing of the codes a reply carries."""

import pytest

from services.delivery.domain.smtp_codes import (
    REPLY_RULES,
    ReplyClass,
    classify,
    enhanced_code_of,
    queue_id_of,
)

CASES = [
    # (reply code, enhanced code, reply class, close the connection)
    (250, "2.0.0", ReplyClass.ACCEPTED, False),
    (251, None, ReplyClass.ACCEPTED, False),
    (421, "4.3.2", ReplyClass.TRANSIENT, True),
    (421, None, ReplyClass.TRANSIENT, True),
    (450, "4.2.1", ReplyClass.TRANSIENT, False),
    (451, "4.7.1", ReplyClass.TRANSIENT, False),
    (452, "4.5.3", ReplyClass.TRANSIENT, False),
    (552, "5.2.2", ReplyClass.TRANSIENT, False),
    (552, "5.5.3", ReplyClass.TRANSIENT, False),
    (552, "5.3.4", ReplyClass.PERMANENT, False),
    (552, None, ReplyClass.PERMANENT, False),
    (550, "5.1.1", ReplyClass.PERMANENT, False),
    (
        550,
        "5.2.2",
        ReplyClass.PERMANENT,
        False,
    ),  # mailbox full is transient only as the 552 RFC 3463 describes
    (554, "5.7.1", ReplyClass.PERMANENT, False),
    (354, None, ReplyClass.PERMANENT, True),
    (199, None, ReplyClass.PERMANENT, True),
]


@pytest.mark.parametrize(("reply_code", "enhanced_code", "reply_class", "close_connection"), CASES)
def test_reply_is_classified(reply_code, enhanced_code, reply_class, close_connection):
    rule = classify(reply_code, enhanced_code)

    assert (rule.reply_class, rule.close_connection) == (reply_class, close_connection), rule.why


def test_every_rule_of_the_table_is_exercised():
    used = {classify(reply_code, enhanced_code) for reply_code, enhanced_code, _, _ in CASES}

    assert set(REPLY_RULES) <= used


def test_more_specific_rows_come_before_the_class_fallbacks():
    # Were the 5xx fallback first, mailbox-full (552 5.2.2) would fail instead of waiting.
    fallback = next(i for i, rule in enumerate(REPLY_RULES) if rule.reply_codes == range(500, 600))
    specific = [i for i, rule in enumerate(REPLY_RULES) if rule.enhanced_code is not None]

    assert specific and max(specific) < fallback


@pytest.mark.parametrize(
    ("reply_text", "expected"),
    [
        ("5.1.1 <x@example.org>: Recipient address rejected", "5.1.1"),
        ("2.0.0 Ok: queued as 4BxYz", "2.0.0"),
        ("4.7.1 Greylisted", "4.7.1"),
        ("  5.7.26 Unauthenticated email", "5.7.26"),
        ("Requested action not taken", None),
        ("3.1.1 not a completion class", None),
        ("5.1.1x not a code", None),
        ("", None),
    ],
)
def test_enhanced_code_is_read_from_the_start_of_the_reply(reply_text, expected):
    assert enhanced_code_of(reply_text) == expected


@pytest.mark.parametrize(
    ("reply_text", "expected"),
    [
        ("2.0.0 Ok: queued as 4BxYz1N2kQz", "4BxYz1N2kQz"),  # Postfix
        ("OK id=1rAbCd-0003xY-2Z", "1rAbCd-0003xY-2Z"),  # Exim
        ("2.0.0 Ok: queued as <abc@relay>", "abc@relay"),
        ("2.0.0 OK", None),
    ],
)
def test_queue_id_is_read_when_the_server_gives_one(reply_text, expected):
    assert queue_id_of(reply_text) == expected
