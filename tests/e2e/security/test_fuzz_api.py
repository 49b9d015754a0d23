"""The attack suite's API fuzzing: schemathesis against the running catalog, scheduler, router and
bounces service, every operation of their OpenAPI documents, as the operator, as a tenant, and as a
second tenant aiming at the first tenant's objects.

What must hold for every answer: no 5xx, no secret (a server's password, API key or DKIM private
key; any token; the platform's keys), and nothing of another tenant's. Answers that stray from the
OpenAPI document are recorded and printed, not failed on (see `conformance` in the report).

Every tenant's objects carry a tag in their names (`a-private-<tag>`), its suppressed addresses
(`<tag>@example.com`) and its feedback's diagnostic too: a tenant who reads any answer holding
another tenant's tag has read that tenant's data. The operator's global suppression list carries a
tag of its own, which no tenant may read either.

Reproducible: each operation's examples come from a fixed seed (Hypothesis' derandomize).
"""

import copy
import hashlib
import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
import psycopg
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

SERVICES = (("catalog",), ("delivery", "router", "scheduler", "bounces", "events", "webhooks"))
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
    suppressed_address: str
    """On its suppression list (`<tag>@example.com`)."""
    feedback_id: int
    """A hard bounce matched to its SMTP server and campaign, its tag in the diagnostic."""
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

    def path_targets(self) -> dict[str, str]:
        """Its objects as path parameters: its ids, and the bounces API's address and feedback id,
        which name its objects only in a path (an address in a body would be the caller's own)."""
        return {
            **self.ids_by_parameter(),
            "address": self.suppressed_address,
            "feedback_id": str(self.feedback_id),
            "vendor": "sendgrid",
        }


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
    urls = {
        name: stack.services[name].url
        for name in ("catalog", "scheduler", "router", "bounces", "events", "webhooks")
    }
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
    suppressed = own.call(
        "POST", "bounces", "/suppressions", {"address": f"{tag}@example.com", "reason": f"{tag} reason"}
    )
    feedback_id = bounced_feedback(stack, tag, tenant["id"], campaign["id"], smtp["id"])
    # Its own to read: another tenant not reading it then means something.
    assert tag in own.call("GET", "bounces", f"/feedback/{feedback_id}")["diagnostic"]
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
        suppressed_address=suppressed["address"],
        feedback_id=feedback_id,
        token_id=token_id,
    )


def bounced_feedback(stack: Stack, tag: str, tenant_id: str, campaign_id: str, server_id: str) -> int:
    """A hard bounce matched to the tenant's campaign and server, its id. Written straight into the
    bounces service's tables: matching a DSN to what was sent is the bounce loop's test's business
    (`tests/e2e/test_bounce_loop.py`), and sending a campaign here would change the objects the
    cross-tenant test watches while it runs. Only who may read it matters here."""
    with psycopg.connect(stack.database_url) as conn:
        row = conn.execute(
            """WITH source AS (
                   INSERT INTO bounces.feedback_sources (dedupe_key, source, raw, raw_size)
                   VALUES (%(key)s, 'smtp', %(raw)s, length(%(raw)s)) RETURNING id)
               INSERT INTO bounces.feedback (source_id, position, source, class, rule, message_id,
                   tenant_id, campaign_id, run_id, server_id, recipient, reported_recipient,
                   status_code, action, diagnostic)
               SELECT id, 0, 'smtp', 'hard', 'fuzz', gen_random_uuid(), %(tenant)s, %(campaign)s,
                   gen_random_uuid(), %(server)s, %(recipient)s, %(recipient)s, '5.1.1', 'failed',
                   %(diagnostic)s FROM source
               RETURNING id""",
            {
                "key": f"fuzz-{tag}",
                "raw": f"{tag} bounce".encode(),
                "tenant": tenant_id,
                "campaign": campaign_id,
                "server": server_id,
                "recipient": f"bounced@{tag}.example",
                "diagnostic": f"550 5.1.1 {tag}: no such user",
            },
        ).fetchone()
    assert row is not None
    return int(row[0])


@dataclass(frozen=True)
class GlobalList:
    """The operator's global suppression list, with an address carrying a tag of its own."""

    tag: str
    address: str


@pytest.fixture(scope="module")
def global_list(stack: Stack) -> GlobalList:
    tag = f"global-private-{random_tag()}"
    operator = Client(stack.http, stack, stack.operator_token)
    added = operator.call(
        "POST", "bounces", "/suppressions?scope=global", {"address": f"{tag}@example.com", "reason": tag}
    )
    return GlobalList(tag, added["address"])


def read_global_list(stack: Stack) -> tuple[int, Any]:
    response = stack.http.get(
        f"{stack.bounces_url}/suppressions",
        params={"scope": "global", "limit": 500},
        headers={"Authorization": f"Bearer {stack.operator_token}"},
    )
    return response.status_code, response.json()


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


def leak_judge(secrets: dict[str, str], foreign: list[TenantWorld], global_list: GlobalList | None = None):
    """No secret in any answer, and no other tenant's tag (nor, to a tenant, the global list's) in
    an answer to a tenant. An answer echoing a path parameter (`no feedback 7`, `x@… is not on this
    suppression list`) tells the caller nothing it did not send: the echo is not counted."""
    foreign_tags = {f"tenant {world.tag}": world.tag for world in foreign}
    if global_list is not None:
        foreign_tags["the global suppression list"] = global_list.tag

    def judge(case: Case, response: requests.Response) -> list[tuple[str, str]]:
        seen = response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        found = [
            ("secret", f"the answer holds the {what}") for what, value in secrets.items() if value in seen
        ]
        for sent in (case.path_parameters or {}).values():
            # As sent (schemathesis keeps path parameters percent-encoded) and as the service read it.
            for echo in {str(sent), unquote(str(sent)), unquote(str(sent)).lower()}:
                seen = seen.replace(echo, "<sent>")
        found += [
            ("cross-tenant", f"the answer holds {whose}'s data")
            for whose, tag in foreign_tags.items()
            if tag in seen
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
    known_query: dict[str, str] | None = None,
) -> None:
    """Every operation of every service, generated freely and again with `known_ids` in its path
    (otherwise a random id only ever finds nothing), and again with `known_query` in its query
    where it has those parameters; then a server of every type."""
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
            common = dict(
                caller=caller,
                token=token,
                judge=judge,
                findings=findings,
                session=session,
                rewrite_body=address_rewrite(operation),
            )
            fuzz_operation(operation, url, max_examples=MAX_EXAMPLES, **common)
            names = path_parameter_names(operation)
            targets = known_ids
            if "vendor" in names and "server_ids" in known_ids:
                # A vendor's webhook is about a server of that vendor's: the API server (SendGrid).
                targets = {**known_ids, "server_id": known_ids["server_ids"]}
            if names and all(name in targets for name in names):
                fuzz_operation(
                    operation,
                    url,
                    max_examples=MAX_EXAMPLES,
                    path_parameters={name: targets[name] for name in names},
                    **common,
                )
            query = {n: v for n, v in (known_query or {}).items() if n in query_parameter_names(operation)}
            if query:
                fuzz_operation(operation, url, max_examples=MAX_EXAMPLES, query=query, **common)


def address_rewrite(operation: Any) -> Callable[[Any], Any]:
    """`valid_addresses` for the bounces API's suppression bodies, nothing for other operations."""
    return valid_addresses if operation.path.startswith("/suppressions") else lambda body: body


def valid_addresses(body: Any) -> Any:
    """`body` (an address, a list of them, `{address, …}`) with every other address replaced by a
    valid one: generated strings almost never are one, and every request would stop at the address
    check, never reaching the reason, the expiry or the database. Which ones, and the address each
    becomes, follow from the string: the same seed makes the same requests."""
    if isinstance(body, list):
        return [_valid_address(item) if isinstance(item, str) else valid_addresses(item) for item in body]
    if isinstance(body, dict):
        return {
            key: _valid_address(value)
            if key == "address" and isinstance(value, str)
            else valid_addresses(value)
            for key, value in body.items()
        }
    return body


def _valid_address(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"fuzz-{digest[:12]}@example.com" if int(digest[-1], 16) % 2 else text


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
    parts["suppressions"] = read("bounces", "/suppressions?limit=500", world.token)
    parts["feedback"] = read("bounces", f"/feedback/{world.feedback_id}", world.token)
    parts["global suppression list"] = read_global_list(stack)
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


def cross_tenant_judge(
    secrets: dict[str, str], victim: TenantWorld, victim_ids: set[str], global_list: GlobalList
):
    leaks = leak_judge(secrets, foreign=[victim], global_list=global_list)
    # Not ids: a tenant's own suppressed address or feedback id may be these too, but only ever
    # refused to another tenant (their lists and feedback are theirs alone).
    victim_names = {victim.suppressed_address, str(victim.feedback_id)}

    def judge(case: Case, response: requests.Response) -> list[tuple[str, str]]:
        found = list(leaks(case, response))
        path_values = {unquote(str(value)) for value in (case.path_parameters or {}).values()}
        named_in_path = bool(path_values & victim_ids)
        if path_values & victim_names and response.status_code not in REFUSED:
            found.append(
                ("cross-tenant", f"another tenant's address or feedback answered {response.status_code}")
            )
        elif named_in_path and response.status_code not in REFUSED:
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


def naming_victim(rewrite: Callable[[Any], Any], victim: TenantWorld) -> Callable[[Any], Any]:
    """`rewrite`, then the victim's ids in place of every id, and its token to revoke."""
    return lambda body: name_ids(rewrite(body), victim.ids_by_parameter(), {"token": victim.token})


def test_a_tenant_can_neither_read_nor_change_another_tenants_objects(
    stack, schemas, worlds, global_list, platform_secrets
):
    a, b = worlds
    before = snapshot(stack, a)
    findings = Findings()
    targets = a.path_targets()
    victim_ids = a.ids()
    judge = cross_tenant_judge(all_secrets(platform_secrets, a, b), a, victim_ids, global_list)
    with new_session() as session:
        for url, operation in operations_in_order(schemas.values()):
            names = path_parameter_names(operation)
            # A's server, both kinds: a write to the API server is a write as much as to the SMTP one.
            path_variants = [{name: targets[name] for name in names if name in targets}]
            if "server_id" in names:
                path_variants.append({**path_variants[0], "server_id": a.api_server_id})
            # Naming A (refused), and not (B's own list or feedback, where nothing of A's may show).
            queries: list[dict[str, str] | None] = [None]
            if "tenant_id" in query_parameter_names(operation):
                queries.insert(0, {"tenant_id": a.tenant_id})
            for path_parameters, query in itertools.product(path_variants, queries):
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
                    rewrite_body=naming_victim(address_rewrite(operation), a),
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


def test_no_operation_answers_a_caller_without_a_valid_token(schemas, worlds, global_list, platform_secrets):
    a, b = worlds
    findings = Findings()
    leaks = leak_judge(all_secrets(platform_secrets, a, b), foreign=[a, b], global_list=global_list)

    def judge(case: Case, response: requests.Response) -> list[tuple[str, str]]:
        found = list(leaks(case, response))
        if response.status_code < 400:
            found.append(("cross-tenant", f"answered {response.status_code} without a valid token"))
        return found

    with new_session() as session:
        for caller, token in forged_tokens(platform_secrets, a).items():
            for url, operation in operations_in_order(schemas.values()):
                names = path_parameter_names(operation)
                known = a.path_targets()
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
    stack, schemas, server_forms, worlds, global_list, platform_secrets
):
    a, b = worlds
    findings = Findings()
    judge = leak_judge(all_secrets(platform_secrets, a, b), foreign=[b], global_list=global_list)
    global_before = read_global_list(stack)
    fuzz_everything(schemas, f"tenant {a.tag}", a.token, judge, findings, a.path_targets(), server_forms)
    global_after = read_global_list(stack)
    if global_before != global_after:
        findings.add(
            Finding(
                "cross-tenant",
                f"tenant {a.tag}",
                "afterwards, the global suppression list",
                None,
                "-",
                f"changed by a tenant: before {global_before!r:.400} after {global_after!r:.400}",
            )
        )
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
            schemas,
            "operator",
            stack.operator_token,
            judge,
            findings,
            c.path_targets(),
            server_forms,
            # The global suppression list: without it, the operator's list requests name none.
            known_query={"scope": "global"},
        )
    print(findings.report())
    assert not findings.fatal(), findings.report()
