"""The attack suite's API fuzzing: schemathesis against the running catalog, scheduler and router,
every operation of their OpenAPI documents, as the operator, as a tenant, and as a second tenant
aiming at the first tenant's objects.

What must hold for every answer: no 5xx, no secret (a server's password, API key or DKIM private
key; any token; the platform's keys), and nothing of another tenant's. Answers that stray from the
OpenAPI document are recorded and printed, not failed on (see `conformance` in the report).

Every tenant's objects carry a tag in their names (`a-private-<tag>`): a tenant who reads any
answer holding another tenant's tag has read that tenant's data.

Reproducible: each operation's examples come from a fixed seed (Hypothesis' derandomize).
"""

import copy
import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from cryptography.fernet import Fernet
from schemathesis import Case, GenerationMode

from tests.support.fuzz import (
    Finding,
    Findings,
    fuzz_operation,
    load_schema,
    name_ids,
    new_session,
    operations_in_order,
    path_parameter_names,
    query_parameter_names,
    random_tag,
)
from tests.support.smtp import SmtpSink
from tests.support.stacks import isolated_stack
from tests.unit.catalog.dkim_keys import pem, rsa_key
from tools.stack.ports import free_port
from tools.stack.run import Stack

pytestmark = pytest.mark.e2e

SERVICES = (("catalog",), ("delivery", "router", "scheduler"))
MAX_EXAMPLES = int(os.environ.get("SENDPOOL_TEST_FUZZ_EXAMPLES", "20"))
"""Requests per operation and pass; `SENDPOOL_TEST_FUZZ_EXAMPLES=100` for a longer hunt."""
FORM_EXAMPLES = 3
"""Per server type (fourteen of them), whatever MAX_EXAMPLES says: each server a request creates
costs a quorum queue (the routers drain every server that cannot send), so they stay few and are
deleted at once."""
SMTP_LOGIN = "fuzz-login"


@dataclass
class PlatformSecrets:
    # Out of every repr: a failing test prints its fixtures.
    operator_token: str = field(
        repr=False, default_factory=lambda: f"fuzz-operator-{random_tag()}{random_tag()}"
    )
    token_secret: str = field(
        repr=False, default_factory=lambda: f"fuzz-token-secret-{random_tag()}{random_tag()}"
    )
    catalog_key: str = field(repr=False, default_factory=lambda: Fernet.generate_key().decode())
    verp_secret: str = field(
        repr=False, default_factory=lambda: f"fuzz-verp-secret-{random_tag()}{random_tag()}"
    )

    def named(self) -> dict[str, str]:
        return {
            "operator token": self.operator_token,
            "token secret": self.token_secret,
            "catalog secret key": self.catalog_key,
            "verp secret": self.verp_secret,
        }


@dataclass
class TenantWorld:
    """One tenant and its objects: a tested and enabled SMTP server (password, DKIM key), an API
    server (API key), a plan, a list with recipients, a campaign and its sending policy."""

    tag: str
    tenant_id: str
    token: str = field(repr=False)
    plan_id: str
    smtp_server_id: str
    api_server_id: str
    list_id: str
    campaign_id: str
    password: str = field(repr=False)
    api_key: str = field(repr=False)
    dkim_key_line: str = field(repr=False)
    token_id: str | None = None
    """Its token's id, where the catalog lists tokens."""

    def secrets(self) -> dict[str, str]:
        return {
            f"{self.tag} token": self.token,
            f"{self.tag} smtp password": self.password,
            f"{self.tag} api key": self.api_key,
            f"{self.tag} dkim private key": self.dkim_key_line,
        }

    def ids_by_parameter(self) -> dict[str, str]:
        """Its objects' ids under the names the APIs give them, in paths, queries and bodies."""
        return {
            "tenant_id": self.tenant_id,
            "plan_id": self.plan_id,
            "server_id": self.smtp_server_id,
            "server_ids": self.api_server_id,
            "list_id": self.list_id,
            "campaign_id": self.campaign_id,
            **({"token_id": self.token_id} if self.token_id else {}),
        }

    def ids(self) -> set[str]:
        return set(self.ids_by_parameter().values())


@pytest.fixture(scope="module")
def platform_secrets() -> PlatformSecrets:
    return PlatformSecrets()


@pytest.fixture(scope="module")
def stack(service_env, logs_dir, platform_secrets) -> Iterator[Stack]:
    env = {
        **service_env,
        # Every secret is set below; development mode only keeps a secret added later from
        # stopping the fuzzing (the secrets' own tests run without it).
        "SENDPOOL_DEV_MODE": "1",
        "SENDPOOL_OPERATOR_TOKEN": platform_secrets.operator_token,
        "SENDPOOL_TOKEN_SECRET": platform_secrets.token_secret,
        "SENDPOOL_CATALOG_SECRET_KEYS": platform_secrets.catalog_key,
        "SENDPOOL_VERP_SECRET": platform_secrets.verp_secret,
        "SENDPOOL_DELIVERY_VENDOR": "smtp",
        # Loopback only: the fuzzed servers' hosts are confined to 127.0.0.1 as well.
        "SENDPOOL_DELIVERY_EGRESS_ALLOW": "127.0.0.1/32:1024-65535",
    }
    with isolated_stack(
        logs_dir / "fuzz", env, platform_secrets.operator_token, SERVICES, name="sendpool-fuzz"
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def schemas(stack) -> dict[str, tuple[str, Any]]:
    urls = {name: stack.services[name].url for name in ("catalog", "scheduler", "router")}
    return {name: (url, load_schema(url)) for name, url in urls.items()}


class Client:
    def __init__(self, http: httpx.Client, stack: Stack, token: str) -> None:
        self.http, self.stack, self.token = http, stack, token

    def call(self, method: str, service: str, path: str, json: Any = None) -> Any:
        response = self.http.request(
            method,
            self.stack.services[service].url + path,
            json=json,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response.status_code < 400, f"{method} {path} → {response.status_code}: {response.text}"
        return response.json() if response.content else None


def make_world(stack: Stack, sinks: ExitStack, name: str) -> TenantWorld:
    """Its SMTP server is on a sink of its own, which takes its password alone."""
    tag = f"{name}-private-{random_tag()}"
    operator = Client(stack.http, stack, stack.operator_token)
    plan = operator.call("POST", "catalog", "/plans", {"name": f"{tag} plan"})
    tenant = operator.call("POST", "catalog", "/tenants", {"name": f"{tag} tenant", "plan_id": plan["id"]})
    own = Client(stack.http, stack, tenant["token"])
    password, api_key = f"{tag}-smtp-password-{random_tag()}", f"SG.{tag}-api-key-{random_tag()}"
    sink = sinks.enter_context(SmtpSink(auth=(SMTP_LOGIN, password)))
    dkim_pem = pem(rsa_key())
    smtp = own.call(
        "POST",
        "catalog",
        "/servers",
        {
            "name": f"{tag} smtp",
            "type": "smtp",
            "settings": {
                "host": "127.0.0.1",
                "port": sink.port,
                "encryption": "none",
                "username": SMTP_LOGIN,
                "password": password,
            },
            "identity": {
                "from_domains": [f"{name}.example.com"],
                "dkim_selector": "s1",
                "dkim_private_key": dkim_pem,
            },
        },
    )
    test = own.call("POST", "catalog", f"/servers/{smtp['id']}/test")
    assert test["ok"], f"the {tag} SMTP server's test failed: {test}"
    own.call("POST", "catalog", f"/servers/{smtp['id']}/enable")
    api = own.call(
        "POST",
        "catalog",
        "/servers",
        {
            "name": f"{tag} api",
            "type": "sendgrid_api",
            "settings": {"api_key": api_key, "base_url": f"https://127.0.0.1:{free_port()}"},
        },
    )
    mailing_list = own.call("POST", "scheduler", "/lists", {"name": f"{tag} list"})
    own.call(
        "POST",
        "scheduler",
        f"/lists/{mailing_list['id']}/recipients",
        {
            "recipients": [
                {"email": f"reader{n}@{name}-readers.example", "name": f"{tag} reader"} for n in range(3)
            ]
        },
    )
    campaign = own.call(
        "POST",
        "scheduler",
        "/campaigns",
        {
            "name": f"{tag} campaign",
            "list_id": mailing_list["id"],
            "content": {
                "from_address": f"news@{name}.example.com",
                "subject": f"{tag} subject",
                "text": f"{tag} text",
            },
        },
    )
    own.call(
        "PUT",
        "catalog",
        f"/campaigns/{campaign['id']}/sending-policy",
        {"use_all": False, "selection": [{"server_id": smtp["id"], "weight": 1}]},
    )
    listed = stack.http.get(
        f"{stack.catalog_url}/tenants/{tenant['id']}/tokens",
        headers={"Authorization": f"Bearer {stack.operator_token}"},
    )
    token_id = listed.json()[0]["id"] if listed.status_code == 200 and listed.json() else None
    return TenantWorld(
        tag=tag,
        tenant_id=tenant["id"],
        token=tenant["token"],
        plan_id=plan["id"],
        smtp_server_id=smtp["id"],
        api_server_id=api["id"],
        list_id=mailing_list["id"],
        campaign_id=campaign["id"],
        password=password,
        api_key=api_key,
        dkim_key_line=dkim_pem.splitlines()[5],
        token_id=token_id,
    )


@pytest.fixture(scope="module")
def worlds(stack) -> Iterator[tuple[TenantWorld, TenantWorld]]:
    """Tenants A and B. Tenant A's own fuzzing runs after every other test that uses them: it may
    delete A's servers and revoke A's token."""
    with ExitStack() as sinks:
        yield make_world(stack, sinks, "a"), make_world(stack, sinks, "b")


def all_secrets(platform: PlatformSecrets, *worlds: TenantWorld) -> dict[str, str]:
    named = platform.named()
    for world in worlds:
        named.update(world.secrets())
    return named


def leak_judge(secrets: dict[str, str], foreign: list[TenantWorld]):
    """No secret in any answer, and no other tenant's tag in an answer to a tenant."""

    def judge(case: Case, response: requests.Response) -> list[tuple[str, str]]:
        seen = response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        found = [
            ("secret", f"the answer holds the {what}") for what, value in secrets.items() if value in seen
        ]
        found += [
            ("cross-tenant", f"the answer holds tenant {world.tag}'s data")
            for world in foreign
            if world.tag in seen
        ]
        return found

    return judge


@dataclass(frozen=True)
class ServerForm:
    type: str
    secret_fields: list[str]
    schema: Any
    """The catalog's OpenAPI document narrowed to `POST /servers` of this type, with its settings form."""


@pytest.fixture(scope="module")
def server_forms(stack) -> list[ServerForm]:
    """`POST /servers` once per server type: the document's `settings` is any object, so requests
    generated from it alone never get past the form; each type's form (GET /server-types) does."""
    headers = {"Authorization": f"Bearer {stack.operator_token}"}
    document = stack.http.get(f"{stack.catalog_url}/openapi.json").json()
    types = stack.http.get(f"{stack.catalog_url}/server-types", headers=headers).json()
    forms = []
    for server_type in types:
        narrowed = copy.deepcopy(document)
        narrowed["paths"] = {"/servers": {"post": document["paths"]["/servers"]["post"]}}
        properties = narrowed["components"]["schemas"]["ServerCreate"]["properties"]
        properties["type"] = {"type": "string", "enum": [server_type["name"]]}
        properties["settings"] = server_type["settings_schema"]
        forms.append(
            ServerForm(
                server_type["name"], server_type["secret_fields"], schemathesis.openapi.from_dict(narrowed)
            )
        )
    return forms


def secrets_sent_judge(form: ServerForm, judge, created: list[str]):
    """`judge`, and no secret field's value sent coming back (values too short to tell apart aside);
    the servers created are added to `created`."""

    def judged(case: Case, response: requests.Response) -> list[tuple[str, str]]:
        found = list(judge(case, response))
        if response.status_code == 201:
            created.append(response.json()["id"])
        settings = case.body.get("settings") if isinstance(case.body, dict) else None
        for name in form.secret_fields:
            value = settings.get(name) if isinstance(settings, dict) else None
            if isinstance(value, str) and len(value) >= 8 and value in response.text:
                found.append(("secret", f"the answer holds the {name} sent"))
        return found

    return judged


def fuzz_everything(
    schemas,
    caller: str,
    token: str,
    judge,
    findings: Findings,
    known_ids: dict[str, str],
    forms: list[ServerForm],
) -> None:
    """Every operation of every service, generated freely and again with `known_ids` in its path
    (otherwise a random id only ever finds nothing); then a server of every type."""
    catalog_url = schemas["catalog"][0]
    with new_session() as session:
        for form in forms:
            created: list[str] = []
            for result in form.schema.get_all_operations():
                fuzz_operation(
                    result.ok(),
                    catalog_url,
                    caller=caller,
                    token=token,
                    judge=secrets_sent_judge(form, judge, created),
                    findings=findings,
                    session=session,
                    max_examples=FORM_EXAMPLES,
                    label=f"POST /servers (type {form.type})",
                )
            for server_id in created:
                session.delete(
                    f"{catalog_url}/servers/{server_id}", headers={"Authorization": f"Bearer {token}"}
                )
        for url, operation in operations_in_order(schemas.values()):
            common = dict(caller=caller, token=token, judge=judge, findings=findings, session=session)
            fuzz_operation(operation, url, max_examples=MAX_EXAMPLES, **common)
            names = path_parameter_names(operation)
            if names and all(name in known_ids for name in names):
                fuzz_operation(
                    operation,
                    url,
                    max_examples=MAX_EXAMPLES,
                    path_parameters={name: known_ids[name] for name in names},
                    **common,
                )


# --------------------------------------------------------------------------- tenant B against tenant A

# What a tenant aiming at another tenant's object may be told: not found (tenants are walls), not
# allowed (an operator's operation), or that its request is malformed before anything is looked up.
REFUSED = {401, 403, 404, 405, 413, 422}


def snapshot(stack: Stack, world: TenantWorld) -> dict[str, Any]:
    """What tenant A sees of its objects, as A (its token still working is part of it), and what
    the operator sees of A and its tokens: each as (status, answer)."""

    def read(service: str, path: str, token: str) -> tuple[int, Any]:
        response = stack.http.get(
            stack.services[service].url + path, headers={"Authorization": f"Bearer {token}"}
        )
        return response.status_code, response.json() if response.content else None

    parts = {
        f"server {server_id}": read("catalog", f"/servers/{server_id}", world.token)
        for server_id in (world.smtp_server_id, world.api_server_id)
    }
    parts["campaign"] = read("scheduler", f"/campaigns/{world.campaign_id}", world.token)
    parts["sending policy"] = read("catalog", f"/campaigns/{world.campaign_id}/sending-policy", world.token)
    status, tenants = read("catalog", "/tenants", stack.operator_token)
    parts["tenant"] = (status, [t for t in tenants if t["id"] == world.tenant_id])
    parts["plan"] = read("catalog", f"/plans/{world.plan_id}", stack.operator_token)
    parts["tokens"] = read("catalog", f"/tenants/{world.tenant_id}/tokens", stack.operator_token)
    return parts


def answer_for_no_such_object(response: requests.Response, victim_ids: set[str]) -> tuple[int, str]:
    """The same request again with every id of the victim's replaced by one that names nothing;
    its status and body (that id written `<id>`)."""
    stand_in = str(uuid.uuid4())
    request = response.request.copy()
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    for victim_id in victim_ids:
        request.url = (request.url or "").replace(victim_id, stand_in)
        body = body.replace(victim_id, stand_in) if body else body
    request.body = body.encode() if isinstance(body, str) else body  # a UUID for a UUID: same length
    with new_session() as session:
        again = session.send(request, timeout=60)
    return again.status_code, again.text.replace(stand_in, "<id>")


def cross_tenant_judge(secrets: dict[str, str], victim: TenantWorld, victim_ids: set[str]):
    leaks = leak_judge(secrets, foreign=[victim])

    def judge(case: Case, response: requests.Response) -> list[tuple[str, str]]:
        found = list(leaks(case, response))
        named_in_path = any(str(value) in victim_ids for value in (case.path_parameters or {}).values())
        if named_in_path and response.status_code not in REFUSED:
            # Not refused: then the answer must be the one for an object that does not exist (the
            # router's dry run forecasts the caller's own routing for any campaign id), or the
            # caller has learnt something of the other tenant's object.
            text = response.text
            for victim_id in victim_ids:
                text = text.replace(victim_id, "<id>")
            if answer_for_no_such_object(response, victim_ids) != (response.status_code, text):
                found.append(
                    ("cross-tenant", f"another tenant's object answered {response.status_code}: {text}")
                )
        elif response.status_code < 300 and any(i in response.text for i in victim_ids):
            found.append(("cross-tenant", "the answer names another tenant's object the request referred to"))
        return found

    return judge


def test_a_tenant_can_neither_read_nor_change_another_tenants_objects(
    stack, schemas, worlds, platform_secrets
):
    a, b = worlds
    before = snapshot(stack, a)
    findings = Findings()
    targets = a.ids_by_parameter()
    victim_ids = a.ids()
    judge = cross_tenant_judge(all_secrets(platform_secrets, a, b), a, victim_ids)
    with new_session() as session:
        for url, operation in operations_in_order(schemas.values()):
            names = path_parameter_names(operation)
            # A's server, both kinds: a write to the API server is a write as much as to the SMTP one.
            path_variants = [{name: targets[name] for name in names if name in targets}]
            if "server_id" in names:
                path_variants.append({**path_variants[0], "server_id": a.api_server_id})
            query = {"tenant_id": a.tenant_id} if "tenant_id" in query_parameter_names(operation) else None
            for path_parameters in path_variants:
                fuzz_operation(
                    operation,
                    url,
                    caller=f"tenant {b.tag} (at {a.tag})",
                    token=b.token,
                    judge=judge,
                    findings=findings,
                    session=session,
                    max_examples=MAX_EXAMPLES,
                    # Valid requests get past validation to the ownership check; that is the point.
                    modes=(GenerationMode.POSITIVE,),
                    path_parameters=path_parameters or None,
                    query=query,
                    # Bodies name A's objects too, and present A's token to revoke.
                    rewrite_body=lambda body: name_ids(body, targets, {"token": a.token}),
                )
    after = snapshot(stack, a)
    for part in before:
        if before[part] != after[part]:
            findings.add(
                Finding(
                    "cross-tenant",
                    f"tenant {b.tag} (at {a.tag})",
                    f"afterwards, {a.tag}'s {part}",
                    None,
                    "-",
                    f"changed by another tenant: before {before[part]!r:.400} after {after[part]!r:.400}",
                )
            )
    print(findings.report())
    assert not findings.fatal(), findings.report()


# --------------------------------------------------------------------------- no token, a forged one


def forged_tokens(platform: PlatformSecrets, victim: TenantWorld) -> dict[str, str]:
    """Tokens nobody was given: none at all, a tenant token signed with another key, the victim's
    token with its signature cut off, and the development default operator token."""
    payload = victim.token.removeprefix("spt_").rpartition(".")[0]
    return {
        "nobody": "",
        "a token signed with another key": f"spt_{payload}.{'0' * 32}",
        "an unsigned token": f"spt_{payload}.",
        "the development operator token": "dev-operator-token",
    }


def test_no_operation_answers_a_caller_without_a_valid_token(schemas, worlds, platform_secrets):
    a, b = worlds
    findings = Findings()
    leaks = leak_judge(all_secrets(platform_secrets, a, b), foreign=[a, b])

    def judge(case: Case, response: requests.Response) -> list[tuple[str, str]]:
        found = list(leaks(case, response))
        if response.status_code < 400:
            found.append(("cross-tenant", f"answered {response.status_code} without a valid token"))
        return found

    with new_session() as session:
        for caller, token in forged_tokens(platform_secrets, a).items():
            for url, operation in operations_in_order(schemas.values()):
                names = path_parameter_names(operation)
                known = a.ids_by_parameter()
                fuzz_operation(
                    operation,
                    url,
                    caller=caller,
                    token=token,
                    judge=judge,
                    findings=findings,
                    session=session,
                    max_examples=2,
                    modes=(GenerationMode.POSITIVE,),
                    path_parameters={name: known[name] for name in names if name in known} or None,
                )
    print(findings.report())
    assert not findings.fatal(), findings.report()


# --------------------------------------------------------------------------- what the fuzzing found

# Text PostgreSQL cannot store: NUL, and a UTF-16 surrogate without its pair (JSON may spell both).
UNSTORABLE = {"NUL": "x\\u0000y", "a lone surrogate": "x\\udb9dy"}


@pytest.mark.parametrize("what", UNSTORABLE)
def test_text_the_database_cannot_store_is_refused_naming_the_field(stack, worlds, what):
    """Found by the fuzzing: `POST /lists {"name": "…\\u0000…"}` answered 500 (PostgreSQL refused
    the NUL), and a lone surrogate failed the same way on the way to the database."""
    a, _ = worlds
    text = UNSTORABLE[what]
    calls = [
        ("scheduler", "/lists", '{"name": "%s"}', ["body", "name"]),
        (
            "scheduler",
            f"/lists/{a.list_id}/recipients",
            '{"recipients": [{"email": "r@example.com", "name": "%s"}]}',
            ["body", "recipients", 0, "name"],
        ),
        (
            "scheduler",
            "/campaigns",
            '{"name": "c", "list_id": "' + a.list_id + '", "content": '
            '{"from_address": "n@a.example.com", "subject": "s", "text": "%s"}}',
            ["body", "content", "text"],
        ),
        ("catalog", f"/servers/{a.smtp_server_id}/pause", '{"reason": "%s"}', ["body", "reason"]),
    ]
    for service, path, body, loc in calls:
        response = stack.http.post(
            stack.services[service].url + path,
            content=(body % text).encode(),
            headers={"Authorization": f"Bearer {a.token}", "Content-Type": "application/json"},
        )
        assert response.status_code == 422, (path, response.status_code, response.text)
        assert [error["loc"] for error in response.json()["detail"]] == [loc], response.text

    listing = stack.http.get(
        stack.services["catalog"].url + "/servers",
        params={"q": "x\x00y"},
        headers={"Authorization": f"Bearer {a.token}"},
    )
    assert listing.status_code == 422, listing.text
    assert listing.json()["detail"][0]["loc"] == ["query", "q"]


def test_numbers_beyond_what_the_database_can_hold_are_refused_naming_the_field(stack, worlds):
    """Found by the fuzzing: `GET /servers?offset=80295020646247193763717177987662086144` (OFFSET
    is a bigint) and `POST /plans {"server_quota": 1370420329429134221609271296}` (an integer
    column) answered 500."""
    a, _ = worlds
    too_large = 2**70
    operator = {"Authorization": f"Bearer {stack.operator_token}"}
    requests_and_fields = [
        (
            stack.http.build_request(
                "GET",
                f"{stack.catalog_url}/servers",
                params={"offset": str(too_large)},
                headers={"Authorization": f"Bearer {a.token}"},
            ),
            ["query", "offset"],
        ),
        (
            stack.http.build_request(
                "POST",
                f"{stack.catalog_url}/plans",
                json={"name": "p", "server_quota": too_large},
                headers=operator,
            ),
            ["body", "server_quota"],
        ),
        (
            stack.http.build_request(
                "PATCH",
                f"{stack.catalog_url}/plans/{a.plan_id}",
                json={"server_quota": too_large},
                headers=operator,
            ),
            ["body", "server_quota"],
        ),
    ]
    for request, location in requests_and_fields:
        response = stack.http.send(request)
        assert response.status_code == 422, (request.url, response.status_code, response.text)
        assert response.json()["detail"][0]["loc"] == location, response.text


# --------------------------------------------------------------------------- the operator's and A's own fuzzing, last


def test_no_operation_answers_a_tenant_with_a_5xx_a_secret_or_another_tenants_data(
    schemas, server_forms, worlds, platform_secrets
):
    a, b = worlds
    findings = Findings()
    judge = leak_judge(all_secrets(platform_secrets, a, b), foreign=[b])
    fuzz_everything(schemas, f"tenant {a.tag}", a.token, judge, findings, a.ids_by_parameter(), server_forms)
    print(findings.report())
    assert not findings.fatal(), findings.report()


def test_no_operation_answers_the_operator_with_a_5xx_or_a_secret(
    stack, schemas, server_forms, worlds, platform_secrets
):
    """Aimed at a tenant of its own (C): tenant A's fuzzing may have deleted A's objects."""
    a, b = worlds
    with ExitStack() as sinks:
        c = make_world(stack, sinks, "c")
        findings = Findings()
        judge = leak_judge(all_secrets(platform_secrets, a, b, c), foreign=[])
        fuzz_everything(
            schemas, "operator", stack.operator_token, judge, findings, c.ids_by_parameter(), server_forms
        )
    print(findings.report())
    assert not findings.fatal(), findings.report()
