"""The PostgreSQL and RabbitMQ servers a run borrows: a database and a virtual host of its own, and
what the harness asks RabbitMQ (queue depths, `rabbitmqctl`)."""

import logging
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import aio_pika
import psycopg

from tools.stack.errors import RunFailed

log = logging.getLogger("sendpool.tools")


@dataclass(frozen=True)
class Infrastructure:
    """Where the PostgreSQL and RabbitMQ servers that a run borrows live."""

    admin_database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    amqp_base_url: str = "amqp://guest:guest@127.0.0.1:5672"


def run_checked(command: Sequence[str], timeout: float = 120.0) -> str:
    """Run an administration command; its output, or `RunFailed` with its error if it fails."""
    log.debug("running %s", " ".join(command))
    done = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RunFailed(f"{' '.join(command)} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def rabbitmqctl(*args: str) -> str:
    return run_checked(["rabbitmqctl", "-q", *args], timeout=60)


# --------------------------------------------------------------------------- databases


def create_database(infra: Infrastructure, name: str) -> str:
    """An empty database (an old one of that name is dropped first); returns its URL."""
    drop_database(infra, name)
    with psycopg.connect(infra.admin_database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return infra.admin_database_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(infra: Infrastructure, name: str) -> None:
    with psycopg.connect(infra.admin_database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(infra: Infrastructure, name: str, *, keep: bool = False) -> Iterator[str]:
    """An empty database for one run; yields its URL and drops it afterwards unless `keep`."""
    url = create_database(infra, name)
    try:
        yield url
    finally:
        if keep:
            log.info("database %s kept", name)
        else:
            drop_database(infra, name)


# --------------------------------------------------------------------------- virtual hosts


def create_vhost(infra: Infrastructure, name: str) -> str:
    """An empty RabbitMQ virtual host, open to guest; returns its AMQP URL."""
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    except RunFailed:
        delete_vhost(name)
        raise
    return f"{infra.amqp_base_url}/{name}"


def delete_vhost(name: str) -> None:
    rabbitmqctl("delete_vhost", name)


@contextmanager
def fresh_vhost(infra: Infrastructure, name: str, *, keep: bool = False) -> Iterator[str]:
    """An empty RabbitMQ virtual host for one run, open to guest; yields its AMQP URL and deletes
    it afterwards unless `keep`."""
    try:
        yield create_vhost(infra, name)
    finally:
        if keep:
            log.info("virtual host %s kept", name)
        else:
            delete_vhost(name)


async def queue_depths(amqp_url: str, *names: str) -> list[int]:
    """How many messages each named queue holds (ready to deliver, not those unacknowledged)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        return [
            (await channel.declare_queue(name, passive=True)).declaration_result.message_count or 0
            for name in names
        ]
