"""Servers over HTTP: validation, what each role sees and may change, and what a change does to the state."""

from uuid import uuid4

from shared.contracts import ServerSettingsRequest
from shared.dkim_keys import parse_dkim_key
from tests.integration.catalog.support import (
    GOOD_HOST,
    all_servers,
    create_server,
    error_locs,
    eventually,
    smtp_settings,
    unique,
)
from tests.unit.catalog.dkim_keys import ec_key, pem, rsa_key


async def test_a_new_server_is_inactive_untested_and_shows_no_secret(operator):
    server = await create_server(operator, limits={"per_minute": 600})

    assert server["state"] == "inactive"
    assert server["last_test"] is None
    assert server["tenant_id"] is None and server["shared"] is False
    assert (server["type"], server["vendor"], server["version"]) == ("smtp", "smtp", 1)
    assert server["limits"]["per_minute"] == 600
    assert server["settings"] == {
        "host": GOOD_HOST,
        "port": 2525,
        "encryption": "tls",
        "username": "mailer",
        "verify_certificate": True,
    }
    read = await operator.get(f"/servers/{server['id']}")
    assert read.json() == server


async def test_bad_server_input_is_refused_naming_the_field(operator):
    def create(**fields):
        body = {"name": "s", "type": "smtp", "settings": smtp_settings(), **fields}
        return operator.post("/servers", json=body)

    unknown_type = await create(type="carrier-pigeon")
    assert unknown_type.status_code == 422
    assert error_locs(unknown_type) == [["body", "type"]]
    assert "carrier-pigeon" in unknown_type.json()["detail"][0]["msg"]

    assert error_locs(await create(settings=smtp_settings(port=70000))) == [["body", "settings", "port"]]
    assert error_locs(await create(settings=smtp_settings(host="mx.example\r\nRCPT TO:<x>"))) == [
        ["body", "settings", "host"]
    ]
    assert error_locs(await create(settings=smtp_settings(encryption="starttls"))) == [
        ["body", "settings", "encryption"]
    ]
    assert error_locs(await create(settings=smtp_settings(hots="typo"))) == [["body", "settings", "hots"]]
    assert error_locs(await create(limits={"per_second": 0})) == [["body", "limits", "per_second"]]
    assert error_locs(await create(tenant_id=str(uuid4()))) == [["body", "tenant_id"]]
    assert (await operator.get(f"/servers/{uuid4()}")).status_code == 404


async def test_tenants_see_their_own_and_their_plans_servers_only(operator, new_tenant):
    granted = await create_server(operator)
    not_granted = await create_server(operator)
    plan = (
        await operator.post("/plans", json={"name": unique("plan"), "server_ids": [granted["id"]]})
    ).json()
    alice = await new_tenant(plan["id"])
    bob = await new_tenant()

    alices = await create_server(alice.api)
    bobs = await create_server(bob.api)
    assert alices["tenant_id"] == alice.id and alices["shared"] is False
    for_bob = await create_server(operator, tenant_id=bob.id)
    assert for_bob["tenant_id"] == bob.id

    listed = {row["id"]: row["shared"] for row in await all_servers(alice.api)}
    assert listed == {granted["id"]: True, alices["id"]: False}
    assert (await alice.api.get(f"/servers/{granted['id']}")).json()["shared"] is True

    for hidden in (bobs["id"], not_granted["id"], for_bob["id"]):
        assert (await alice.api.get(f"/servers/{hidden}")).status_code == 404
        assert (await alice.api.patch(f"/servers/{hidden}", json={"name": "mine now"})).status_code == 404
        assert (await alice.api.post(f"/servers/{hidden}/test")).status_code == 404
        assert (await alice.api.post(f"/servers/{hidden}/enable")).status_code == 404
        assert (await alice.api.post(f"/servers/{hidden}/disable")).status_code == 404

    read_only = await alice.api.patch(f"/servers/{granted['id']}", json={"name": "mine now"})
    assert read_only.status_code == 403
    assert "only the operator" in read_only.json()["detail"]
    assert (await alice.api.post(f"/servers/{granted['id']}/disable")).status_code == 403

    everything = {row["id"] for row in await all_servers(operator)}
    assert {granted["id"], not_granted["id"], alices["id"], bobs["id"], for_bob["id"]} <= everything

    someone_else = await alice.api.post(
        "/servers", json={"name": "s", "type": "smtp", "settings": smtp_settings(), "tenant_id": bob.id}
    )
    assert someone_else.status_code == 403


async def test_a_plan_decides_whether_and_how_many_own_servers(operator, new_tenant):
    closed = (await operator.post("/plans", json={"name": "Pool only", "allow_own_servers": False})).json()
    quota = (await operator.post("/plans", json={"name": "Two", "server_quota": 2})).json()

    pool_only = await new_tenant(closed["id"])
    refused = await pool_only.api.post(
        "/servers", json={"name": "s", "type": "smtp", "settings": smtp_settings()}
    )
    assert refused.status_code == 403
    assert "does not allow tenants to add their own servers" in refused.json()["detail"]

    limited = await new_tenant(quota["id"])
    await create_server(limited.api)
    await create_server(limited.api)
    over = await limited.api.post("/servers", json={"name": "s", "type": "smtp", "settings": smtp_settings()})
    assert over.status_code == 403
    assert "allows 2 server(s) of your own and you have 2" in over.json()["detail"]


async def test_patch_merges_settings_and_only_a_settings_change_deactivates(operator, probe_worker):
    server = await create_server(operator)
    assert (await operator.post(f"/servers/{server['id']}/test")).json()["ok"] is True
    active = await operator.post(f"/servers/{server['id']}/enable")
    assert active.json()["state"] == "active"

    renamed = await operator.patch(
        f"/servers/{server['id']}", json={"name": "renamed", "limits": {"per_hour": 10}}
    )
    assert renamed.status_code == 200
    assert (renamed.json()["state"], renamed.json()["name"]) == ("active", "renamed")
    assert renamed.json()["version"] == active.json()["version"] + 1

    unchanged = await operator.patch(f"/servers/{server['id']}", json={"settings": {"port": 2525}})
    assert unchanged.json()["state"] == "active"
    assert unchanged.json()["version"] == renamed.json()["version"]

    changed = await operator.patch(
        f"/servers/{server['id']}", json={"settings": {"username": "other", "encryption": "ssl"}}
    )
    assert changed.status_code == 200
    body = changed.json()
    assert body["state"] == "inactive"
    assert body["settings"] == {**server["settings"], "username": "other", "encryption": "ssl"}
    assert body["settings_changed_at"] > server["settings_changed_at"]

    # The password was not sent again, yet the probe still gets it.
    await operator.post(f"/servers/{server['id']}/test")
    assert probe_worker[-1].settings.type_settings["password"] == smtp_settings()["password"]
    assert probe_worker[-1].settings.type_settings["username"] == "other"

    bad = await operator.patch(f"/servers/{server['id']}", json={"settings": {"port": 0}})
    assert bad.status_code == 422 and error_locs(bad) == [["body", "settings", "port"]]


async def test_warmup_and_destination_rules_are_kept_and_published(operator, bus):
    warmup = {
        "kind": "linear",
        "start_date": "2026-01-01",
        "start_volume": 50,
        "target_volume": 5000,
        "days": 14,
    }
    rules = [{"domain": "gmail.com", "limits": {"per_hour": 100}}]
    server = await create_server(operator, warmup=warmup, destination_rules=rules)
    assert server["warmup"]["start_volume"] == 50
    assert [(r["domain"], r["limits"]["per_hour"]) for r in server["destination_rules"]] == [
        ("gmail.com", 100)
    ]

    renamed = (await operator.patch(f"/servers/{server['id']}", json={"name": "renamed"})).json()
    assert renamed["warmup"] == server["warmup"]
    cleared = (
        await operator.patch(f"/servers/{server['id']}", json={"warmup": None, "destination_rules": []})
    ).json()
    assert (cleared["warmup"], cleared["destination_rules"], cleared["version"]) == (None, [], 3)

    await eventually(
        lambda: any(
            e.server and str(e.server.id) == server["id"] and e.server.version == 3 for e in bus.events
        )
    )
    published = [e.server for e in bus.events if e.server and str(e.server.id) == server["id"]]
    assert (
        published[0].warmup.target_volume == 5000 and published[0].destination_rules[0].domain == "gmail.com"
    )
    assert published[-1].warmup is None

    bad = await operator.post(
        "/servers",
        json={"name": "s", "type": "smtp", "settings": smtp_settings(), "warmup": {**warmup, "days": None}},
    )
    assert bad.status_code == 422 and error_locs(bad)[0][:2] == ["body", "warmup"]


async def test_identity_is_shown_without_its_key_and_changes_in_parts(operator, bus):
    key = pem(rsa_key())
    identity = {"from_domains": ["News.Example.com"], "dkim_selector": "s2026", "dkim_private_key": key}
    server = await create_server(operator, identity=identity, bounce_handling={"max_bounce_rate": 0.02})
    path = f"/servers/{server['id']}"

    shown = server["identity"]
    assert "dkim_private_key" not in shown and "PRIVATE KEY" not in str(server)
    assert (shown["from_domains"], shown["dkim_selector"], shown["dkim_algorithm"]) == (
        ["news.example.com"],
        "s2026",
        "rsa",
    )
    [record] = shown["dkim_dns_records"]
    assert record["name"] == "s2026._domainkey.news.example.com" and record["value"].startswith(
        "v=DKIM1; k=rsa; p=MII"
    )
    assert server["bounce_handling"] == {
        "max_bounce_rate": 0.02,
        "max_complaint_rate": 0.001,
        "min_volume": 200,
    }

    delivered = (await bus.ask(ServerSettingsRequest(server_id=server["id"])))["settings"]["identity"]
    assert delivered == {
        "from_domains": ["news.example.com"],
        "dkim_selector": "s2026",
        "dkim_private_key": parse_dkim_key(key).pem,
        "return_path_domain": None,
    }

    # A part changes; the key need not be sent again, and no connection setting changed.
    changed = (
        await operator.patch(path, json={"identity": {"return_path_domain": "bounce.example.com"}})
    ).json()
    assert (
        changed["identity"]["return_path_domain"],
        changed["version"],
        changed["settings_changed_at"],
    ) == (
        "bounce.example.com",
        2,
        server["settings_changed_at"],
    )
    assert (await bus.ask(ServerSettingsRequest(server_id=server["id"])))["settings"]["identity"][
        "dkim_private_key"
    ]
    same = (await operator.patch(path, json={"identity": {"from_domains": ["news.example.com"]}})).json()
    assert same["version"] == 2, "an identity that comes out the same is no change"

    unsigned = (
        await operator.patch(path, json={"identity": {"dkim_selector": None, "dkim_private_key": None}})
    ).json()
    assert (unsigned["identity"]["dkim_algorithm"], unsigned["identity"]["dkim_dns_records"]) == (None, [])
    removed = (await operator.patch(path, json={"identity": None})).json()
    assert removed["identity"] is None
    assert "identity" not in (await bus.ask(ServerSettingsRequest(server_id=server["id"])))["settings"]

    await eventually(
        lambda: any(
            e.server and str(e.server.id) == server["id"] and e.server.version == 4 for e in bus.events
        )
    )
    published = [e.server for e in bus.events if e.server and str(e.server.id) == server["id"]]
    assert published[0].identity.from_domains == ["news.example.com"]
    assert published[0].bounce_handling.max_bounce_rate == 0.02
    assert published[-1].identity is None


async def test_bad_input_names_the_field_and_the_problem(operator):
    def create(**fields):
        body = {"name": "s", "type": "smtp", "settings": smtp_settings(), **fields}
        return operator.post("/servers", json=body)

    async def refusal(response) -> tuple[list, str]:
        response = await response
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        return error["loc"], error["msg"]

    loc, msg = await refusal(create(name="Relay\r\nBcc: victim@example.com"))
    assert loc == ["body", "name"] and "CR, LF or NUL" in msg
    loc, msg = await refusal(create(identity={"from_domains": ["ok.example", "news.example\r\nBcc: x@y.z"]}))
    assert loc == ["body", "identity", "from_domains", 1] and "CR, LF or NUL" in msg
    loc, msg = await refusal(
        create(identity={"from_domains": ["ok.example"], "return_path_domain": "b.example\n"})
    )
    assert loc == ["body", "identity", "return_path_domain"] and "CR, LF or NUL" in msg
    loc, msg = await refusal(
        create(
            identity={"from_domains": ["ok.example"], "dkim_selector": "s1", "dkim_private_key": "-----BEGIN"}
        )
    )
    assert loc == ["body", "identity", "dkim_private_key"] and "is not a PEM private key" in msg
    loc, msg = await refusal(
        create(
            identity={
                "from_domains": ["ok.example"],
                "dkim_selector": "s1",
                "dkim_private_key": pem(ec_key()),
            }
        )
    )
    assert loc == ["body", "identity", "dkim_private_key"] and "RSA or Ed25519 keys only" in msg
    loc, msg = await refusal(create(identity={"from_domains": ["ok.example"], "dkim_selector": "s1"}))
    assert loc == ["body", "identity", "dkim_private_key"] and "go together" in msg
    warmup = {
        "kind": "linear",
        "start_date": "2026-01-01",
        "start_volume": 5000,
        "target_volume": 50,
        "days": 10,
    }
    loc, msg = await refusal(create(warmup=warmup))
    assert loc == ["body", "warmup"] and "start_volume must not exceed target_volume" in msg
    loc, msg = await refusal(create(bounce_handling={"max_bounce_rate": 2}))
    assert loc == ["body", "bounce_handling", "max_bounce_rate"]
    loc, msg = await refusal(create(settings=smtp_settings(port=0)))
    assert loc == ["body", "settings", "port"] and "greater than or equal to 1" in msg
    loc, msg = await refusal(create(type="ses"))
    assert loc == ["body", "type"] and "unknown server type 'ses'; known types: smtp, ses_api" in msg

    server = await create_server(operator)
    loc, msg = await refusal(
        operator.patch(f"/servers/{server['id']}", json={"identity": {"from_domains": []}})
    )
    assert loc == ["body", "identity", "from_domains"]
    loc, msg = await refusal(operator.patch(f"/servers/{server['id']}", json={"name": "x\ny"}))
    assert loc == ["body", "name"]
