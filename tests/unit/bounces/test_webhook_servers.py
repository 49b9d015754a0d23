"""`CatalogWebhookServers`: one catalog question per server and period, unknown ids kept too, bounded."""

import json
import uuid

import pytest
from aiormq.exceptions import AMQPConnectionError

from services.bounces.adapters import webhook_servers
from services.bounces.adapters.webhook_servers import CatalogWebhookServers
from services.bounces.app.ports import WebhookServersUnavailable
from shared.contracts import RpcError, ServerConnectionSettings, ServerSettingsReply


class Rpc:
    def __init__(self, answers: dict) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def request(self, body: bytes, *, queue: str, timeout: float) -> bytes:
        server_id = json.loads(body)["server_id"]
        self.asked.append(server_id)
        answer = self.answers.get(
            server_id, RpcError(error=f"server {server_id} not found").model_dump_json().encode()
        )
        if isinstance(answer, Exception):
            raise answer
        return answer


def reply(server_id, **settings) -> bytes:
    return (
        ServerSettingsReply(
            server_id=server_id,
            type="sendgrid_api",
            vendor="sendgrid",
            settings=ServerConnectionSettings(**settings),
            version=1,
        )
        .model_dump_json()
        .encode()
    )


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_server_is_asked_once_per_period_and_unknown_ones_too():
    known, unknown = uuid.uuid4(), uuid.uuid4()
    rpc, clock = Rpc({str(known): reply(known, api_key="k", webhook_verification_key="pk")}), Clock()
    servers = CatalogWebhookServers(rpc, timeout_seconds=1, cache_seconds=30, monotonic=clock)  # type: ignore[arg-type]

    first = await servers.get(known)
    await servers.get(known)
    assert await servers.get(unknown) is None
    assert await servers.get(unknown) is None
    assert first is not None and (first.vendor, first.key("webhook_verification_key")) == ("sendgrid", "pk")
    assert rpc.asked == [str(known), str(unknown)]

    clock.now = 31
    await servers.get(known)
    assert rpc.asked == [str(known), str(unknown), str(known)]


async def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(webhook_servers, "CACHED_SERVERS_MAX", 3)
    rpc = Rpc({})
    servers = CatalogWebhookServers(rpc, timeout_seconds=1, cache_seconds=30, monotonic=Clock())  # type: ignore[arg-type]
    ids = [uuid.uuid4() for _ in range(5)]
    for server_id in ids:
        await servers.get(server_id)
    await servers.get(ids[0])  # pushed out: asked again
    assert rpc.asked.count(str(ids[0])) == 2 and len(servers._cache) == 3


@pytest.mark.parametrize(
    "answer",
    [TimeoutError(), AMQPConnectionError("connection lost"), b"not json", b'{"server_id": "x"}'],
)
async def test_no_usable_answer_is_unavailable_not_unknown(answer):
    server_id = uuid.uuid4()
    servers = CatalogWebhookServers(Rpc({str(server_id): answer}), timeout_seconds=1, cache_seconds=30)  # type: ignore[arg-type]
    with pytest.raises(WebhookServersUnavailable):
        await servers.get(server_id)
