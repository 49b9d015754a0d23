"""Testing a server for real through the vendor's delivery worker, and the rule that guards enabling it."""

from datetime import datetime

from tests.integration.catalog.support import (
    GOOD_HOST,
    PASSWORD,
    PLUGIN_SETTINGS,
    PLUGIN_TYPE,
    create_server,
    smtp_settings,
    unique,
)


async def test_a_server_is_enabled_only_after_a_passing_test_of_its_current_settings(
    new_tenant, probe_worker
):
    tenant = await new_tenant()
    api = tenant.api
    created = await api.post(
        "/servers", json={"name": unique("s"), "type": "smtp", "settings": smtp_settings(host="down.example")}
    )
    server_id = created.json()["id"]
    assert probe_worker == [], "saving a server must not probe it"

    never = await api.post(f"/servers/{server_id}/enable")
    assert never.status_code == 409
    assert "never tested" in never.json()["detail"]

    failed = await api.post(f"/servers/{server_id}/test")
    assert failed.status_code == 200
    assert failed.json()["ok"] is False
    assert failed.json()["message"] == "Connection failed: cannot connect to down.example:2525"
    refused = await api.post(f"/servers/{server_id}/enable")
    assert refused.status_code == 409
    assert (
        "last test failed: Connection failed: cannot connect to down.example:2525" in refused.json()["detail"]
    )

    # A new host needs the password again: a stored secret never follows a new destination.
    await api.patch(f"/servers/{server_id}", json={"settings": {"host": GOOD_HOST, "password": PASSWORD}})
    stale = await api.post(f"/servers/{server_id}/enable")
    assert stale.status_code == 409
    assert "settings changed since the last test" in stale.json()["detail"]

    passed = await api.post(f"/servers/{server_id}/test")
    assert passed.json()["ok"] is True
    assert passed.json()["message"] == "Connection successful."
    assert datetime.fromisoformat(passed.json()["tested_at"]) > datetime.fromisoformat(
        failed.json()["tested_at"]
    )
    probe = probe_worker[-1]
    assert (str(probe.server_id), probe.type) == (server_id, "smtp")
    assert probe.settings.type_settings == {
        **smtp_settings(),
        "encryption": "tls",
        "verify_certificate": True,
    }
    assert probe.settings.identity is None

    enabled = await api.post(f"/servers/{server_id}/enable")
    assert enabled.status_code == 200
    assert enabled.json()["state"] == "active"
    assert enabled.json()["last_test"]["message"] == "Connection successful."

    disabled = await api.post(f"/servers/{server_id}/disable")
    assert disabled.json()["state"] == "disabled"
    # The passing test still covers the current settings, so enabling again needs no new test.
    assert (await api.post(f"/servers/{server_id}/enable")).json()["state"] == "active"

    await api.post(f"/servers/{server_id}/disable")
    await api.patch(f"/servers/{server_id}", json={"settings": {"password": PASSWORD + "-rotated"}})
    assert (await api.get(f"/servers/{server_id}")).json()["state"] == "inactive"
    assert (await api.post(f"/servers/{server_id}/enable")).status_code == 409


async def test_a_test_without_a_delivery_worker_fails_with_the_reason(operator):
    # Nothing ever runs a worker of the plugin type's vendor, so its probe queue does not exist.
    server_id = (await create_server(operator, type=PLUGIN_TYPE, settings=PLUGIN_SETTINGS))["id"]

    tested = await operator.post(f"/servers/{server_id}/test")

    assert tested.status_code == 200
    body = tested.json()
    assert body["ok"] is False
    assert body["message"] == (
        "Connection failed: no delivery worker for vendor postal is running (no queue delivery.probe.postal)"
    )
    read = (await operator.get(f"/servers/{server_id}")).json()
    assert read["last_test"] == body
    assert (await operator.post(f"/servers/{server_id}/enable")).status_code == 409
