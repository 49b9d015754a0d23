"""Why a server cannot be enabled yet, in sentences, read from the catalog's server JSON.

The catalog decides (`POST /servers/{id}/enable` answers 409 or 403 with its reason); this only
explains beforehand, from `state`, `hold`, `pause`, `last_test`, `settings_changed_at` and the
identity's last verification, so nobody has to press Enable to learn what is missing.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Enablement:
    can_enable: bool
    """Nothing this console can see stands in the way (the catalog may still refuse)."""
    reasons: list[str] = field(default_factory=list)
    """Why not, each a sentence saying what to do."""
    notes: list[str] = field(default_factory=list)
    """What may stand in the way depending on the catalog's settings (a required verified identity)."""


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def enablement(server: Mapping[str, Any], *, is_operator: bool) -> Enablement:
    """Whether `server` (a `ServerOut` as JSON) can be enabled by this user now, and if not why."""
    state = server.get("state")
    if state == "active":
        return Enablement(can_enable=False, reasons=["It is already active."])
    reasons: list[str] = []
    notes: list[str] = []
    hold = server.get("hold")
    if hold and not is_operator:
        reasons.append(
            f"The operator {hold.get('action', 'disabled')} it: {hold.get('reason', 'no reason given')}. "
            "Only the operator can enable it again."
        )
    if state == "paused":
        pause = server.get("pause") or {}
        by = pause.get("by") or "someone"
        reasons.append(
            f"It is paused (by {by}: {pause.get('reason', 'no reason given')}); resume it instead of enabling it."
        )
    test = server.get("last_test")
    changed_at = _when(server.get("settings_changed_at"))
    if not test:
        reasons.append("It has never been tested: press Test connection, and enable it once the test passes.")
    else:
        tested_at = _when(test.get("tested_at"))
        if tested_at is not None and changed_at is not None and tested_at < changed_at:
            reasons.append("Its connection settings changed since the last test: test the connection again.")
        elif not test.get("ok"):
            reasons.append(
                f"The last connection test failed ({test.get('message', 'no message')}): "
                "correct the settings or the server, then test again."
            )
    if server.get("identity"):
        verification = server.get("identity_verification")
        if not verification:
            notes.append(
                "Its identity's DNS records were never checked: where the operator requires a verified "
                "identity, press Check DNS now and publish what it asks for first."
            )
        elif not verification.get("verified"):
            failing = [
                f"{check.get('name')} for {check.get('domain')}"
                for check in verification.get("checks", [])
                if not check.get("ok")
            ]
            notes.append(
                "Its identity did not pass its DNS checks ("
                + (", ".join(failing) or "see below")
                + "): where the operator requires a verified identity, it cannot be enabled until they pass."
            )
    return Enablement(can_enable=not reasons, reasons=reasons, notes=notes)
