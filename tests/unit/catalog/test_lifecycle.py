"""The rule that guards enabling a server, and what each change does to its state and version."""

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from services.catalog.domain.identity import Identity
from services.catalog.domain.servers import (
    Edit,
    Hold,
    Pause,
    ProbeOutcome,
    Server,
    disable,
    edit,
    enable,
    new_server,
    pause,
    probe_outcome,
    record_test,
    resume,
)
from shared.contracts import (
    BounceHandling,
    DestinationRule,
    SendingLimits,
    ServerIdentity,
    ServerState,
    WarmupSchedule,
)
from shared.errors import Conflict, Forbidden

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def saved() -> Server:
    return new_server(
        tenant_id=uuid4(),
        name="relay",
        type="smtp",
        vendor="smtp",
        settings={"host": "mx.example"},
        sealed_secrets="sealed",
        limits=SendingLimits(),
        now=T0,
    )


def after_test(server: Server, ok: bool, when: float, message: str = "Connection successful.") -> Server:
    return record_test(server, ProbeOutcome(ok=ok, message=message, tested_at=at(when)), at(when + 1))


def test_a_new_server_is_inactive_and_untested():
    server = saved()
    assert (server.state, server.last_test, server.version) == (ServerState.INACTIVE, None, 1)


def test_enabling_an_untested_server_is_refused():
    with pytest.raises(Conflict, match="never tested"):
        enable(saved(), at(1))


def test_enabling_after_a_failed_test_is_refused_with_its_message():
    server = after_test(saved(), ok=False, when=1, message="Connection failed: 535 authentication failed")
    with pytest.raises(Conflict, match="last test failed: Connection failed: 535 authentication failed"):
        enable(server, at(5))


def test_enabling_after_a_passing_test_activates():
    server = enable(after_test(saved(), ok=True, when=1), at(5))
    assert server.state is ServerState.ACTIVE
    assert server.version == 3  # tested, then enabled


def test_new_settings_deactivate_and_void_the_last_test():
    active = enable(after_test(saved(), ok=True, when=1), at(5))
    changed = edit(active, at(10), Edit(settings=({"host": "mx2.example"}, "sealed-2")))

    assert changed.state is ServerState.INACTIVE
    assert changed.settings_changed_at == at(10)
    with pytest.raises(Conflict, match="settings changed since the last test"):
        enable(changed, at(11))
    assert enable(after_test(changed, ok=True, when=12), at(13)).state is ServerState.ACTIVE


def test_a_test_started_before_a_settings_change_does_not_count():
    server = edit(saved(), at(10), Edit(settings=({"host": "mx2.example"}, "sealed-2")))
    stale = after_test(server, ok=True, when=9)  # started before the change, finished after it
    with pytest.raises(Conflict, match="settings changed since the last test"):
        enable(stale, at(12))


@pytest.mark.parametrize("state", list(ServerState))
def test_new_settings_deactivate_a_server_in_any_state(state):
    server = edit(saved(), at(1), Edit(name="x"))
    server = Server(**{**server.__dict__, "state": state})
    assert edit(server, at(2), Edit(settings=({}, "s"))).state is ServerState.INACTIVE


def test_renaming_or_new_limits_keep_the_state_and_bump_the_version_once():
    active = enable(after_test(saved(), ok=True, when=1), at(5))
    edited = edit(active, at(6), Edit(name="renamed", limits=SendingLimits(per_hour=100)))
    assert (edited.state, edited.name, edited.limits.per_hour) == (ServerState.ACTIVE, "renamed", 100)
    assert edited.version == active.version + 1
    assert edit(edited, at(7), Edit(name="renamed", limits=SendingLimits(per_hour=100))) is edited


def test_disable_then_enable_follows_the_same_rule():
    active = enable(after_test(saved(), ok=True, when=1), at(5))
    disabled = disable(active, at(6))
    assert disabled.state is ServerState.DISABLED
    assert disable(disabled, at(7)) is disabled
    assert enable(disabled, at(8)).state is ServerState.ACTIVE

    untested = disable(saved(), at(1))
    with pytest.raises(Conflict, match="never tested"):
        enable(untested, at(2))


def test_the_view_carries_no_settings_nor_keys():
    signing = Identity(
        public=ServerIdentity(from_domains=["example.com"], dkim_selector="s1"),
        dkim_algorithm="ed25519",
        dkim_public_key="cHVibGlj",
    )
    server = edit(saved(), at(1), Edit(identity=(signing, "sealed-key")))
    view = server.view().model_dump()
    assert {
        "id",
        "state",
        "limits",
        "warmup",
        "destination_rules",
        "identity",
        "bounce_handling",
        "version",
    } <= set(view)
    assert not set(view) & {"settings", "sealed_secrets", "sealed_dkim_key", "password"}
    assert view["identity"] == {
        "from_domains": ["example.com"],
        "dkim_selector": "s1",
        "return_path_domain": None,
    }
    assert "sealed-key" not in repr(server)


def test_warmup_and_destination_rules_change_without_touching_the_state():
    warmup = WarmupSchedule(
        kind="linear", start_date=date(2026, 1, 1), start_volume=100, target_volume=1000, days=10
    )
    rules = [DestinationRule(domain="gmail.com", limits=SendingLimits(per_hour=50))]
    active = enable(after_test(saved(), ok=True, when=1), at(5))

    ramped = edit(active, at(6), Edit(warmup=warmup, destination_rules=rules))
    assert (ramped.state, ramped.warmup, ramped.destination_rules) == (ServerState.ACTIVE, warmup, rules)
    assert ramped.view().warmup == warmup

    assert edit(ramped, at(7), Edit(name="renamed")).warmup == warmup, (
        "an edit that omits the warmup keeps it"
    )
    removed = edit(ramped, at(7), Edit(warmup=None, destination_rules=[]))
    assert (removed.warmup, removed.destination_rules) == (None, [])


@pytest.mark.parametrize(
    ("ok", "reason", "message"),
    [
        (True, "250 2.0.0 ok", "Connection successful."),
        (False, "535 authentication failed", "Connection failed: 535 authentication failed"),
        (False, "Connection failed: timed out", "Connection failed: timed out"),
    ],
)
def test_a_probe_outcome_reads_the_same_whoever_answered(ok, reason, message):
    assert probe_outcome(ok, reason, T0) == ProbeOutcome(ok=ok, message=message, tested_at=T0)


def active() -> Server:
    return enable(after_test(saved(), ok=True, when=1), at(5))


def test_pause_and_resume_keep_the_reason_while_paused():
    paused = pause(active(), "bounce rate 12% over 500 messages", "bounces", at(10))
    assert paused.state is ServerState.PAUSED
    assert paused.pause == Pause(reason="bounce rate 12% over 500 messages", by="bounces", at=at(10))
    assert paused.view().pause_reason == "bounce rate 12% over 500 messages"
    assert pause(paused, "another reason", "operator", at(11)) is paused, "the first cause stays"

    resumed = resume(paused, at(12))
    assert (resumed.state, resumed.pause, resumed.view().pause_reason) == (ServerState.ACTIVE, None, None)
    assert resume(resumed, at(13)) is resumed


def test_only_an_active_server_can_be_paused_and_only_a_paused_one_resumed():
    with pytest.raises(Conflict, match="is inactive: it sends nothing, so there is nothing to pause"):
        pause(saved(), "why", "operator", at(1))
    with pytest.raises(Conflict, match="is disabled: it sends nothing"):
        pause(disable(active(), at(6)), "why", "operator", at(7))
    with pytest.raises(Conflict, match="is disabled, not paused; enable it"):
        resume(disable(active(), at(6)), at(7))


def test_a_paused_server_is_resumed_not_enabled_and_disabling_ends_the_pause():
    paused = pause(active(), "maintenance", "tenant", at(10))
    with pytest.raises(Conflict, match=r"is paused \(maintenance\); resume it with POST /servers/.*/resume"):
        enable(paused, at(11))

    disabled = disable(paused, at(11))
    assert (disabled.state, disabled.pause) == (ServerState.DISABLED, None)
    assert enable(disabled, at(12)).state is ServerState.ACTIVE


def test_new_settings_end_a_pause_too():
    paused = pause(active(), "maintenance", "tenant", at(10))
    changed = edit(paused, at(11), Edit(settings=({"host": "mx2.example"}, "sealed-2")))
    assert (changed.state, changed.pause) == (ServerState.INACTIVE, None)


def test_identity_and_bounce_handling_change_without_touching_the_state():
    identity = Identity(
        public=ServerIdentity(from_domains=["example.com"], return_path_domain="bounce.example.com")
    )
    thresholds = BounceHandling(max_bounce_rate=0.02, max_complaint_rate=None, min_volume=1000)

    changed = edit(active(), at(6), Edit(identity=(identity, None), bounce_handling=thresholds))

    assert (changed.state, changed.identity, changed.bounce_handling) == (
        ServerState.ACTIVE,
        identity,
        thresholds,
    )
    assert changed.view().identity.return_path_domain == "bounce.example.com"
    removed = edit(changed, at(7), Edit(identity=None))
    assert (removed.identity, removed.sealed_dkim_key, removed.bounce_handling) == (None, None, thresholds)
    assert edit(removed, at(8), Edit(bounce_handling=thresholds)) is removed


# The operator's hold: its pause or disable binds the owner until the operator lifts it.


def test_the_operators_pause_holds_the_server_against_its_owner():
    held = pause(active(), "abuse", "operator", at(13), hold=True)

    assert held.hold == Hold(action="paused", reason="abuse", at=at(13))
    for owner_action in (resume, enable):
        with pytest.raises(Forbidden, match=r"on hold: the operator paused it \(abuse\)"):
            owner_action(held, at(14))
    lifted = resume(held, at(15), by_operator=True)
    assert (lifted.state, lifted.hold, lifted.pause) == (ServerState.ACTIVE, None, None)


def test_a_pause_by_the_owner_or_the_bounces_service_holds_nothing():
    for by in ("tenant", "bounces"):
        paused = pause(active(), "bounce rate", by, at(13))
        assert paused.hold is None
        assert resume(paused, at(14)).state is ServerState.ACTIVE


def test_the_operators_pause_of_a_paused_server_adds_its_hold_and_keeps_the_cause():
    paused = pause(active(), "owner's reason", "tenant", at(13))

    held = pause(paused, "abuse", "operator", at(14), hold=True)

    assert (held.pause and held.pause.reason, held.hold and held.hold.reason) == ("owner's reason", "abuse")
    assert held.version == paused.version + 1
    assert pause(held, "again", "operator", at(15), hold=True) is held


def test_new_settings_leave_a_held_server_as_the_operator_left_it():
    held = pause(active(), "abuse", "operator", at(13), hold=True)

    edited = edit(held, at(14), Edit(settings=({"host": "mx2.example"}, "sealed-2")))

    assert (edited.state, edited.hold, edited.settings_changed_at) == (ServerState.PAUSED, held.hold, at(14))
    # Lifted, the server must pass a test of its new settings before it sends again.
    assert resume(edited, at(15), by_operator=True).state is ServerState.INACTIVE


def test_the_operators_disable_holds_until_the_operator_enables():
    held = disable(active(), at(13), hold_reason="abuse")

    assert held.hold == Hold(action="disabled", reason="abuse", at=at(13))
    with pytest.raises(Forbidden, match="the operator disabled it"):
        enable(held, at(14))
    assert disable(held, at(15)).hold == held.hold, "the owner's disable keeps the hold"
    edited = edit(held, at(16), Edit(settings=({"host": "mx2.example"}, "sealed-2")))
    assert edited.state is ServerState.DISABLED
    lifted = enable(record_test(edited, probe_outcome(True, "", at(17)), at(17)), at(18), by_operator=True)
    assert (lifted.state, lifted.hold) == (ServerState.ACTIVE, None)
