"""The secrets search: the demo's flow on a platform whose every secret is known and distinctive,
then a search of everywhere a secret could come to rest outside the encrypted store.

The flow is the demo's (`tools/demo.py`, `tools.stack`): the operator creates a plan and a tenant,
the tenant adds its servers (an SMTP relay with a login and a DKIM key), tests them, sends a test
message, enables them, uploads a list and sends a campaign with a sending policy. The operator
adds API servers (SendGrid, SES) and tests them too, and a test with a wrong password fails.

Then, with the services stopped, it searches the database's plain-text dump, every message in
every queue of the run's vhost (`sendpool.dead` included), every service's log, and what the SMTP
relay received, for every secret in clear and base64-encoded: nothing may be found. The web console
runs too: the operator and the tenant sign in and open its pages (the tenant's server among them), so
its log is searched for the tokens, its session key and the session cookies it sealed.
"""

import asyncio
import re
import subprocess
import time
from pathlib import Path
from uuid import uuid4

import aio_pika
import httpx
import pytest
from cryptography.fernet import Fernet

from tests.support.api import CONTENT
from tests.support.secrets_search import Finding, search
from tests.support.smtp import SmtpSink
from tests.support.stacks import isolated_stack
from tests.unit.catalog.dkim_keys import pem, rsa_key
from tools.stack.campaigns import draft_campaign, recipient_addresses, wait_for_state
from tools.stack.infra import rabbitmqctl
from tools.stack.run import WITH_CONSOLE, Stack

pytestmark = pytest.mark.e2e

RUN = uuid4().hex[:8]
SMTP_LOGIN = "relay-user"
DKIM_PEM = pem(rsa_key())
PLATFORM_SECRETS = {
    "operator token": f"operator-token-{RUN}-search",
    "token secret": f"token-secret-{RUN}-search",
    "VERP secret": f"verp-secret-{RUN}-search",
    "catalog secret key": Fernet.generate_key().decode(),
    "unsubscribe secret": f"unsubscribe-secret-{RUN}-search",
    "webhooks secret key": Fernet.generate_key().decode(),
    "console session key": Fernet.generate_key().decode(),
}
TENANT_SECRETS = {
    "SMTP password": f"smtp-password-{RUN}-search",
    "SendGrid API key": f"SG.sendgrid-key-{RUN}-search",
    "SES secret access key": f"ses-secret-{RUN}-search",
    # A line from the middle of the key: any copy of it, however re-wrapped, holds it.
    "DKIM private key": DKIM_PEM.splitlines()[5],
}
RECIPIENTS = 30


@pytest.fixture(scope="module")
def platform(logs_dir):
    """The whole platform on a database and vhost of its own, every secret set and none a default."""
    env = {
        "SENDPOOL_OPERATOR_TOKEN": PLATFORM_SECRETS["operator token"],
        "SENDPOOL_TOKEN_SECRET": PLATFORM_SECRETS["token secret"],
        "SENDPOOL_VERP_SECRET": PLATFORM_SECRETS["VERP secret"],
        "SENDPOOL_CATALOG_SECRET_KEYS": PLATFORM_SECRETS["catalog secret key"],
        "SENDPOOL_UNSUBSCRIBE_SECRET": PLATFORM_SECRETS["unsubscribe secret"],
        "SENDPOOL_WEBHOOKS_SECRET_KEYS": PLATFORM_SECRETS["webhooks secret key"],
        "SENDPOOL_CONSOLE_SESSION_KEYS": PLATFORM_SECRETS["console session key"],
        # The most an operator chasing a problem logs: at DEBUG the broker client dumped every frame.
        "SENDPOOL_LOG_LEVEL": "DEBUG",
        "SENDPOOL_DB_POOL_SIZE": "4",
        "SENDPOOL_DELIVERY_VENDOR": "smtp",
        "SENDPOOL_DELIVERY_EGRESS_ALLOW": "127.0.0.1/32:1024-65535",
        "SENDPOOL_CATALOG_PROBE_TIMEOUT_SECONDS": "5",
    }
    operator_token = PLATFORM_SECRETS["operator token"]
    with isolated_stack(
        logs_dir / "secrets-search", env, operator_token, WITH_CONSOLE, stop_timeout=30
    ) as stack:
        yield stack


def run_the_demo_flow(platform: Stack, relay: SmtpSink) -> list[str]:
    """What the demo does, with credentials and a DKIM key; returns the tokens the tenant was given."""
    operator = platform.operator_api()
    plan = operator.create_plan("own servers only")
    given = operator.create_tenant("secrets tenant", plan_id=plan.id)
    tenant = operator.as_tenant(given)
    identity = {"from_domains": ["sender.example"], "dkim_selector": "s1", "dkim_private_key": DKIM_PEM}
    server = tenant.create_smtp_server(
        "relay",
        host="127.0.0.1",
        port=relay.port,
        identity=identity,
    )
    relay_settings = {
        "host": "127.0.0.1",
        "port": relay.port,
        "encryption": "none",
        "username": SMTP_LOGIN,
        "password": TENANT_SECRETS["SMTP password"],
    }
    # A failing test first (a wrong password), then the right one: both outcomes are logged.
    tenant.change_server(server.id, settings={**relay_settings, "password": "not-the-password-at-all"})
    assert not tenant.test_server(server.id).ok
    tenant.change_server(server.id, settings=relay_settings)
    tested = tenant.test_server(server.id)
    assert tested.ok, tested.message
    sent = tenant.call(
        "POST",
        f"{platform.catalog_url}/servers/{server.id}/test-send",
        {"to": "reader@inbox.example"},
    )
    assert sent["ok"], sent
    tenant.enable_server(server.id)

    for name, type_, settings in (
        ("sendgrid", "sendgrid_api", {"api_key": TENANT_SECRETS["SendGrid API key"]}),
        (
            "ses",
            "ses_api",
            {
                "access_key_id": "AKIAEXAMPLEKEYID",
                "secret_access_key": TENANT_SECRETS["SES secret access key"],
                "region": "eu-west-1",
            },
        ),
    ):
        created = operator.call(
            "POST", f"{platform.catalog_url}/servers", {"name": name, "type": type_, "settings": settings}
        )
        # No worker of that vendor runs here: the test fails, and its request must carry no key.
        assert not operator.test_server(created["id"]).ok

    campaign = draft_campaign(tenant, recipient_addresses(RECIPIENTS), CONTENT)
    tenant.set_sending_policy(campaign.id, {server.id: 1.0})
    tenant.launch(campaign.id)
    done = wait_for_state(tenant, campaign.id, "completed", timeout_seconds=60)
    assert done.counts.get("sent") == RECIPIENTS, done.counts
    return [given.token]


def browse_the_console(platform: Stack, tokens: list[str]) -> list[str]:
    """Each token signs in to the console and opens its pages; returns the session cookies it was given."""
    cookies = []
    for token in tokens:
        with httpx.Client(base_url=platform.console_url, timeout=60) as console:
            signed_in = console.post("/sign-in", data={"token": token, "next": "/"})
            assert signed_in.status_code == 303, signed_in.text
            cookies.append(console.cookies["sendpool_console"])
            pool = console.get("/")
            assert pool.status_code == 200, pool.text
            for path in ("/servers/new", *_server_links(pool.text)):
                assert console.get(path).status_code == 200, path
    return cookies


def _server_links(html: str) -> list[str]:
    return sorted(set(re.findall(r'href="(/servers/[0-9a-f-]{36})"', html)))


def database_dump(database_url: str) -> str:
    return subprocess.run(
        ["pg_dump", "--no-owner", "--format=plain", database_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


async def queued_messages(amqp_url: str, vhost: str) -> list[tuple[str, str]]:
    """Every message waiting in every queue of the vhost, read and put back (never acknowledged)."""
    names = [
        line.split("\t")[0]
        for line in rabbitmqctl("list_queues", "-p", vhost, "--no-table-headers", "name").splitlines()
    ]
    found = []
    connection = await aio_pika.connect(amqp_url)
    try:
        for name in filter(None, names):
            channel = await connection.channel()
            queue = await channel.get_queue(name, ensure=False)
            number = 0
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                number += 1
                headers = " ".join(f"{key}={value!r}" for key, value in (message.headers or {}).items())
                body = message.body.decode(errors="replace")
                found.append((f"queue {name}, message {number}", f"{headers}\n{body}"))
            await channel.close()  # unacknowledged: every message goes back to its queue
    finally:
        await connection.close()
    return found


def logs_of(directory: Path) -> list[tuple[str, str]]:
    return [
        (f"log {path.name}", path.read_text(errors="replace")) for path in sorted(directory.glob("*.log"))
    ]


def test_no_secret_is_found_outside_the_encrypted_store(platform):
    started = time.monotonic()
    with SmtpSink(auth=(SMTP_LOGIN, TENANT_SECRETS["SMTP password"])) as relay:
        tenant_tokens = run_the_demo_flow(platform, relay)
        session_cookies = browse_the_console(platform, [platform.operator_token, *tenant_tokens])
        received = [
            (f"message {n} the relay received", m.data.decode(errors="replace"))
            for n, m in enumerate(relay.messages)
        ]
    platform.stop(timeout=30)  # everything at rest: logs flushed, queues no longer consumed

    secrets = {
        **PLATFORM_SECRETS,
        **TENANT_SECRETS,
        **{f"tenant token {n}": token for n, token in enumerate(tenant_tokens, start=1)},
        **{f"console session cookie {n}": cookie for n, cookie in enumerate(session_cookies, start=1)},
    }
    places = [
        ("the database dump", database_dump(platform.database_url)),
        *asyncio.run(queued_messages(platform.amqp_url, platform.vhost)),
        *logs_of(platform.logs_dir),
        *received,
    ]
    assert any(where.startswith("log catalog") for where, _ in places), "no catalog log to search"
    assert any(where.startswith("log console") for where, _ in places), "no console log to search"

    findings: list[Finding] = search(secrets, places)
    assert not findings, "secrets found outside the encrypted store:\n" + "\n".join(
        f"  {f}" for f in findings
    )
    assert time.monotonic() - started < 90
