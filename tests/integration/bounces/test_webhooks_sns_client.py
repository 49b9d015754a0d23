"""`SnsHttpClient` against an https stand-in for SNS: certificates cached by URL, bounded answers, the
egress policy, no redirect followed."""

import pytest

from services.bounces.adapters import webhook_sns
from services.bounces.adapters.webhook_sns import SnsHttpClient
from services.bounces.app.ports import SnsFetchFailed
from shared.egress import EgressPolicy
from tests.support.tls import ca_file
from tests.support.webhooks import SnsCertificateServer, SnsSigner

LOCAL = EgressPolicy.from_entries(["127.0.0.1/32:1024-65535"])


@pytest.fixture(scope="module")
def sns_fake():
    with SnsCertificateServer() as fake:
        yield fake


@pytest.fixture
async def client():
    sns = SnsHttpClient(LOCAL, tls_ca_file=ca_file(), timeout_seconds=5)
    yield sns
    await sns.close()


async def test_a_certificate_is_fetched_once_per_url(client, sns_fake):
    signer = SnsSigner()
    url = sns_fake.serve(signer, "cached")
    assert await client.certificate(url) == signer.certificate_pem
    assert await client.certificate(url) == signer.certificate_pem
    assert sns_fake.fetches.count("/cached.pem") == 1


async def test_the_cache_is_bounded(client, sns_fake, monkeypatch):
    monkeypatch.setattr(webhook_sns, "CACHED_CERTIFICATES_MAX", 2)
    signer = SnsSigner()
    urls = [sns_fake.serve(signer, f"bounded-{index}") for index in range(3)]
    for url in urls:
        await client.certificate(url)
    await client.certificate(urls[0])
    assert sns_fake.fetches.count("/bounded-0.pem") == 2


async def test_a_subscription_is_confirmed_by_visiting_its_url(client, sns_fake):
    await client.confirm_subscription(sns_fake.subscribe_url("visit-1"))
    assert "visit-1" in sns_fake.confirmations


@pytest.mark.parametrize(
    ("path", "why"),
    [("/missing.pem", "HTTP 404"), ("/redirect.pem", "HTTP 302"), ("/huge.pem", "larger than")],
)
async def test_what_is_not_a_certificate_fails(client, sns_fake, path, why):
    sns_fake.certificates["/huge.pem"] = b"x" * (webhook_sns.CERTIFICATE_MAX_BYTES + 1)
    with pytest.raises(SnsFetchFailed, match=why):
        await client.certificate(sns_fake.base_url + path)
    assert not any("redirected" in token for token in sns_fake.confirmations)


async def test_the_egress_policy_holds(sns_fake):
    sns = SnsHttpClient(EgressPolicy(), tls_ca_file=ca_file(), timeout_seconds=5)
    try:
        with pytest.raises(SnsFetchFailed, match="internal addresses"):
            await sns.certificate(sns_fake.serve(SnsSigner(), "egress"))
    finally:
        await sns.close()
    assert "/egress.pem" not in sns_fake.fetches


async def test_a_certificate_from_an_untrusted_ca_is_refused(sns_fake):
    sns = SnsHttpClient(LOCAL, tls_ca_file=None, timeout_seconds=5)
    try:
        with pytest.raises(SnsFetchFailed):
            await sns.certificate(sns_fake.serve(SnsSigner(), "untrusted"))
    finally:
        await sns.close()
