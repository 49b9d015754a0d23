"""No service runs on public secrets: each real process, started as Kubernetes starts it, refuses to
start without its secrets or with the example Secret's placeholders, naming the variables (never
their values); and the token that earlier versions made the operator's is nobody's.

The processes get explicit environments (the harness strips inherited SENDPOOL_* variables), so
the test process's SENDPOOL_DEV_MODE=1 does not reach them: they run as in production.
"""

import secrets
import subprocess
import time
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
import yaml
from cryptography.fernet import Fernet

from tests.support.infra import free_port
from tests.support.processes import ServiceProcess
from tools.stack.processes import REPO

PUBLISHED_OPERATOR_TOKENS = ("dev-operator-token", "development-mode-operator-token")
"""The operator token of earlier versions' defaults, and the one development mode fills in."""

SECRETS_OF = {
    "catalog": ("SENDPOOL_CATALOG_SECRET_KEYS", "SENDPOOL_OPERATOR_TOKEN", "SENDPOOL_TOKEN_SECRET"),
    "scheduler": ("SENDPOOL_OPERATOR_TOKEN", "SENDPOOL_TOKEN_SECRET"),
    "router": ("SENDPOOL_OPERATOR_TOKEN", "SENDPOOL_TOKEN_SECRET"),
    "delivery": ("SENDPOOL_VERP_SECRET",),
}
EVERY_SECRET = {name for names in SECRETS_OF.values() for name in names}

EXIT_TIMEOUT_SECONDS = 90
"""A service that refuses exits while it reads its settings, before it connects anywhere: within
seconds, but importing a service takes long on a loaded machine, and a busy CI runner is one."""


def example_placeholders() -> dict[str, str]:
    documents = yaml.safe_load_all((REPO / "deploy" / "secret.example.yaml").read_text())
    return next(doc for doc in documents if doc["metadata"]["name"] == "sendpool")["stringData"]


def random_secrets() -> dict[str, str]:
    values = {name: secrets.token_hex(32) for name in EVERY_SECRET}
    values["SENDPOOL_CATALOG_SECRET_KEYS"] = Fernet.generate_key().decode()
    return values


@pytest.fixture
def env_without_secrets(service_env) -> dict[str, str]:
    env = {name: value for name, value in service_env.items() if name not in EVERY_SECRET}
    assert "SENDPOOL_DEV_MODE" not in env
    return env


def exits_of(envs: dict[str, dict[str, str]], logs: Path) -> dict[str, tuple[int, str]]:
    """Start each service of `envs` with its environment, side by side, and wait for each to exit:
    its exit code and what it wrote. A service still running at the deadline fails the test."""
    processes = {
        service: ServiceProcess(service, free_port(), env, logs / f"{service}.log").spawn()
        for service, env in envs.items()
    }
    deadline = time.monotonic() + EXIT_TIMEOUT_SECONDS
    try:
        for service, process in processes.items():
            try:
                process.process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{service} kept running without safe secrets; its log:\n{process.log_tail()}")
    finally:
        for process in processes.values():
            process.stop(timeout=10)
    return {
        service: (process.process.returncode, process.log_tail()) for service, process in processes.items()
    }


def test_a_service_without_its_secrets_exits_naming_every_one(env_without_secrets, logs_dir):
    exits = exits_of({service: env_without_secrets for service in SECRETS_OF}, logs_dir / "no-secrets")

    for service, (code, output) in exits.items():
        assert code != 0, service
        assert f"sendpool-{service} cannot start: set {', '.join(SECRETS_OF[service])}" in output
        assert "SENDPOOL_DEV_MODE=1" in output
        assert "Traceback" not in output, "one line an operator can act on, not a traceback"


def test_the_catalog_with_its_encryption_key_but_no_api_secrets_exits(env_without_secrets, logs_dir):
    """Earlier versions refused a missing encryption key, but started with public API secrets."""
    env = {**env_without_secrets, "SENDPOOL_CATALOG_SECRET_KEYS": Fernet.generate_key().decode()}

    ((code, output),) = exits_of({"catalog": env}, logs_dir / "no-api-secrets").values()

    assert code != 0
    assert "sendpool-catalog cannot start: set SENDPOOL_OPERATOR_TOKEN, SENDPOOL_TOKEN_SECRET" in output


def test_a_service_given_the_example_secrets_placeholders_exits(env_without_secrets, logs_dir):
    placeholders = example_placeholders()
    envs = {
        service: {**env_without_secrets, **{name: placeholders[name] for name in names}}
        for service, names in SECRETS_OF.items()
    }

    exits = exits_of(envs, logs_dir / "placeholder-secrets")

    for service, (code, output) in exits.items():
        assert code != 0, service
        for name in SECRETS_OF[service]:
            assert f"{name} is still a placeholder" in output
        assert "openssl rand" not in output and "<Fernet" not in output, "a value is never echoed"


def test_a_service_given_the_former_default_operator_token_exits(env_without_secrets, logs_dir):
    env = {**env_without_secrets, **random_secrets(), "SENDPOOL_OPERATOR_TOKEN": "dev-operator-token"}

    ((code, output),) = exits_of({"scheduler": env}, logs_dir / "former-default").values()

    assert code != 0
    assert "SENDPOOL_OPERATOR_TOKEN is a published development value" in output
    assert "dev-operator-token" not in output


@pytest.fixture(scope="module")
def running_with_real_secrets(service_env, logs_dir):
    """The catalog and the scheduler as production runs them: random secrets, no development mode."""
    values = random_secrets()
    env = {**service_env, **values}
    processes = {
        name: ServiceProcess(name, free_port(), env, logs_dir / f"real-secrets-{name}.log").start()
        for name in ("catalog", "scheduler")
    }
    yield processes, values["SENDPOOL_OPERATOR_TOKEN"]
    for process in processes.values():
        process.stop()


OPERATOR_REQUESTS = {
    # Operator-only in the catalog; the scheduler lets the operator follow any tenant's campaign.
    "catalog": ("/plans", 200),
    "scheduler": (f"/campaigns/{uuid4()}", 404),
}


@pytest.mark.parametrize("service", OPERATOR_REQUESTS)
@pytest.mark.parametrize("token", PUBLISHED_OPERATOR_TOKENS)
def test_a_published_operator_token_is_nobodys(service, token, running_with_real_secrets):
    processes, operator_token = running_with_real_secrets
    path, operators_status = OPERATOR_REQUESTS[service]
    url = processes[service].url + path

    as_operator = httpx.get(url, headers={"Authorization": f"Bearer {operator_token}"}, timeout=10)
    with_published_token = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    assert as_operator.status_code == operators_status, as_operator.text
    assert with_published_token.status_code == 401, with_published_token.text
