"""Isolation for test runs: a fresh PostgreSQL database and a fresh RabbitMQ virtual host per run.

The same helpers as `make demo` and `make bench` (tools/stack.py), with unique names and the
servers the test environment names.
"""

import os
import uuid

from tools import stack
from tools.stack import free_port

__all__ = ["create_database", "create_vhost", "delete_vhost", "drop_database", "free_port"]

INFRA = stack.Infrastructure(
    admin_database_url=os.environ.get(
        "SENDPOOL_TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    ),
    amqp_base_url=os.environ.get("SENDPOOL_TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672"),
)


def create_database(prefix: str = "sendpool_test") -> str:
    return stack.create_database(INFRA, f"{prefix}_{uuid.uuid4().hex[:10]}")


def drop_database(url: str) -> None:
    stack.drop_database(INFRA, url.rsplit("/", 1)[1])


def create_vhost(prefix: str = "sendpool-test") -> str:
    return stack.create_vhost(INFRA, f"{prefix}-{uuid.uuid4().hex[:10]}")


def delete_vhost(url: str) -> None:
    stack.delete_vhost(url.rsplit("/", 1)[1])
