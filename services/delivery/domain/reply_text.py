"""Text a receiving server wrote (a reply, an API error, a program's stderr), made safe to keep.

Such text is untrusted input: a server may answer with NUL bytes, other control characters,
bytes that are no UTF-8 (aiosmtplib keeps them as lone surrogates) or pages of it. PostgreSQL
refuses NUL and invalid UTF-8 in `text` columns, and one refused value must not stop the
outcome of a message — sent, perhaps — from being recorded. Every outcome passes its texts
through here when it is made, so each adapter (SMTP, HTTP APIs, sendmail) gets the same care.
"""

import re

REPLY_TEXT_LIMIT = 1000
"""Characters of a reply kept; SMTP replies are one or a few short lines, API errors a sentence."""

VENDOR_ID_LIMIT = 255
"""Characters of a server's id for an accepted message (a queue id, an API's message id)."""

REPLACEMENT = "\ufffd"
TRUNCATED = "…"

# C0 controls (NUL among them) except tab, DEL and C1 controls; CR and LF of a multi-line reply
# become spaces instead, so its lines stay apart. Lone surrogates are what undecodable bytes
# became (surrogateescape) or what a JSON body smuggled in: they cannot be encoded as UTF-8.
_LINE_BREAKS = re.compile(r"[\r\n]+")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def safe_text(text: str | bytes, limit: int = REPLY_TEXT_LIMIT) -> str:
    """`text` without control characters (tab kept, line breaks as spaces), with each undecodable
    byte or lone surrogate as U+FFFD, and at most `limit` characters (the cut marked with …)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = _SURROGATES.sub(REPLACEMENT, text)
    text = _CONTROLS.sub("", _LINE_BREAKS.sub(" ", text))
    if len(text) > limit:
        text = text[: limit - len(TRUNCATED)] + TRUNCATED
    return text


def safe_optional(text: str | bytes | None, limit: int) -> str | None:
    return None if text is None else safe_text(text, limit)
