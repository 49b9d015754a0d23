"""Why a server cannot be enabled yet, from the catalog's server JSON."""

from services.console.domain.enablement import enablement

CHANGED = "2025-01-01T10:00:00Z"


def server(**fields):
    return {
        "state": "inactive",
        "settings_changed_at": CHANGED,
        "last_test": None,
        "hold": None,
        "pause": None,
        "identity": None,
        **fields,
    }


def test_never_tested():
    found = enablement(server(), is_operator=False)
    assert not found.can_enable
    assert found.reasons == [
        "It has never been tested: press Test connection, and enable it once the test passes."
    ]


def test_last_test_failed_with_its_message():
    test = {"ok": False, "message": "Connection failed: refused", "tested_at": "2025-01-01T11:00:00Z"}
    found = enablement(server(last_test=test), is_operator=False)
    assert not found.can_enable
    assert "Connection failed: refused" in found.reasons[0]


def test_settings_changed_since_the_last_test():
    test = {"ok": True, "message": "Connection successful.", "tested_at": "2025-01-01T09:00:00+00:00"}
    found = enablement(server(last_test=test), is_operator=False)
    assert found.reasons == [
        "Its connection settings changed since the last test: test the connection again."
    ]


def test_a_passing_test_since_the_change_allows_it():
    test = {"ok": True, "message": "Connection successful.", "tested_at": "2025-01-01T10:00:01Z"}
    found = enablement(server(last_test=test), is_operator=False)
    assert found.can_enable
    assert found.reasons == []


def test_the_operators_hold_binds_the_owner_not_the_operator():
    test = {"ok": True, "message": "ok", "tested_at": "2025-01-02T00:00:00Z"}
    held = server(state="disabled", last_test=test, hold={"action": "disabled", "reason": "spam complaints"})
    owner = enablement(held, is_operator=False)
    assert not owner.can_enable
    assert "spam complaints" in owner.reasons[0]
    assert "Only the operator" in owner.reasons[0]
    assert enablement(held, is_operator=True).can_enable


def test_paused_is_resumed_not_enabled():
    test = {"ok": True, "message": "ok", "tested_at": "2025-01-02T00:00:00Z"}
    found = enablement(
        server(state="paused", last_test=test, pause={"by": "bounces", "reason": "bounce rate 9 %"}),
        is_operator=True,
    )
    assert "bounces: bounce rate 9 %" in found.reasons[0]
    assert "resume" in found.reasons[0]


def test_an_active_server_needs_no_enable():
    assert not enablement(server(state="active"), is_operator=True).can_enable


def test_an_unverified_identity_is_a_note_since_the_catalog_may_not_require_it():
    test = {"ok": True, "message": "ok", "tested_at": "2025-01-02T00:00:00Z"}
    never = enablement(server(last_test=test, identity={"from_domains": ["example.com"]}), is_operator=False)
    assert never.can_enable
    assert "never checked" in never.notes[0]
    failed = enablement(
        server(
            last_test=test,
            identity={"from_domains": ["example.com"]},
            identity_verification={
                "verified": False,
                "checks": [
                    {"name": "dkim", "domain": "example.com", "ok": False},
                    {"name": "spf", "domain": "example.com", "ok": True},
                ],
            },
        ),
        is_operator=False,
    )
    assert "dkim for example.com" in failed.notes[0]
    assert "spf" not in failed.notes[0]
