"""Attacks on the shared worker through server types that use the platform's own machine or IPs,
against the real catalog and a real `sendmail` delivery worker.

A tenant tries to add a `sendmail` server whose `path` is a program of its choice (run on the
shared worker with the worker's environment: the broker's and the database's URLs, the VERP key),
or a `direct_mx` server sending from the platform's IPs. Only the operator provisions such servers,
the program is the operator's setting, and it runs with a minimal environment.
"""

import json
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.integration.catalog.support import unique
from tests.integration.security.operator_fixtures import (
    active_server,
    catalog,
    new_tenant,
    operator,
    passing_smtp_probes,
)
from tests.support.infra import free_port
from tests.support.processes import ServiceProcess

__all__ = ["catalog", "new_tenant", "operator", "passing_smtp_probes"]

ENVIRONMENT_DUMPING_SENDMAIL = """#!{python}
import json, os, sys
sys.stdin.buffer.read()
with open({dump!r}, "w") as dump:
    json.dump(dict(os.environ), dump)
"""


@pytest.fixture(scope="module")
def sendmail_program(tmp_path_factory) -> Path:
    """The operator's sendmail: it swallows the message and writes down the environment it was given."""
    directory = tmp_path_factory.mktemp("operator-sendmail")
    program = directory / "sendmail"
    program.write_text(
        ENVIRONMENT_DUMPING_SENDMAIL.format(python=sys.executable, dump=str(directory / "environment.json"))
    )
    program.chmod(0o755)
    return program


@pytest.fixture(scope="module")
def sendmail_worker(catalog, service_env, logs_dir, sendmail_program) -> ServiceProcess:
    env = {
        **service_env,
        "SENDPOOL_DELIVERY_VENDOR": "sendmail",
        "SENDPOOL_DELIVERY_SENDMAIL_PATH": str(sendmail_program),
    }
    process = ServiceProcess("delivery", free_port(), env, logs_dir / "operator-sendmail.log")
    process.start(timeout=120)
    yield process
    process.stop()


@pytest.mark.parametrize("type_", ["sendmail", "direct_mx"])
async def test_a_tenant_cannot_add_a_server_that_runs_on_the_platform(new_tenant, operator, type_):
    tenant = await new_tenant()

    refused = await tenant.api.post("/servers", json={"name": unique(type_), "type": type_, "settings": {}})

    assert refused.status_code == 403, refused.text
    assert f"server type {type_!r} runs on the platform's own machine" in refused.json()["detail"]
    types = {listed["name"]: listed for listed in (await tenant.api.get("/server-types")).json()}
    assert types[type_]["operator_only"] is True and types["smtp"]["operator_only"] is False
    # Not even for a tenant: the operator's such servers are pool servers, granted through plans.
    for_a_tenant = await operator.post(
        "/servers", json={"name": unique(type_), "type": type_, "settings": {}, "tenant_id": tenant.id}
    )
    assert for_a_tenant.status_code == 422 and for_a_tenant.json()["detail"][0]["loc"] == [
        "body",
        "tenant_id",
    ]


async def test_nobody_chooses_the_sendmail_program_per_server(new_tenant, operator):
    tenant = await new_tenant()
    body = {"name": unique("sendmail"), "type": "sendmail", "settings": {"path": "/tmp/tenant-program"}}

    for api in (tenant.api, operator):
        refused = await api.post("/servers", json=body)
        assert refused.status_code == 422, refused.text
        [error] = refused.json()["detail"]
        assert error["loc"] == ["body", "settings", "path"]
        assert "SENDPOOL_DELIVERY_SENDMAIL_PATH" in error["msg"]
    schema = {listed["name"]: listed for listed in (await operator.get("/server-types")).json()}["sendmail"]
    assert "path" not in schema["settings_schema"]["properties"]


async def test_the_operators_sendmail_serves_the_plans_tenants_and_its_program_gets_no_secrets(
    operator, new_tenant, sendmail_worker, sendmail_program, service_env
):
    created = await operator.post(
        "/servers", json={"name": unique("platform-sendmail"), "type": "sendmail", "settings": {}}
    )
    assert created.status_code == 201, created.text
    server_id = created.json()["id"]
    tested = (await operator.post(f"/servers/{server_id}/test")).json()
    assert tested["ok"] is True, tested
    assert (await operator.post(f"/servers/{server_id}/enable")).json()["state"] == "active"
    plan = await operator.post("/plans", json={"name": unique("plan"), "server_ids": [server_id]})
    tenant = await new_tenant(plan.json()["id"])

    [granted] = [s for s in (await tenant.api.get("/servers")).json()["items"] if s["id"] == server_id]
    assert (granted["shared"], granted["state"], granted["type"]) == (True, "active", "sendmail")

    sent = await operator.post(
        f"/servers/{server_id}/test-send",
        json={"to": "reader@inbox.example", "from_address": "ops@platform.example"},
    )
    assert sent.status_code == 200 and sent.json()["ok"] is True, sent.text

    environment = json.loads((sendmail_program.parent / "environment.json").read_text())
    # Python itself adds LC_CTYPE when it finds the C locale (PEP 538); nothing else may be there.
    assert set(environment) - {"LC_CTYPE"} == {"PATH", "LANG"}, sorted(environment)
    assert environment["PATH"] == "/usr/sbin:/usr/bin:/bin"
    every_value = json.dumps(environment)
    for name, value in service_env.items():  # URLs, secrets; short ones ("1", "INFO") would match by chance
        assert len(value) < 8 or value not in every_value, f"the worker's {name} reached the sendmail program"


async def test_a_tenants_sendmail_server_saved_before_the_change_stays_off(
    new_tenant, passing_smtp_probes, database_url
):
    tenant = await new_tenant()
    server = await active_server(tenant.api)
    await tenant.api.post(f"/servers/{server['id']}/disable")
    # What a tenant could save before sendmail became the operator's (the migration drops the path).
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "UPDATE catalog.servers SET type = 'sendmail', vendor = 'sendmail', settings = '{}' WHERE id = $1",
            server["id"],
        )
    finally:
        await conn.close()

    refused = await tenant.api.post(f"/servers/{server['id']}/enable")

    assert refused.status_code == 403, refused.text
    assert "only the operator can enable it" in refused.json()["detail"]
