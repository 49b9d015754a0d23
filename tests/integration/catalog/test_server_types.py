"""`GET /server-types`: the type picker's data, built-in types and an installed plugin's alike."""

from tests.integration.catalog.support import (
    PLUGIN_SETTINGS,
    PLUGIN_TYPE,
    all_servers,
    create_server,
    error_locs,
    unique,
)

BUILT_IN = {
    "smtp", "ses_api", "ses_smtp", "sendgrid_api", "sendgrid_smtp", "mailgun_api", "mailgun_smtp",
    "sparkpost_api", "sparkpost_smtp", "elasticemail_api", "elasticemail_smtp", "sendmail", "gmail_oauth",
    "direct_mx",
}  # fmt: skip


async def test_every_type_is_listed_with_its_form_and_write_only_secrets(new_tenant, anonymous):
    tenant = await new_tenant()

    listed = await tenant.api.get("/server-types")

    assert listed.status_code == 200
    types = {row["name"]: row for row in listed.json()}
    assert set(types) == BUILT_IN | {PLUGIN_TYPE}
    assert list(types)[-1] == PLUGIN_TYPE, "plugins come after the built-in types"
    smtp = types["smtp"]
    assert (smtp["vendor"], smtp["integration"], smtp["secret_fields"]) == ("smtp", "smtp", ["password"])
    form = smtp["settings_schema"]
    assert form["required"] == ["host"]
    assert form["properties"]["port"]["default"] == 587
    assert form["properties"]["encryption"]["enum"] == ["tls", "ssl", "none"]
    assert form["properties"]["password"]["anyOf"][0]["writeOnly"] is True
    gmail = types["gmail_oauth"]
    assert gmail["secret_fields"] == ["client_secret", "refresh_token"]
    assert all(gmail["settings_schema"]["properties"][name]["writeOnly"] for name in gmail["secret_fields"])
    assert (types["ses_api"]["vendor"], types["ses_api"]["integration"]) == ("ses", "api")
    assert (types["sendmail"]["integration"], types["direct_mx"]["vendor"]) == ("local", "mx")

    assert (await anonymous.get("/server-types")).status_code == 401


async def test_a_plugin_type_is_used_like_a_built_in_one(operator):
    plugin = {row["name"]: row for row in (await operator.get("/server-types")).json()}[PLUGIN_TYPE]
    assert (plugin["vendor"], plugin["integration"], plugin["title"]) == (
        "postal",
        "api",
        "Postal (self-hosted) HTTP API",
    )
    assert plugin["secret_fields"] == ["server_key"]

    server = await create_server(operator, type=PLUGIN_TYPE, settings=PLUGIN_SETTINGS)
    assert (server["type"], server["vendor"], server["settings"]) == (
        PLUGIN_TYPE,
        "postal",
        {"base_url": "https://postal.example"},
    )
    assert server["id"] in {row["id"] for row in await all_servers(operator, type=PLUGIN_TYPE)}

    missing = await operator.post(
        "/servers", json={"name": "p", "type": PLUGIN_TYPE, "settings": {"base_url": "x"}}
    )
    assert missing.status_code == 422 and error_locs(missing) == [["body", "settings", "server_key"]]


async def test_a_server_of_each_built_in_type_can_be_added(operator):
    settings = {
        "smtp": {"host": "mx.example"},
        "ses_api": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "s", "region": "eu-west-1"},
        "ses_smtp": {"region": "us-east-1", "username": "u", "password": "p"},
        "sendgrid_api": {"api_key": "k"},
        "sendgrid_smtp": {"api_key": "k"},
        "mailgun_api": {"api_key": "k", "domain": "mg.example.com", "region": "eu"},
        "mailgun_smtp": {"username": "u", "password": "p"},
        "sparkpost_api": {"api_key": "k"},
        "sparkpost_smtp": {"api_key": "k", "region": "eu"},
        "elasticemail_api": {"api_key": "k"},
        "elasticemail_smtp": {"username": "u", "password": "p"},
        "sendmail": {},
        "gmail_oauth": {
            "email": "me@example.com",
            "client_id": "c",
            "client_secret": "s",
            "refresh_token": "r",
        },
        "direct_mx": {"helo_hostname": "mta.example.com"},
    }
    assert set(settings) == BUILT_IN
    vendors = {row["name"]: row["vendor"] for row in (await operator.get("/server-types")).json()}

    for type_, given in settings.items():
        created = await operator.post(
            "/servers", json={"name": unique(type_), "type": type_, "settings": given}
        )
        assert created.status_code == 201, (type_, created.text)
        assert (created.json()["type"], created.json()["vendor"], created.json()["state"]) == (
            type_,
            vendors[type_],
            "inactive",
        )
