"""SSRF: a tenant points its servers at the platform's own network and reads the answer back.

The attacks go through the real API of a real catalog, to real delivery worker processes, whose
egress allow list names only the local stand-ins that play a tenant's real relay, vendor and MX
host (`127.0.0.1/32:<that port>`), as an operator allows a real internal relay. Every other
loopback port (RabbitMQ's, PostgreSQL's), the metadata address, names that resolve to loopback
and MX records that point there are what a tenant tries to reach. Before the egress policy the
workers connected to each and the connection test reported what they saw: a timeout or a closed
port (a port scan), a banner, an HTTP body.
"""

import functools
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit
from uuid import uuid4

import httpx
import pytest
from aiosmtpd.controller import Controller

from services.delivery.adapters.gmail import AccessTokens, GmailSettings
from services.delivery.adapters.http_api import HttpOptions, egress_client
from services.delivery.adapters.smtp import ConnectionSetupFailed
from shared.egress import EgressPolicy
from tests.support.dns import FakeDns
from tests.support.infra import free_port, fresh_test_database, fresh_test_vhost
from tests.support.processes import ServiceProcess
from tests.support.smtp import RecordingHandler, SmtpSink
from tests.support.tls import ca_file
from tests.support.vendor_fakes import GoogleTokenFake, Reply, SendGridFake

REFUSED = "Connection failed: refused by egress policy: "
WHY = "sendpool does not connect to internal addresses unless the operator allows them"
MARKER = "INTERNAL-ONLY-7f3e1c: the body of an internal service"
GOOD_MX_ADDRESS = "127.0.0.2"  # the allowed MX host; 127.0.0.1 on the same port stays refused
WORKERS = ("smtp", "sendgrid", "mx")


@dataclass
class Platform:
    catalog: ServiceProcess
    workers: dict[str, ServiceProcess]
    relay: SmtpSink
    """A tenant's real relay, inside the platform's network: the one allowed destination."""
    vendor: SendGridFake
    mx_host: RecordingHandler
    rabbitmq_port: int
    postgres_port: int
    operator_token: str


@pytest.fixture(scope="module")
def platform(service_env, logs_dir) -> Iterator[Platform]:
    mx_port = free_port()
    mx_handler = RecordingHandler()
    mx = Controller(mx_handler, hostname=GOOD_MX_ADDRESS, port=mx_port)
    with (
        fresh_test_database() as database_url,
        fresh_test_vhost() as amqp_url,
        SmtpSink() as relay,
        SendGridFake() as vendor,
        FakeDns() as dns,
    ):
        dns.mx("gmail.com", (10, "mx.good.example"))  # the domain a direct-to-MX probe looks up
        dns.a("mx.good.example", GOOD_MX_ADDRESS)
        dns.mx("evil-mx.example", (10, "mx.evil-mx.example"))
        dns.a("mx.evil-mx.example", "127.0.0.1")
        mx.start()
        env = {
            **service_env,
            "SENDPOOL_DATABASE_URL": database_url,
            "SENDPOOL_AMQP_URL": amqp_url,
            "SENDPOOL_CATALOG_PROBE_TIMEOUT_SECONDS": "15",
        }
        allowed = [
            f"127.0.0.1/32:{relay.port}",
            f"127.0.0.1/32:{urlsplit(vendor.base_url).port}",
            f"{GOOD_MX_ADDRESS}/32:{mx_port}",
        ]
        worker_env = {
            **env,
            "SENDPOOL_DELIVERY_EGRESS_ALLOW": ",".join(allowed),
            "SENDPOOL_DELIVERY_SMTP_TIMEOUT_SECONDS": "5",
            "SENDPOOL_DELIVERY_DNS_SERVERS": dns.nameserver,
            "SENDPOOL_DELIVERY_MX_PORT": str(mx_port),
        }
        catalog = ServiceProcess("catalog", free_port(), env, logs_dir / "egress-catalog.log")
        workers = {
            vendor_name: ServiceProcess(
                "delivery",
                free_port(),
                {**worker_env, "SENDPOOL_DELIVERY_VENDOR": vendor_name},
                logs_dir / f"egress-delivery-{vendor_name}.log",
            )
            for vendor_name in WORKERS
        }
        processes = [catalog, *workers.values()]
        with ThreadPoolExecutor(len(processes)) as threads:
            started = [threads.submit(functools.partial(process.start, timeout=180)) for process in processes]
            try:
                for start in started:
                    start.result()
                yield Platform(
                    catalog,
                    workers,
                    relay,
                    vendor,
                    mx_handler,
                    rabbitmq_port=urlsplit(amqp_url).port or 5672,
                    postgres_port=urlsplit(database_url).port or 5432,
                    operator_token=service_env["SENDPOOL_OPERATOR_TOKEN"],
                )
            finally:
                list(threads.map(lambda process: process.stop(), processes))
                mx.stop()


@pytest.fixture(scope="module")
async def operator(platform) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {platform.operator_token}"}
    async with httpx.AsyncClient(base_url=platform.catalog.url, headers=headers, timeout=60) as api:
        yield api


@pytest.fixture(scope="module")
async def tenant(platform, operator) -> AsyncIterator[httpx.AsyncClient]:
    created = await operator.post("/tenants", json={"name": f"attacker-{uuid4().hex[:8]}"})
    assert created.status_code == 201, created.text
    headers = {"Authorization": f"Bearer {created.json()['token']}"}
    async with httpx.AsyncClient(base_url=platform.catalog.url, headers=headers, timeout=60) as api:
        yield api


async def connection_test_of(api: httpx.AsyncClient, type_: str, settings: dict) -> dict:
    """Save a server and run its connection test; the result as the tenant reads it."""
    created = await api.post(
        "/servers", json={"name": f"{type_}-{uuid4().hex[:8]}", "type": type_, "settings": settings}
    )
    assert created.status_code == 201, created.text
    result = await api.post(f"/servers/{created.json()['id']}/test")
    assert result.status_code == 200, result.text
    return result.json()


async def test_an_smtp_host_on_rabbitmqs_port_is_refused_without_a_word_from_rabbitmq(tenant, platform):
    result = await connection_test_of(
        tenant, "smtp", {"host": "127.0.0.1", "port": platform.rabbitmq_port, "encryption": "none"}
    )

    assert result["ok"] is False
    assert result["message"] == f"{REFUSED}127.0.0.1, a loopback address; {WHY}"
    assert "AMQP" not in result["message"]


async def test_a_host_name_that_resolves_to_loopback_is_refused_on_postgresqls_port(tenant, platform):
    result = await connection_test_of(
        tenant, "smtp", {"host": "localhost", "port": platform.postgres_port, "encryption": "none"}
    )

    assert result["message"] == f"{REFUSED}localhost resolves to 127.0.0.1, a loopback address; {WHY}"


async def test_a_loopback_port_next_to_an_allowed_relay_is_refused(tenant, platform):
    """The allow list names the relay's port only: the machine's other ports stay out of reach."""
    other_port = free_port()

    result = await connection_test_of(
        tenant, "smtp", {"host": "127.0.0.1", "port": other_port, "encryption": "none"}
    )

    assert result["message"] == f"{REFUSED}127.0.0.1, a loopback address; {WHY}"


async def test_the_cloud_metadata_address_is_refused(tenant):
    result = await connection_test_of(
        tenant, "smtp", {"host": "169.254.169.254", "port": 80, "encryption": "none"}
    )

    assert result["message"] == f"{REFUSED}169.254.169.254, the cloud metadata address; {WHY}"


async def test_loopback_written_as_ipv6_is_refused(tenant, platform):
    result = await connection_test_of(
        tenant, "smtp", {"host": "::ffff:127.0.0.1", "port": platform.rabbitmq_port, "encryption": "none"}
    )

    assert result["message"] == f"{REFUSED}::ffff:127.0.0.1, a loopback address written as IPv6; {WHY}"


async def test_an_allowed_relay_still_works(tenant, platform):
    result = await connection_test_of(
        tenant, "smtp", {"host": "127.0.0.1", "port": platform.relay.port, "encryption": "none"}
    )

    assert (result["ok"], result["message"]) == (True, "Connection successful.")


@pytest.mark.parametrize(
    ("type_", "field", "settings"),
    [
        ("sendgrid_api", "base_url", {"api_key": "SG.key", "base_url": "http://169.254.169.254/latest"}),
        (
            "gmail_oauth",
            "token_url",
            {
                "email": "me@gmail.example",
                "client_id": "client",
                "client_secret": "secret",
                "refresh_token": "1//token",
                "token_url": "http://127.0.0.1:15672/api/overview",
            },
        ),
    ],
)
async def test_an_http_url_is_refused_naming_the_field(tenant, type_, field, settings):
    created = await tenant.post("/servers", json={"name": "plain http", "type": type_, "settings": settings})

    assert created.status_code == 422, created.text
    assert field in created.text and "https://" in created.text


async def test_an_api_base_url_on_rabbitmqs_port_is_refused(tenant, platform):
    result = await connection_test_of(
        tenant,
        "sendgrid_api",
        {"api_key": "SG.key", "base_url": f"https://127.0.0.1:{platform.rabbitmq_port}"},
    )

    assert result["message"] == f"{REFUSED}127.0.0.1, a loopback address; {WHY}"


async def test_an_api_error_body_never_reaches_the_tenant(tenant, platform):
    """The base URL is allowed (a tenant's internal proxy, say) and answers with a body that must stay
    there: the tenant learns the status, in sendpool's words."""
    vendor = platform.vendor
    vendor.reset()
    vendor.script(Reply(500, MARKER), Reply(500, {"errors": [{"message": MARKER, "field": None}]}))

    plain = await connection_test_of(tenant, "sendgrid_api", vendor.server_settings())
    as_json = await connection_test_of(tenant, "sendgrid_api", vendor.server_settings())

    for result in (plain, as_json):
        assert result["ok"] is False
        assert result["message"] == (
            "Connection failed: SendGrid is failing or unavailable; SendGrid answered HTTP 500"
        )
        assert MARKER not in str(result)
    assert len(vendor.requests) == 2, "each test reached the allowed base URL"


async def test_a_recipient_domain_whose_mx_is_loopback_is_refused(operator, platform):
    """Direct-to-MX delivery is the operator's; whoever sends through it picks recipients, and a
    recipient domain's MX records are anyone's to publish."""
    created = await operator.post(
        "/servers", json={"name": f"mx-{uuid4().hex[:8]}", "type": "direct_mx", "settings": {}}
    )
    assert created.status_code == 201, created.text
    server_id = created.json()["id"]
    to = "reader@evil-mx.example"

    sent = await operator.post(
        f"/servers/{server_id}/test-send", json={"to": to, "from_address": "me@sender.example"}
    )

    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["ok"] is False
    assert body["message"].startswith(
        f"Test message to {to} was not sent: no mail host of evil-mx.example took a connection: "
        "mx.evil-mx.example [127.0.0.1]: refused by egress policy: mx.evil-mx.example resolves to "
        "127.0.0.1, a loopback address"
    )
    assert platform.mx_host.messages == []


async def test_the_allowed_mx_host_still_takes_mail(operator, platform):
    created = await operator.post(
        "/servers", json={"name": f"mx-{uuid4().hex[:8]}", "type": "direct_mx", "settings": {}}
    )
    server_id = created.json()["id"]

    result = await operator.post(f"/servers/{server_id}/test")

    assert (result.json()["ok"], result.json()["message"]) == (True, "Connection successful.")


async def test_a_token_url_inside_the_platform_is_refused_before_any_secret_leaves():
    """Gmail's token endpoint gets the client secret and the refresh token in its request body: a
    `token_url` pointing inside the platform would hand them to whatever listens there. The adapter
    against a real https endpoint on loopback, refused, then allowed by the operator."""
    with GoogleTokenFake() as google:
        settings = GmailSettings(
            email="me@gmail.example",
            client_id=google.client_id,
            client_secret=google.client_secret,
            refresh_token=google.refresh_token,
            token_url=google.token_url,
        )
        port = urlsplit(google.token_url).port

        async def token_with(policy: EgressPolicy) -> str:
            options = HttpOptions(egress=policy, tls_ca_file=ca_file())
            async with egress_client(options) as http:
                return await AccessTokens(settings, http).current()

        with pytest.raises(ConnectionSetupFailed) as refused:
            await token_with(EgressPolicy())
        assert google.grants == 0
        allowed = await token_with(EgressPolicy.from_entries([f"127.0.0.1/32:{port}"]))

    assert str(refused.value) == f"refused by egress policy: 127.0.0.1, a loopback address; {WHY}"
    assert google.is_valid(allowed)
