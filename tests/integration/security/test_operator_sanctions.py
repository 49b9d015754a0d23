"""Attacks on the operator's sanctions and on stored credentials, against the real catalog.

A tenant tries to undo the operator's pause or disable (resume, enable, or shake it off by changing
the server's settings), and to point a stored credential at a host of its own (PATCH the host
alone, so that the next test sends the stored password there). Each must fail; a pause by the
bounces service stays the owner's to resume.
"""

from shared.contracts import PauseServerRequest, ServerSettingsReply, ServerSettingsRequest
from tests.integration.catalog.support import unique
from tests.integration.security.operator_fixtures import (
    Tenant,
    active_server,
    catalog,
    catalog_rpc,
    new_tenant,
    operator,
    passing_smtp_probes,
)

__all__ = ["catalog", "catalog_rpc", "new_tenant", "operator", "passing_smtp_probes"]

ABUSE = "spam complaints from abuse@bigmailbox.example"


async def tenants_active_server(new_tenant) -> tuple[Tenant, str]:
    """A new tenant, and the path of an active server of its own."""
    tenant = await new_tenant()
    server = await active_server(tenant.api)
    return tenant, f"/servers/{server['id']}"


async def test_an_operator_pause_binds_the_tenant_until_the_operator_resumes(
    operator, new_tenant, passing_smtp_probes
):
    tenant, path = await tenants_active_server(new_tenant)

    paused = await operator.post(f"{path}/pause", json={"reason": ABUSE})
    assert paused.status_code == 200, paused.text

    seen = (await tenant.api.get(path)).json()
    assert seen["state"] == "paused"
    assert (seen["hold"]["action"], seen["hold"]["reason"]) == ("paused", ABUSE)
    for attempt in ("resume", "enable"):
        refused = await tenant.api.post(f"{path}/{attempt}")
        assert refused.status_code == 403, (attempt, refused.text)
        assert "on hold" in refused.json()["detail"] and ABUSE in refused.json()["detail"]
        assert f"only the operator can {attempt} it" in refused.json()["detail"]
    test_send = await tenant.api.post(f"{path}/test-send", json={"to": "me@inbox.example"})
    assert test_send.status_code == 403 and "on hold" in test_send.json()["detail"]

    # New settings used to make the server inactive and the pause with it, ready for a test and enable.
    edited = await tenant.api.patch(path, json={"settings": {"username": "other-mailer"}})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["state"], edited.json()["hold"]["reason"]) == ("paused", ABUSE)
    assert (await tenant.api.post(f"{path}/test")).json()["ok"] is True
    assert (await tenant.api.post(f"{path}/enable")).status_code == 403
    assert (await tenant.api.post(f"{path}/resume")).status_code == 403
    assert (await tenant.api.get(path)).json()["state"] == "paused"

    lifted = await operator.post(f"{path}/resume")
    assert lifted.status_code == 200, lifted.text
    assert (lifted.json()["hold"], lifted.json()["pause"]) == (None, None)
    # Tested after its settings changed: back to work at once.
    assert lifted.json()["state"] == "active"
    assert (await tenant.api.post(f"{path}/pause", json={"reason": "mine"})).status_code == 200
    assert (await tenant.api.post(f"{path}/resume")).json()["state"] == "active"


async def test_lifting_a_hold_over_untested_settings_leaves_the_server_to_be_tested(
    operator, new_tenant, passing_smtp_probes
):
    tenant, path = await tenants_active_server(new_tenant)
    await operator.post(f"{path}/pause", json={"reason": ABUSE})
    await tenant.api.patch(path, json={"settings": {"username": "other-mailer"}})

    lifted = (await operator.post(f"{path}/resume")).json()

    assert (lifted["state"], lifted["hold"]) == ("inactive", None)
    assert (await tenant.api.post(f"{path}/test")).json()["ok"] is True
    assert (await tenant.api.post(f"{path}/enable")).json()["state"] == "active"


async def test_an_operator_disable_binds_the_tenant_until_the_operator_enables(
    operator, new_tenant, passing_smtp_probes
):
    tenant, path = await tenants_active_server(new_tenant)

    disabled = await operator.post(f"{path}/disable", json={"reason": ABUSE})
    assert disabled.status_code == 200, disabled.text
    assert (disabled.json()["state"], disabled.json()["hold"]["action"]) == ("disabled", "disabled")

    refused = await tenant.api.post(f"{path}/enable")
    assert refused.status_code == 403
    assert "the operator disabled it" in refused.json()["detail"] and ABUSE in refused.json()["detail"]
    edited = await tenant.api.patch(path, json={"settings": {"username": "other-mailer"}})
    assert (edited.json()["state"], edited.json()["hold"]["reason"]) == ("disabled", ABUSE)
    assert (await tenant.api.post(f"{path}/test")).json()["ok"] is True
    assert (await tenant.api.post(f"{path}/enable")).status_code == 403
    # The tenant's own disable keeps the operator's hold; a reason is the operator's to give.
    assert (await tenant.api.post(f"{path}/disable")).json()["hold"]["reason"] == ABUSE
    with_reason = await tenant.api.post(f"{path}/disable", json={"reason": "x"})
    assert with_reason.status_code == 422 and with_reason.json()["detail"][0]["loc"] == ["body", "reason"]

    lifted = await operator.post(f"{path}/enable")
    assert lifted.status_code == 200, lifted.text
    assert (lifted.json()["state"], lifted.json()["hold"]) == ("active", None)
    assert (await tenant.api.post(f"{path}/disable")).json()["hold"] is None
    assert (await tenant.api.post(f"{path}/enable")).json()["state"] == "active"


async def test_an_operator_disable_without_a_reason_still_holds(operator, new_tenant, passing_smtp_probes):
    tenant, path = await tenants_active_server(new_tenant)

    disabled = (await operator.post(f"{path}/disable")).json()

    assert disabled["hold"]["reason"] == "disabled by the operator"
    assert (await tenant.api.post(f"{path}/enable")).status_code == 403


async def test_an_operator_pause_over_the_tenants_own_pause_holds_it(
    operator, new_tenant, passing_smtp_probes
):
    tenant, path = await tenants_active_server(new_tenant)
    await tenant.api.post(f"{path}/pause", json={"reason": "my own"})

    held = (await operator.post(f"{path}/pause", json={"reason": ABUSE})).json()

    assert (held["pause"]["reason"], held["hold"]["reason"]) == ("my own", ABUSE)
    assert (await tenant.api.post(f"{path}/resume")).status_code == 403


async def test_a_pause_by_the_bounces_service_stays_the_owners_to_resume(
    new_tenant, catalog_rpc, passing_smtp_probes
):
    tenant, path = await tenants_active_server(new_tenant)

    await catalog_rpc(
        PauseServerRequest(server_id=server_id_of(path), reason="bounce rate 12% over 500 messages")
    )

    paused = (await tenant.api.get(path)).json()
    assert (paused["state"], paused["pause"]["by"], paused["hold"]) == ("paused", "bounces", None)
    resumed = await tenant.api.post(f"{path}/resume")
    assert (resumed.status_code, resumed.json()["state"]) == (200, "active")


def server_id_of(path: str) -> str:
    return path.rsplit("/", 1)[1]


async def stored_settings(catalog_rpc, server_id: str) -> dict:
    reply = ServerSettingsReply.model_validate(await catalog_rpc(ServerSettingsRequest(server_id=server_id)))
    return reply.settings.type_settings


async def test_a_new_host_needs_the_password_again(new_tenant, catalog_rpc, passing_smtp_probes):
    tenant, path = await tenants_active_server(new_tenant)

    for move in ({"host": "collector.attacker.example"}, {"port": 2526}, {"host": "x.example", "port": 25}):
        refused = await tenant.api.patch(path, json={"settings": move})
        assert refused.status_code == 422, (move, refused.text)
        [error] = refused.json()["detail"]
        assert error["loc"] == ["body", "settings", "password"]
        assert "give password again" in error["msg"] and "never sent to a new destination" in error["msg"]
    assert (await stored_settings(catalog_rpc, server_id_of(path)))["host"] == "smtp.relay.example"
    assert (await tenant.api.get(path)).json()["state"] == "active"

    # The same host again, or a field that is not where the server connects, keeps the secret.
    assert (
        await tenant.api.patch(path, json={"settings": {"host": "smtp.relay.example"}})
    ).status_code == 200
    assert (await tenant.api.patch(path, json={"settings": {"username": "m2"}})).status_code == 200
    assert (await stored_settings(catalog_rpc, server_id_of(path)))["password"] == "pw-1"

    moved = await tenant.api.patch(
        path, json={"settings": {"host": "smtp.new-relay.example", "password": "pw-for-the-new-relay"}}
    )
    assert moved.status_code == 200, moved.text
    stored = await stored_settings(catalog_rpc, server_id_of(path))
    assert (stored["host"], stored["password"]) == ("smtp.new-relay.example", "pw-for-the-new-relay")


async def test_every_secret_of_the_type_is_needed_for_a_new_token_endpoint(operator, new_tenant, catalog_rpc):
    tenant = await new_tenant()
    created = await tenant.api.post(
        "/servers",
        json={
            "name": unique("gmail"),
            "type": "gmail_oauth",
            "settings": {
                "email": "sender@gmail.example",
                "client_id": "id.apps.googleusercontent.com",
                "client_secret": "cs-1",
                "refresh_token": "rt-1",
            },
        },
    )
    path = f"/servers/{created.json()['id']}"

    half = await tenant.api.patch(
        path,
        json={"settings": {"token_url": "https://tokens.attacker.example/token", "client_secret": "cs-2"}},
    )

    assert half.status_code == 422
    assert [error["loc"] for error in half.json()["detail"]] == [["body", "settings", "refresh_token"]]
    assert "token_url changed" in half.json()["detail"][0]["msg"]
    stored = await stored_settings(catalog_rpc, created.json()["id"])
    assert (stored["token_url"], stored["client_secret"]) == ("https://oauth2.googleapis.com/token", "cs-1")
    # The operator is held to the same rule: the stored secret never follows a new destination.
    assert (
        await operator.patch(path, json={"settings": {"host": "smtp.attacker.example"}})
    ).status_code == 422
