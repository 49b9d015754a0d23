"""The bounce mail endpoint while PostgreSQL cannot be reached: the mail is refused with 451 (the
sender keeps it and tries again), never accepted and lost. In process: the endpoint's listener and
handler as the service builds them, over a real socket, with a database nobody answers on."""

from typing import cast
from uuid import uuid4

import aiosmtplib
import asyncpg
import pytest

from services.bounces.adapters.feedback_store import PgFeedbackStore
from services.bounces.adapters.smtp_intake import SmtpListener
from services.bounces.app.feedback import FeedbackPolicy, TakeFeedback
from services.bounces.entrypoints.smtp import BounceMailHandler
from shared.db import Database
from shared.verp import verp_address
from tests.support.infra import free_port

SECRET = "verp-secret-of-the-outage-test"


class Unreachable:
    """A database whose every connection is refused (nothing listens on its port)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool


@pytest.fixture
async def endpoint_without_database():
    pool = await asyncpg.create_pool(f"postgresql://postgres@127.0.0.1:{free_port()}/none", min_size=0)
    store = PgFeedbackStore(cast(Database, Unreachable(pool)))
    listener = SmtpListener(
        BounceMailHandler(TakeFeedback(store, FeedbackPolicy()), verp_secret=SECRET, max_recipients=5),
        host="127.0.0.1",
        port=0,
        hostname="bounces.test",
        data_size_limit=1024 * 1024,
        max_sessions=5,
        timeout_seconds=5,
        session_max_seconds=30,
    )
    await listener.start()
    yield listener
    await listener.stop()
    await pool.close()


async def test_a_bounce_that_cannot_be_stored_is_answered_451(endpoint_without_database):
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=endpoint_without_database.port, timeout=10)
    await client.connect()
    try:
        await client.mail("")
        await client.rcpt(verp_address(uuid4(), "return.example", SECRET))
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.data(b"Subject: Undelivered\r\n\r\nsorry\r\n")
        assert refused.value.code == 451
    finally:
        client.close()
