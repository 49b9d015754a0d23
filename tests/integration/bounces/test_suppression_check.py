"""`bounces.rpc` on a running bounces service: which of a batch of addresses a tenant may not mail."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from shared.contracts import SuppressionCheck, SuppressionCheckReply
from shared.rpc import RpcClient
from shared.topology import BOUNCES_RPC_QUEUE_NAME


@pytest.fixture
async def rpc(bounces_service, bounces_env):
    client = RpcClient(bounces_env["SENDPOOL_AMQP_URL"], name="test-suppression-check")
    yield client
    await client.close()


async def check(rpc: RpcClient, tenant_id, addresses: list[str]) -> dict[str, str]:
    request = SuppressionCheck(tenant_id=tenant_id, addresses=addresses)
    reply = await rpc.request(request.model_dump_json().encode(), queue=BOUNCES_RPC_QUEUE_NAME, timeout=10)
    return SuppressionCheckReply.model_validate_json(reply).suppressed


async def test_the_tenants_list_and_the_global_one_apply_and_expired_entries_do_not(rpc, bounces_db):
    tenant, other = uuid4(), uuid4()
    mark = uuid4().hex[:8]
    now = datetime.now(UTC)
    rows = [
        (tenant, f"own-{mark}@example.com", "hard bounce 5.1.1", None),
        (None, f"global-{mark}@example.com", "known spam trap", None),
        (other, f"others-{mark}@example.com", "complaint", None),
        (tenant, f"expired-{mark}@example.com", "repeated soft bounces", now - timedelta(minutes=1)),
        (tenant, f"later-{mark}@example.com", "repeated soft bounces", now + timedelta(days=1)),
    ]
    await bounces_db.pool.executemany(
        "INSERT INTO suppressions (tenant_id, address, reason, source, expires_at) VALUES ($1, $2, $3, 'manual', $4)",
        rows,
    )
    asked = [
        f"Own-{mark}@Example.com",
        f"global-{mark}@example.com",
        f"others-{mark}@example.com",
        f"expired-{mark}@example.com",
        f"later-{mark}@example.com",
        f"free-{mark}@example.com",
    ]

    suppressed = await check(rpc, tenant, asked)

    assert set(suppressed) == {asked[0], asked[1], asked[4]}, "keyed as asked, compared case-insensitively"
    assert "hard bounce 5.1.1" in suppressed[asked[0]]
    assert suppressed[asked[1]].startswith("global")
    assert await check(rpc, other, [f"others-{mark}@example.com", f"own-{mark}@example.com"]) == {
        f"others-{mark}@example.com": "suppression list: complaint"
    }
    assert await check(rpc, tenant, []) == {}


async def test_an_internationalized_domain_is_one_address_in_either_form(rpc, bounces_db):
    tenant, mark = uuid4(), uuid4().hex[:8]
    await bounces_db.pool.execute(
        "INSERT INTO suppressions (tenant_id, address, reason, source) VALUES ($1, $2, 'hard bounce', 'manual')",
        tenant,
        f"idn-{mark}@bücher.example",  # as the API stores it (email-validator's form, lower-cased)
    )
    asked = [
        f"IDN-{mark}@xn--bcher-kva.example",
        f"idn-{mark}@Bücher.example",
        f"idn-{mark}@xn--other.example",
    ]

    assert set(await check(rpc, tenant, asked)) == {asked[0], asked[1]}
