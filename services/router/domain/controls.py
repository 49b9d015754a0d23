"""What the tenant's pause and cancel mean to routing (no I/O).

A paused campaign is held as a stopped one is, until it is resumed. A cancelled campaign is
final: its held messages and every later one are dropped unrouted, each reported `cancelled`,
and a resume that comes after the cancellation changes nothing.
"""

from datetime import timedelta

from shared.contracts import MessageStatus, SendRequested, StatusEvent

PAUSED_REASON = "paused by its tenant"
CANCELLED_REASON = "campaign cancelled by its tenant"

CANCELLED_REMEMBERED = timedelta(days=7)
"""How long a cancellation is kept in memory (router and workers) after it was decided. A message
of the campaign still in flight later than that would be past any retry's age limit; an older
cancellation is still in the router's table, so a message held for it is dropped all the same."""


def cancelled_status(message: SendRequested) -> StatusEvent:
    """What a message of a cancelled campaign is reported as when it is dropped unsent (final)."""
    return message.status_event(MessageStatus.CANCELLED, reply_text=CANCELLED_REASON)
