"""Where mail for a domain goes (RFC 5321 section 5.1), from the domain's MX records.

MX hosts are tried in order of preference, hosts of equal preference in random order so that
the load spreads as their owner intends. A domain without MX records receives mail at its own
address (the "implicit MX"); a domain whose only MX is "." receives no mail at all (RFC 7505).
"""

import random
from dataclasses import dataclass, field
from typing import Generic, TypeVar


@dataclass(frozen=True)
class MxRecord:
    exchange: str
    preference: int


class NullMx(Exception):
    """The domain publishes a null MX (RFC 7505): it accepts no mail."""


def exchanges_in_order(domain: str, records: list[MxRecord], rng: random.Random | None = None) -> list[str]:
    """The hosts to try for `domain`, best first. Raises `NullMx` for a domain that takes no mail."""
    if not records:
        return [domain]
    if any(_is_null(record) for record in records):
        raise NullMx(f"{domain} publishes a null MX (RFC 7505): it accepts no mail")
    rng = rng or random.Random()
    shuffled = list(records)
    rng.shuffle(shuffled)
    # sorted() is stable, so hosts of one preference keep their shuffled order.
    ordered = sorted(shuffled, key=lambda record: record.preference)
    return list(dict.fromkeys(record.exchange.rstrip(".").lower() for record in ordered))


def _is_null(record: MxRecord) -> bool:
    return record.exchange in ("", ".")


K = TypeVar("K")
V = TypeVar("V")


@dataclass
class TtlCache(Generic[K, V]):
    """Answers kept as long as the DNS said they may be; the caller passes the time."""

    max_entries: int = 10_000
    _entries: dict[K, tuple[V, float]] = field(default_factory=dict)

    def get(self, key: K, now: float) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if now >= expires_at:
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V, ttl: float, now: float) -> None:
        if ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._drop_expired(now)
            if len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]  # the oldest insertion
        self._entries[key] = (value, now + ttl)

    def _drop_expired(self, now: float) -> None:
        for key in [key for key, (_, expires_at) in self._entries.items() if now >= expires_at]:
            del self._entries[key]
