"""Server texts made safe to keep, wherever an outcome is made."""

import pytest

from services.delivery.domain.outcomes import Deferred, Failed, Sent, Unknown
from services.delivery.domain.reply_text import REPLY_TEXT_LIMIT, safe_text


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("2.0.0 Ok: queued as Q1", "2.0.0 Ok: queued as Q1"),
        ("Ok\x00 with\x00NUL", "Ok withNUL"),
        (
            "tab\tkept, bell\x07 and escape\x1b[0m gone, DEL\x7f and C1\x85 too",
            "tab\tkept, bell and escape[0m gone, DEL and C1 too",
        ),
        ("first line\r\nsecond line\nthird", "first line second line third"),
        ("undecodable \udcff\udcfe bytes", "undecodable \ufffd\ufffd bytes"),
        (b"raw \xff\xfe\x00bytes", "raw \ufffd\ufffdbytes"),
        ("accents stay: d\u00e9j\u00e0 re\u00e7u \u2713", "accents stay: d\u00e9j\u00e0 re\u00e7u \u2713"),
    ],
)
def test_control_characters_go_and_undecodable_bytes_are_replaced(raw, kept):
    assert safe_text(raw) == kept


def test_a_long_reply_is_cut_and_says_so():
    kept = safe_text("x" * 5000)

    assert len(kept) == REPLY_TEXT_LIMIT and kept.endswith("\u2026")


def test_cleaning_twice_changes_nothing():
    once = safe_text("a\x00b\udcff" + "y" * 2000)

    assert safe_text(once) == once


def test_every_outcome_keeps_only_safe_text_whatever_the_adapter_gave():
    assert Sent("Q\x001", 250, "Ok\x00 \udcff") == Sent("Q1", 250, "Ok \ufffd")
    assert Deferred(451, None, "later\x00").reply_text == "later"
    assert Failed(550, None, "no\udcc3").reply_text == "no\ufffd"
    assert Unknown("lost\x00").reason == "lost"
    for text in (Sent(None, 250, "\udcff" * 3000).reply_text, Unknown("\x00\udcff").reason):
        text.encode("utf-8")  # PostgreSQL takes it: no lone surrogate, no NUL
