"""Identity verification for real: a catalog process that asks a local DNS server (FakeDns) and
requires verified identities, on this run's database and vhost beside the package's catalog.

`POST /servers/{id}/verify` passes on right records and fails with what to publish on wrong ones;
enable is refused until the records are fixed; a silent name server is "could not check", not a
missing record; and nobody verifies a server that is not theirs.
"""

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from services.catalog.adapters.dns_resolver import AiodnsLookup
from services.catalog.domain.identity_checks import DnsQuestion, LookupStatus, MailExchange
from shared.dkim_keys import parse_dkim_key
from tests.integration.catalog.support import OPERATOR_TOKEN, client, create_server, unique
from tests.support.dns import FakeDns
from tests.support.infra import free_port
from tests.support.processes import ServiceProcess
from tests.unit.catalog.dkim_keys import ed25519_key, pem, rsa_key

BOUNCE_HOST = "bounces.sendpool.test"
SPF_INCLUDE = "_spf.sendpool.test"
DNS_TIMEOUT_SECONDS = 1.5


@pytest.fixture(scope="module")
def dns() -> FakeDns:
    with FakeDns() as server:
        yield server


@pytest.fixture(scope="module")
def verifying_catalog(service_env, dns, logs_dir, catalog) -> ServiceProcess:
    """A second catalog replica, configured as an operator who requires verified identities.
    (It depends on the package's catalog so that the two do not migrate the schema at once.)"""
    env = {
        **service_env,
        "SENDPOOL_CATALOG_DNS_NAMESERVERS": dns.nameserver,
        "SENDPOOL_CATALOG_DNS_TIMEOUT_SECONDS": str(DNS_TIMEOUT_SECONDS),
        "SENDPOOL_CATALOG_BOUNCE_MX_HOSTS": BOUNCE_HOST,
        "SENDPOOL_CATALOG_SPF_INCLUDE": SPF_INCLUDE,
        "SENDPOOL_CATALOG_REQUIRE_VERIFIED_IDENTITY": "true",
        "SENDPOOL_CATALOG_PROBE_TIMEOUT_SECONDS": "5",
    }
    process = ServiceProcess("catalog", free_port(), env, logs_dir / "catalog-verifying.log").start()
    yield process
    process.stop()


@pytest.fixture
async def api(verifying_catalog, responses) -> AsyncIterator[callable]:
    """Clients of the verifying catalog: the operator's, and a new tenant's per call."""
    opened: list[httpx.AsyncClient] = []

    async def for_token(token: str) -> httpx.AsyncClient:
        opened.append(client(verifying_catalog.url, token, responses))
        return opened[-1]

    yield for_token
    for each in opened:
        await each.aclose()


async def new_tenant(api) -> httpx.AsyncClient:
    operator = await api(OPERATOR_TOKEN)
    created = await operator.post("/tenants", json={"name": unique("tenant")})
    assert created.status_code == 201, created.text
    return await api(created.json()["token"])


def publish_good_records(dns: FakeDns, domain: str, key_record: str, selector: str = "s1") -> None:
    dns.txt(f"{selector}._domainkey.{domain}", key_record)
    dns.txt(f"_dmarc.{domain}", "v=DMARC1; p=quarantine; aspf=r; adkim=r")
    dns.mx(f"bounces.{domain}", (10, BOUNCE_HOST))
    dns.txt(f"bounces.{domain}", f"v=spf1 include:{SPF_INCLUDE} -all", "other-verification=abc")


def identity_of(domain: str, key_pem: str, selector: str = "s1") -> dict:
    return {
        "from_domains": [domain],
        "dkim_selector": selector,
        "dkim_private_key": key_pem,
        "return_path_domain": f"bounces.{domain}",
    }


async def signing_server(api, dns: FakeDns, key_pem: str, *, published: bool = True) -> tuple:
    """A new tenant, and its server signing for a new domain with `key_pem` (whose records are
    published right if `published`): (the tenant's client, the domain, the server)."""
    tenant = await new_tenant(api)
    domain = f"{unique('domain')}.test"
    if published:
        publish_good_records(dns, domain, _record(key_pem))
    server = await create_server(tenant, identity=identity_of(domain, key_pem))
    return tenant, domain, server


def checks_by_name(server: dict) -> dict[str, dict]:
    return {check["name"]: check for check in server["identity_verification"]["checks"]}


async def test_right_records_verify_and_the_outcome_is_shown_on_the_server_and_in_the_list(api, dns):
    tenant, domain, server = await signing_server(api, dns, pem(rsa_key()))
    assert server["identity_verification"] is None  # saving never waits on DNS

    verified = await tenant.post(f"/servers/{server['id']}/verify")
    assert verified.status_code == 200, verified.text
    verification = verified.json()["identity_verification"]
    assert verification["verified"], verification
    checks = checks_by_name(verified.json())
    assert set(checks) == {"dkim", "return_path_mx", "spf", "dmarc", "alignment"}
    assert checks["spf"]["found"] == f"v=spf1 include:{SPF_INCLUDE} -all"
    assert checks["return_path_mx"]["domain"] == f"bounces.{domain}"
    assert all(check["publish"] is None for check in checks.values())
    assert verified.json()["version"] == server["version"] + 1

    read = (await tenant.get(f"/servers/{server['id']}")).json()
    assert read["identity_verification"] == verification
    listed = (await tenant.get("/servers")).json()["items"]
    assert [item["identity_verification"] for item in listed if item["id"] == server["id"]] == [verification]


async def test_an_ed25519_key_verifies(api, dns):
    tenant, _, server = await signing_server(api, dns, pem(ed25519_key()))
    verified = await tenant.post(f"/servers/{server['id']}/verify")
    assert verified.json()["identity_verification"]["verified"], verified.text


async def test_wrong_records_fail_with_what_to_publish(api, dns):
    tenant = await new_tenant(api)
    domain = f"{unique('bad')}.test"
    key_pem = pem(rsa_key())
    other_key = pem(rsa_key(1024))
    dns.txt(f"s1._domainkey.{domain}", _record(other_key))  # another key's record
    dns.mx(f"bounces.{domain}", (10, "mx.elsewhere.test"))
    dns.txt(f"bounces.{domain}", "v=spf1 mx -all", "v=spf1 a -all")  # two: a permanent error
    server = await create_server(tenant, identity=identity_of(domain, key_pem))

    checks = checks_by_name((await tenant.post(f"/servers/{server['id']}/verify")).json())
    assert not any(check["ok"] for name, check in checks.items() if name != "alignment")
    assert checks["dkim"]["publish"] == f's1._domainkey.{domain} TXT "{_record(key_pem)}"'
    assert "not the public half" in checks["dkim"]["detail"]
    assert checks["return_path_mx"]["publish"] == f"bounces.{domain} MX 10 {BOUNCE_HOST}"
    assert "mx.elsewhere.test" in checks["return_path_mx"]["found"]
    assert "RFC 7208" in checks["spf"]["detail"]
    assert checks["dmarc"]["publish"] == f'_dmarc.{domain} TXT "v=DMARC1; p=none; adkim=r; aspf=r"'
    # No DMARC record: relaxed by default, so the Return-Path subdomain aligns, but SPF itself fails.
    assert not checks["alignment"]["ok"] and "SPF for the Return-Path domain" in checks["alignment"]["detail"]


async def test_require_verified_refuses_enable_until_the_records_are_fixed(api, dns, probe_worker):
    key_pem = pem(rsa_key())
    tenant, domain, server = await signing_server(api, dns, key_pem, published=False)
    tested = await tenant.post(f"/servers/{server['id']}/test")
    assert tested.json()["ok"], tested.text

    refused = await tenant.post(f"/servers/{server['id']}/enable")
    assert refused.status_code == 409, refused.text
    message = str(refused.json()["detail"])
    assert "requires a verified identity" in message
    assert f"dkim for {domain}" in message and f"s1._domainkey.{domain} TXT" in message
    # The check run by the refused enable is kept: the owner sees what to publish.
    kept = (await tenant.get(f"/servers/{server['id']}")).json()
    assert kept["state"] == "inactive"
    assert kept["identity_verification"]["verified"] is False

    publish_good_records(dns, domain, _record(key_pem))
    enabled = await tenant.post(f"/servers/{server['id']}/enable")
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["state"] == "active"
    assert enabled.json()["identity_verification"]["verified"] is True


async def test_a_server_without_an_identity_is_enabled_as_before(api, probe_worker):
    tenant = await new_tenant(api)
    server = await create_server(tenant)
    assert (await tenant.post(f"/servers/{server['id']}/test")).json()["ok"]
    enabled = await tenant.post(f"/servers/{server['id']}/enable")
    assert enabled.status_code == 200, enabled.text
    nothing = await tenant.post(f"/servers/{server['id']}/verify")
    assert nothing.status_code == 409 and "no identity" in nothing.text


async def test_a_silent_name_server_is_reported_as_could_not_check_within_the_deadline(api, dns):
    tenant, domain, server = await signing_server(api, dns, pem(rsa_key()))
    dns.silent(f"s1._domainkey.{domain}")

    started = time.monotonic()
    verified = await tenant.post(f"/servers/{server['id']}/verify")
    took = time.monotonic() - started
    assert verified.status_code == 200, verified.text
    checks = checks_by_name(verified.json())
    assert checks["dkim"]["ok"] is False
    assert checks["dkim"]["detail"].startswith("could not check")
    assert "timed out" in checks["dkim"]["found"]
    assert "not published" not in checks["dkim"]["detail"]
    assert checks["spf"]["ok"] and checks["dmarc"]["ok"]  # the other answers are kept
    assert took < DNS_TIMEOUT_SECONDS + 3


async def test_a_changed_identity_drops_the_verification_of_the_former_one(api, dns):
    tenant, _, server = await signing_server(api, dns, pem(rsa_key()))
    assert (await tenant.post(f"/servers/{server['id']}/verify")).json()["identity_verification"]["verified"]
    changed = await tenant.patch(f"/servers/{server['id']}", json={"identity": {"dkim_selector": "s2"}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["identity_verification"] is None


async def test_nobody_verifies_a_server_that_is_not_theirs(api, dns):
    owner, _, server = await signing_server(api, dns, pem(rsa_key()), published=False)
    intruder = await new_tenant(api)
    asked = len(dns.questions)
    refused = await intruder.post(f"/servers/{server['id']}/verify")
    assert refused.status_code == 404, refused.text
    assert str(server["id"]) in refused.text
    assert len(dns.questions) == asked  # no lookup for a foreign server
    assert (await (await api("forged-token")).post(f"/servers/{server['id']}/verify")).status_code == 401
    operator = await api(OPERATOR_TOKEN)
    assert (await operator.post(f"/servers/{server['id']}/verify")).status_code == 200
    assert (await owner.get(f"/servers/{server['id']}")).json()["identity_verification"] is not None


def _record(key_pem: str) -> str:
    key = parse_dkim_key(key_pem)
    return f"v=DKIM1; k={key.algorithm}; p={key.public_key}"


async def test_the_resolver_tells_missing_from_unanswered_and_joins_split_strings(dns):
    """The adapter alone, against the local DNS server: NXDOMAIN and NODATA say a record is missing;
    SERVFAIL and silence say nothing about it."""
    name = f"{unique('adapter')}.test"
    dns.txt(name, ["v=spf1 ", "include:a.test -all"], "x" * 600)
    dns.mx(f"mx.{name}", (20, "B.Example.TEST."), (10, "a.example.test"))
    dns.servfail(f"broken.{name}")
    dns.silent(f"silent.{name}")
    asked = [
        DnsQuestion(name, "TXT"),
        DnsQuestion(name, "MX"),  # the name exists, without MX: NODATA
        DnsQuestion(f"nothing.{name}", "TXT"),
        DnsQuestion(f"mx.{name}", "MX"),
        DnsQuestion(f"broken.{name}", "TXT"),
        DnsQuestion(f"silent.{name}", "TXT"),
    ]
    started = time.monotonic()
    answers = await AiodnsLookup([dns.nameserver], timeout_seconds=1.0).answers(asked)
    assert time.monotonic() - started < 2.5
    assert answers[asked[0]].texts == ("v=spf1 include:a.test -all", "x" * 600)
    assert answers[asked[1]].status is LookupStatus.NO_RECORDS
    assert answers[asked[2]].status is LookupStatus.NO_DOMAIN
    assert sorted(answers[asked[3]].exchanges, key=lambda mx: mx.preference) == [
        MailExchange(10, "a.example.test"),
        MailExchange(20, "b.example.test"),
    ]
    assert answers[asked[4]].status is LookupStatus.UNCHECKED
    assert answers[asked[5]].status is LookupStatus.UNCHECKED
    assert "timed out" in answers[asked[5]].problem
