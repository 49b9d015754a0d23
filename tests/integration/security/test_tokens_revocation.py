"""Attack: keep using a leaked tenant token. Against a real catalog, scheduler and router (their own
database and vhost), a revoked token is refused by all three within seconds, by a service started
after the revocation too; an expired token is refused by everyone; tokens are listed without the
secret; another tenant can neither list nor revoke them; a token of the earlier format can be revoked.

Before tokens had ids there was no way to revoke one (no endpoint, no check), so every test here
that revokes fails on that code, and an expired token was a format it did not know.
"""

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from shared.auth import issue_tenant_token
from tests.support.api import bearer
from tests.support.infra import free_port, fresh_test_database, fresh_test_vhost
from tests.support.processes import ServiceProcess

REFUSAL_DEADLINE_SECONDS = 5.0
"""How soon every service must refuse a revoked token (the brief: "within a couple of seconds")."""


@dataclass
class Stack:
    env: dict[str, str]
    logs: Path
    catalog: ServiceProcess
    scheduler: ServiceProcess
    router: ServiceProcess

    @property
    def token_secret(self) -> str:
        return self.env["SENDPOOL_TOKEN_SECRET"]

    @property
    def operator_token(self) -> str:
        return self.env["SENDPOOL_OPERATOR_TOKEN"]


@pytest.fixture(scope="module")
def stack(service_env, logs_dir) -> Iterator[Stack]:
    """Its own database and vhost: a revocation here must reach these processes, and nobody else's."""
    with (
        fresh_test_database("sendpool_tokens") as database_url,
        fresh_test_vhost("sendpool-tokens") as amqp_url,
    ):
        env = {**service_env, "SENDPOOL_DATABASE_URL": database_url, "SENDPOOL_AMQP_URL": amqp_url}
        logs = logs_dir / "tokens"
        logs.mkdir(exist_ok=True)
        started: list[ServiceProcess] = []
        try:
            # One at a time, the catalog first: the router asks it for a snapshot as it starts.
            for name in ("catalog", "scheduler", "router"):
                started.append(ServiceProcess(name, free_port(), env, logs / f"{name}.log").start())
            yield Stack(env, logs, *started)
        finally:
            for process in reversed(started):
                process.stop()


@dataclass
class Tenant:
    id: str
    token: str
    token_id: str


@pytest.fixture
def new_tenant(stack: Stack, http: httpx.AsyncClient) -> Callable[[], Awaitable[Tenant]]:
    async def create() -> Tenant:
        created = await http.post(
            f"{stack.catalog.url}/tenants",
            json={"name": f"tenant-{uuid4().hex[:8]}"},
            headers=bearer(stack.operator_token),
        )
        assert created.status_code == 201, created.text
        body = created.json()
        return Tenant(body["id"], body["token"], body["token_id"])

    return create


async def issue(stack: Stack, http: httpx.AsyncClient, tenant: Tenant, **body: object) -> dict:
    issued = await http.post(
        f"{stack.catalog.url}/tenants/{tenant.id}/tokens", json=body, headers=bearer(stack.operator_token)
    )
    assert issued.status_code == 201, issued.text
    return issued.json()


async def use_everywhere(
    stack: Stack, http: httpx.AsyncClient, token: str, *, router: ServiceProcess | None = None
) -> dict[str, httpx.Response]:
    """One authenticated call to each service as the token's holder: the catalog's server list,
    a new recipient list in the scheduler, a dry run in the router."""
    return {
        "catalog": await http.get(f"{stack.catalog.url}/servers", headers=bearer(token)),
        "scheduler": await http.post(
            f"{stack.scheduler.url}/lists", json={"name": "leak"}, headers=bearer(token)
        ),
        "router": await http.post(
            f"{(router or stack.router).url}/campaigns/{uuid4()}/dry-run",
            json={"messages": 10},
            headers=bearer(token),
        ),
    }


def assert_accepted(answers: dict[str, httpx.Response]) -> None:
    for service, answer in answers.items():
        assert answer.status_code < 400, (service, answer.status_code, answer.text)


async def assert_refused_everywhere(
    stack: Stack,
    http: httpx.AsyncClient,
    token: str,
    detail: str,
    *,
    within: float = REFUSAL_DEADLINE_SECONDS,
) -> None:
    """Every service answers 401 `detail` for the token within `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        answers = await use_everywhere(stack, http, token)
        refused = {
            service: answer.status_code == 401 and answer.json()["detail"] == detail
            for service, answer in answers.items()
        }
        if all(refused.values()):
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(
                f"not refused with {detail!r} within {within}s: "
                + ", ".join(f"{s} {a.status_code} {a.text[:120]}" for s, a in answers.items())
            )
        await asyncio.sleep(0.2)


def earlier_format_token(secret: str, tenant_id: str) -> str:
    """A token as sendpool issued them before tokens had ids: `spt_<tenant>.<random>.<signature>`."""
    payload = f"{tenant_id}.{secrets.token_urlsafe(12)}"
    return f"spt_{payload}.{hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]}"


async def test_a_revoked_token_is_refused_by_every_service_within_seconds(stack, http, new_tenant):
    tenant = await new_tenant()
    leaked = await issue(stack, http, tenant, label="ci runner")
    assert_accepted(await use_everywhere(stack, http, leaked["token"]))

    revoked = await http.delete(
        f"{stack.catalog.url}/tenants/{tenant.id}/tokens/{leaked['id']}", headers=bearer(tenant.token)
    )

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    assert revoked.json()["revoked_by"] == f"tenant {tenant.id}"
    await assert_refused_everywhere(stack, http, leaked["token"], "token revoked")
    # The tenant's other token is untouched.
    assert_accepted(await use_everywhere(stack, http, tenant.token))


async def test_a_service_started_after_the_revocation_refuses_the_token_too(stack, http, new_tenant):
    tenant = await new_tenant()
    leaked = await issue(stack, http, tenant)
    revoked = await http.delete(
        f"{stack.catalog.url}/tenants/{tenant.id}/tokens/{leaked['id']}", headers=bearer(stack.operator_token)
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_by"] == "operator"
    await assert_refused_everywhere(stack, http, leaked["token"], "token revoked")

    # It never heard the event: it learns of the revocation from the catalog as it starts.
    late = ServiceProcess("router", free_port(), stack.env, stack.logs / "router-late.log").start()
    try:
        answer = (await use_everywhere(stack, http, leaked["token"], router=late))["router"]
        assert answer.status_code == 401 and answer.json()["detail"] == "token revoked", answer.text
        accepted = (await use_everywhere(stack, http, tenant.token, router=late))["router"]
        assert accepted.status_code == 200, accepted.text
    finally:
        late.stop()


async def test_an_expired_token_is_refused_by_every_service(stack, http, new_tenant):
    tenant = await new_tenant()
    expiring = await issue(stack, http, tenant, label="one hour", expires_in_seconds=3600)
    assert_accepted(await use_everywhere(stack, http, expiring["token"]))
    expires_at = datetime.fromisoformat(expiring["expires_at"])
    assert timedelta(minutes=59) < expires_at - datetime.now(UTC) <= timedelta(hours=1)

    # The signing key is the platform's: this is the same tenant's token, an hour later.
    expired = issue_tenant_token(
        stack.token_secret, tenant.id, expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    await assert_refused_everywhere(stack, http, expired, "token expired", within=0)
    # Changing the expiry in a token breaks its signature.
    prefix, _, signature = expired.rpartition(".")
    extended = prefix.rsplit(".", 1)[0] + f".{int(datetime.now(UTC).timestamp()) + 3600}.{signature}"
    await assert_refused_everywhere(stack, http, extended, "invalid token", within=0)


async def test_listing_shows_what_each_token_is_and_never_the_token(stack, http, new_tenant):
    tenant = await new_tenant()
    further = await issue(stack, http, tenant, label="deploy", expires_in_seconds=86400)

    for caller in (tenant.token, stack.operator_token):
        listed = await http.get(f"{stack.catalog.url}/tenants/{tenant.id}/tokens", headers=bearer(caller))
        assert listed.status_code == 200, listed.text
        rows = {row["id"]: row for row in listed.json()}
        assert set(rows) == {tenant.token_id, further["id"]}
        assert rows[further["id"]]["label"] == "deploy" and rows[further["id"]]["expires_at"] is not None
        assert rows[tenant.token_id]["expires_at"] is None and rows[tenant.token_id]["revoked_at"] is None
        assert all("token" not in row for row in rows.values())
        for token in (tenant.token, further["token"]):
            assert token.rsplit(".", 1)[1] not in listed.text  # the signature: the secret part


async def test_another_tenant_can_neither_list_nor_revoke_a_tenants_tokens(stack, http, new_tenant):
    victim, attacker = await new_tenant(), await new_tenant()
    as_attacker = bearer(attacker.token)
    tokens_url = f"{stack.catalog.url}/tenants/{victim.id}/tokens"

    listed = await http.get(tokens_url, headers=as_attacker)
    revoked_by_id = await http.delete(f"{tokens_url}/{victim.token_id}", headers=as_attacker)
    revoked_in_full = await http.post(
        f"{stack.catalog.url}/tokens/revoke", json={"token": victim.token}, headers=as_attacker
    )
    # Its own tenant id with the victim's token id: still not its token.
    crossed = await http.delete(
        f"{stack.catalog.url}/tenants/{attacker.id}/tokens/{victim.token_id}", headers=as_attacker
    )
    issued = await http.post(tokens_url, json={}, headers=as_attacker)

    assert [r.status_code for r in (listed, revoked_by_id, revoked_in_full, crossed)] == [404] * 4
    assert issued.status_code == 403  # issuing is the operator's, even for itself
    assert_accepted(await use_everywhere(stack, http, victim.token))


async def test_a_token_of_the_earlier_format_works_and_can_be_revoked(stack, http, new_tenant):
    tenant = await new_tenant()
    earlier = earlier_format_token(stack.token_secret, tenant.id)
    assert_accepted(await use_everywhere(stack, http, earlier))

    revoked = await http.post(
        f"{stack.catalog.url}/tokens/revoke", json={"token": earlier}, headers=bearer(tenant.token)
    )

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["id"] == earlier.split(".")[1]  # its id: its random part
    await assert_refused_everywhere(stack, http, earlier, "token revoked")
    listed = await http.get(f"{stack.catalog.url}/tenants/{tenant.id}/tokens", headers=bearer(tenant.token))
    assert {row["id"]: row["created_at"] for row in listed.json()}[revoked.json()["id"]] is None


async def test_a_token_that_is_not_the_platforms_cannot_be_revoked(stack, http, new_tenant):
    tenant = await new_tenant()
    forged = issue_tenant_token("not-the-platform-key", tenant.id)

    answer = await http.post(
        f"{stack.catalog.url}/tokens/revoke", json={"token": forged}, headers=bearer(tenant.token)
    )

    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "token"]
