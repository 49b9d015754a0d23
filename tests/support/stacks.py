"""A stack of real service processes on a database and a RabbitMQ virtual host of its own, so that
no other test's consumer or stand-in takes its messages (the same `Stack` as the demo and the bench)."""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.infra import fresh_test_database, fresh_test_vhost
from tools.stack.run import Stack


@contextmanager
def isolated_stack(
    logs: Path,
    env: Mapping[str, str],
    operator_token: str,
    waves: Sequence[Sequence[str]],
    *,
    name: str = "sendpool-test",
    stop_timeout: float = 40,
) -> Iterator[Stack]:
    """`waves`: which services start together, in order (the catalog first: a router asks it for a
    snapshot as it starts). `env` is completed with the fresh database's and vhost's URLs."""
    with (
        fresh_test_database(name.replace("-", "_")) as database_url,
        fresh_test_vhost(name) as amqp_url,
        httpx.Client(timeout=60) as http,
    ):
        env = {**env, "SENDPOOL_DATABASE_URL": database_url, "SENDPOOL_AMQP_URL": amqp_url}
        stack = Stack(logs, env, operator_token, http, waves)
        try:
            stack.start()
            yield stack
        finally:
            stack.stop(timeout=stop_timeout)
