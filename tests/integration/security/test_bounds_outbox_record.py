"""The router's and the scheduler's outbox (shared/outbox.py) against real PostgreSQL: a message too
large for the relay to publish is refused when it is recorded, with the change that made it, so that
it can never sit at the head of the outbox failing every round and holding up every row behind it.

Before, `record` stored any size; a row larger than RabbitMQ's `max_message_size` closed the relay's
channel in every round, for good. (The contracts' bounds keep every real message far below the limit:
this is the last guard, shown here with a message made large on purpose.)"""

from dataclasses import dataclass

import pytest

from shared import outbox
from shared.db import Database
from shared.limits import OUTBOX_MESSAGE_MAX_BYTES
from tests.support.infra import create_database, drop_database

CHANNEL = "bounds_outbox"


@pytest.fixture
async def database(tmp_path):
    (tmp_path / "0001_outbox.sql").write_text(outbox.OUTBOX_TABLE)
    url = create_database("sendpool_bounds_outbox")
    try:
        async with Database(url, "bounds_outbox", tmp_path, pool_size=2, wait_seconds=0) as opened:
            yield opened
    finally:
        drop_database(url)


@dataclass
class Message:
    body: str
    routing_key: str = "tenant.campaign.campaign_stopped"

    def model_dump_json(self) -> str:
        return self.body


async def test_a_message_too_large_to_publish_is_refused_with_its_change_and_the_others_go_on(database):
    async with database.pool.acquire() as conn:
        with pytest.raises(outbox.MessageTooLarge, match=str(OUTBOX_MESSAGE_MAX_BYTES)):
            async with conn.transaction():
                await outbox.record(
                    conn, "sendpool.status", [Message("x" * (OUTBOX_MESSAGE_MAX_BYTES + 1))], channel=CHANNEL
                )
        async with conn.transaction():
            await outbox.record(conn, "sendpool.status", [Message('{"fits": true}')], channel=CHANNEL)
        rows = await conn.fetch("SELECT body FROM outbox ORDER BY id")

    assert [bytes(row["body"]) for row in rows] == [b'{"fits": true}']
