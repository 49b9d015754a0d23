"""When a scheduled campaign starts: the tenant's `send_at`, read in its time zone, checked for sense.

A `send_at` with an offset is an instant already; its `time_zone`, if given, only records how the
tenant thinks of it. A naive `send_at` is a wall-clock time in `time_zone` (an IANA name), which
a daylight-saving change can make mean nothing (the hour skipped in spring) or two instants (the
hour repeated in autumn): both are refused, naming the time, rather than guessed.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.errors import InvalidInput

EARLIEST_PAST = timedelta(minutes=1)
"""How far in the past a `send_at` may be (a clock a little behind, a request slow to arrive): it starts at once."""
LATEST_AHEAD = timedelta(days=365)
"""How far ahead a campaign may be scheduled: a year."""
TIME_ZONE_MAX = 64
"""The longest IANA name is about 32 characters; anything much longer is not one."""


@dataclass(frozen=True)
class StartTime:
    send_at: datetime
    """The instant, in UTC."""
    time_zone: str | None


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone `name`; a 422 naming `time_zone` if there is none by that name."""
    if not name or len(name) > TIME_ZONE_MAX or name != name.strip():
        raise InvalidInput.field("time_zone", f"{name[:TIME_ZONE_MAX]!r} is not an IANA time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: a path-like or otherwise malformed key; OSError: a key naming a directory.
        raise InvalidInput.field(
            "time_zone", f"{name!r} is not an IANA time zone name (such as Europe/Paris or UTC)"
        ) from None


def start_time(send_at: datetime, time_zone: str | None, *, now: datetime) -> StartTime:
    """`send_at` as an instant, checked to be neither past (beyond `EARLIEST_PAST`) nor more than
    `LATEST_AHEAD` after `now`. Raises `InvalidInput` naming the field at fault."""
    zone = None if time_zone is None else zone_named(time_zone)
    if send_at.tzinfo is None or send_at.utcoffset() is None:
        if zone is None:
            raise InvalidInput.field(
                "send_at",
                "give send_at with an offset (2030-05-01T09:00:00+02:00), or a local time with a time_zone",
            )
        instant = _local_instant(send_at, zone)
    else:
        instant = send_at
    instant = instant.astimezone(UTC)
    if instant < now - EARLIEST_PAST:
        raise InvalidInput.field(
            "send_at",
            f"{instant.isoformat()} is in the past; give a time from now on, or launch without send_at",
        )
    if instant > now + LATEST_AHEAD:
        raise InvalidInput.field(
            "send_at", f"{instant.isoformat()} is more than {LATEST_AHEAD.days} days ahead"
        )
    return StartTime(send_at=instant, time_zone=time_zone)


def _local_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The one instant the wall-clock time `local` names in `zone`; refuses a gap or a fold."""
    earlier = local.replace(tzinfo=zone, fold=0)
    later = local.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() == later.utcoffset():
        return earlier
    # The offsets differ: `local` is either skipped (it does not survive a round trip through UTC)
    # or repeated (both readings are real instants).
    if earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
        raise InvalidInput.field(
            "send_at",
            f"{local.isoformat()} does not exist in {zone.key}: the clocks skip it (daylight saving time "
            "begins); give another time, or an offset",
        )
    raise InvalidInput.field(
        "send_at",
        f"{local.isoformat()} is ambiguous in {zone.key}: it happens twice (daylight saving time ends); "
        f"give it with an offset ({earlier.isoformat()} or {later.isoformat()})",
    )
