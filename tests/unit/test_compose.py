"""deploy/compose.yaml: valid Compose, and the same services, settings and secrets as the manifests.

Offline: the Compose specification's schema is built into check-jsonschema; no Docker is needed.
"""

import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from ops.registry import service
from shared.egress import EgressPolicy
from shared.telemetry import tracing_configured

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"

# ${VAR:?message} (required) and ${VAR:-default}: the two forms the generated file uses.
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]*\}")
DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@cache
def manifests() -> dict[str, dict]:
    """Deployments by component label, as in deploy/k8s."""
    docs = [
        doc for path in (DEPLOY / "k8s").glob("*.yaml") for doc in yaml.safe_load_all(path.read_text()) if doc
    ]
    return {
        doc["metadata"]["labels"]["app.kubernetes.io/component"]: doc
        for doc in docs
        if doc["kind"] == "Deployment"
    }


def sendpool_services() -> dict[str, dict]:
    """The services built from deploy/Dockerfile: sendpool's own processes."""
    return {name: spec for name, spec in compose()["services"].items() if "build" in spec}


def only_container(deployment: dict) -> dict:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def config_maps() -> dict[str, dict[str, str]]:
    docs = yaml.safe_load_all((DEPLOY / "k8s" / "config.yaml").read_text())
    return {doc["metadata"]["name"]: doc["data"] for doc in docs}


def substituted(value: str, env_file: dict[str, str]) -> str:
    """What Compose makes of a value with this env file; a required variable missing fails the test."""

    def required(match: re.Match) -> str:
        assert env_file.get(match.group(1)), f"{match.group(1)} is required but not in the env file"
        return env_file[match.group(1)]

    return DEFAULTED.sub(lambda m: env_file.get(m.group(1)) or m.group(2), REQUIRED.sub(required, value))


def filled_env_example() -> dict[str, str]:
    """deploy/compose.env.example with a fresh random value for every empty variable."""
    values = {}
    for line in (DEPLOY / "compose.env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value or (
                Fernet.generate_key().decode() if name.endswith("_KEYS") else os.urandom(32).hex()
            )
    return values


def test_compose_file_is_valid_against_the_compose_specification():
    checked = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_schema_check_catches_a_misspelt_key(tmp_path):
    """The check is strict: a misspelt key (which Compose would refuse) fails it."""
    broken = compose() | {"services": {"catalog": {"image": "sendpool:latest", "helthcheck": {}}}}
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    checked = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode != 0
    assert "helthcheck" in checked.stdout + checked.stderr


def test_every_deployment_runs_in_compose_as_in_its_manifest():
    services = sendpool_services()
    data = config_maps()
    assert set(manifests()) <= set(services), "a Deployment has no Compose service"
    for name, deployment in manifests().items():
        container, spec = only_container(deployment), services[name]
        assert spec["image"] == container["image"], name
        assert spec["build"]["dockerfile"] == "deploy/Dockerfile", name
        assert spec["command"] == container["command"], name
        from_manifest = {var["name"] for var in container["env"]} | {
            key for source in container.get("envFrom", []) for key in data[source["configMapRef"]["name"]]
        }
        # A pod is named after itself; in Compose each process draws a random instance id.
        assert from_manifest - {"SENDPOOL_INSTANCE_ID"} <= set(spec["environment"]), name
        assert spec["deploy"]["resources"]["limits"]["memory"] == container["resources"]["limits"][
            "memory"
        ].replace("Mi", "m")
        assert (
            spec["stop_grace_period"]
            == f"{deployment['spec']['template']['spec']['terminationGracePeriodSeconds']}s"
        )
        assert spec["read_only"] is True and spec["cap_drop"] == ["ALL"]


def test_each_service_waits_for_migrations_and_checks_its_readiness():
    services = compose()["services"]
    assert services["migrate"]["command"] == ["sendpool", "migrate"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name, spec in sendpool_services().items():
        if name == "migrate":
            continue
        assert "/readyz" in " ".join(spec["healthcheck"]["test"]), name
        if name == "console":
            # No database or broker: it waits for the APIs it calls.
            assert spec["depends_on"] == {
                api: {"condition": "service_healthy"} for api in ("catalog", "scheduler", "router")
            }
            continue
        assert spec["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert spec["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}, name
        assert "/readyz" in " ".join(spec["healthcheck"]["test"]), name
        for dependency in spec["depends_on"]:
            if spec["depends_on"][dependency]["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], dependency


def test_secrets_come_only_from_the_env_file_and_every_one_is_required():
    secrets = {"SENDPOOL_TOKEN_SECRET", "SENDPOOL_OPERATOR_TOKEN", "SENDPOOL_VERP_SECRET"}
    secrets |= {
        "SENDPOOL_UNSUBSCRIBE_SECRET",
        "SENDPOOL_CATALOG_SECRET_KEYS",
        "SENDPOOL_WEBHOOKS_SECRET_KEYS",
        "SENDPOOL_CONSOLE_SESSION_KEYS",
    }
    required_anywhere = set(REQUIRED.findall(COMPOSE.read_text()))
    for name, spec in compose()["services"].items():
        for variable, value in spec.get("environment", {}).items():
            if (
                variable in secrets
                or "PASSWORD" in variable
                or variable.endswith("_URL")
                and "@" in str(value)
            ):
                # No default: a ${VAR:-default} secret would start the stack with a value anyone can read here.
                assert REQUIRED.search(str(value)), f"{name}: {variable} is not read from the env file"
                assert not DEFAULTED.search(str(value)), f"{name}: {variable} has a default"
    documented = set(filled_env_example())
    assert required_anywhere <= documented, "deploy/compose.env.example misses a required variable"
    assert secrets <= required_anywhere
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_every_services_compose_environment_builds_its_settings(monkeypatch):
    env_file = filled_env_example()
    for name, spec in sendpool_services().items():
        if name == "migrate":
            continue
        for variable in [variable for variable in os.environ if variable.startswith("SENDPOOL_")]:
            monkeypatch.delenv(variable)
        environment = {key: substituted(str(value), env_file) for key, value in spec["environment"].items()}
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        settings = service(name.split("-")[0]).settings()
        assert not settings.dev_mode
        if name == "console":
            # It reaches the APIs by their Compose names, and is served over plain http on localhost.
            assert str(settings.catalog_url) == "http://catalog:8080/"
            assert settings.secure_cookies is False
            continue
        assert settings.database_url.endswith("@postgres:5432/sendpool"), name
        assert settings.amqp_url.endswith("@rabbitmq:5672/sendpool"), name
        if name.startswith("delivery-"):
            assert settings.vendor == name.removeprefix("delivery-")


def test_delivery_workers_may_reach_the_mail_sink_and_nothing_else_inside():
    services = compose()["services"]
    (subnet,) = (entry["subnet"] for entry in compose()["networks"]["default"]["ipam"]["config"])
    sink = services["mailpit"]
    assert sink["image"].startswith("axllent/mailpit:")
    for name, spec in sendpool_services().items():
        if not name.startswith("delivery-"):
            continue
        policy = EgressPolicy.from_entries(spec["environment"]["SENDPOOL_DELIVERY_EGRESS_ALLOW"].split(","))
        inside = subnet.rsplit(".", 1)[0] + ".7"
        assert policy.refusal(inside, 1025) is None, name
        for port in (5432, 5672, 15672, 8080, 2525):
            assert policy.refusal(inside, port) is not None, f"{name} may reach port {port} inside"


def test_smtp_and_mx_workers_start_by_default_and_the_other_vendors_behind_profiles():
    workers = {name: spec for name, spec in sendpool_services().items() if name.startswith("delivery-")}
    assert {name for name, spec in workers.items() if "profiles" not in spec} == {
        "delivery-smtp",
        "delivery-mx",
    }
    for name, spec in workers.items():
        if "profiles" in spec:
            assert spec["profiles"] == ["vendors", name.removeprefix("delivery-")]


def test_prometheus_scrapes_every_service_by_its_compose_name():
    config = yaml.safe_load((DEPLOY / "observability" / "prometheus" / "prometheus.yml").read_text())
    scraped = {
        name: job["metrics_path"]
        for job in config["scrape_configs"]
        for sd in job["dns_sd_configs"]
        for name in sd["names"]
    }
    expected = set(sendpool_services()) - {"migrate"}
    assert set(scraped) == expected
    assert set(scraped.values()) == {"/metrics"}
    assert config["rule_files"] == ["/etc/prometheus/alerts.yaml"]
    observability = compose()["services"]
    assert "./observability/prometheus:/etc/prometheus:ro" in observability["prometheus"]["volumes"]
    for name in ("prometheus", "grafana", "jaeger"):
        assert observability[name]["profiles"] == ["observability"], name


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard():
    services = compose()["services"]
    provisioning = DEPLOY / "observability" / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "sendpool.yaml").read_text())["datasources"]
    prometheus = next(source for source in datasources if source["type"] == "prometheus")
    assert prometheus["url"] == "http://prometheus:9090" and prometheus["isDefault"] is True
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "sendpool.yaml").read_text())["providers"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in services["grafana"]["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./observability/grafana/provisioning"
    dashboard = Path(mounts[f"{provider['options']['path']}/sendpool.json"])
    assert dashboard == Path("./observability/grafana/sendpool.json")


@pytest.mark.parametrize(
    "name", ["catalog", "scheduler", "router", "bounces", "events", "webhooks", "console"]
)
def test_http_apis_are_published_on_the_readme_ports_of_localhost_only(name):
    ports = {
        "catalog": 8001,
        "scheduler": 8002,
        "router": 8003,
        "bounces": 8005,
        "events": 8006,
        "webhooks": 8007,
        "console": 8008,
    }
    assert f"127.0.0.1:{ports[name]}:8080" in compose()["services"][name]["ports"]
    for spec in compose()["services"].values():
        for published in spec.get("ports", []):
            assert published.startswith("127.0.0.1:"), published


def test_only_the_compose_console_sends_its_cookie_over_plain_http():
    assert compose()["services"]["console"]["environment"]["SENDPOOL_CONSOLE_SECURE_COOKIES"] == "false"
    (console,) = [
        container
        for deployment in manifests().values()
        for container in deployment["spec"]["template"]["spec"]["containers"]
        if container["name"] == "console"
    ]
    in_cluster = {var["name"] for var in console["env"]} | {
        key for source in console["envFrom"] for key in config_maps()[source["configMapRef"]["name"]]
    }
    assert "SENDPOOL_CONSOLE_SECURE_COOKIES" not in in_cluster  # its default, true


def test_tracing_is_off_until_the_env_file_turns_it_on_and_then_reaches_jaeger():
    services = compose()["services"]
    assert "4318" not in str(services["jaeger"].get("ports", []))  # OTLP stays inside the network
    for name, spec in sendpool_services().items():
        if name == "migrate":
            continue
        environment = {key: str(value) for key, value in spec["environment"].items()}
        default = {
            key: substituted(value, filled_env_example() | {"OTEL_SDK_DISABLED": ""})
            for key, value in environment.items()
        }
        assert not tracing_configured(default), name
        turned_on = {
            key: substituted(value, {**filled_env_example(), "OTEL_SDK_DISABLED": "false"})
            for key, value in environment.items()
        }
        assert tracing_configured(turned_on), name
        assert turned_on["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"


def test_promtool_accepts_the_scrape_configuration_with_its_rules(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing in CI: `make test` installs it (Debian package prometheus)")
        pytest.skip("promtool is not installed (Debian package prometheus)")
    prometheus = DEPLOY / "observability" / "prometheus"
    # The rules' path is where Compose mounts them; promtool reads them from the repository instead.
    config = (prometheus / "prometheus.yml").read_text()
    assert "/etc/prometheus/alerts.yaml" in config
    local = tmp_path / "prometheus.yml"
    local.write_text(config.replace("/etc/prometheus/alerts.yaml", str(prometheus / "alerts.yaml")))
    checked = subprocess.run(
        [promtool, "check", "config", str(local)], capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 rule files found" in checked.stdout + checked.stderr


def test_the_sendmail_worker_relays_to_the_mail_sink_where_the_pods_mount_their_relay_configuration():
    """Without an msmtprc the image's sendmail (msmtp) exits 74 and every message would be deferred."""
    (mount,) = compose()["services"]["delivery-sendmail"]["volumes"]
    source, target, mode = mount.split(":")
    assert (target, mode) == ("/etc/sendpool/sendmail/msmtprc", "ro")
    relay = (DEPLOY / source).read_text()
    assert re.search(r"^host mailpit$", relay, re.M) and re.search(r"^port 1025$", relay, re.M)
    assert re.search(r"^tls off$", relay, re.M), "the mail sink speaks no TLS"
    other_workers = [name for name in sendpool_services() if name != "delivery-sendmail"]
    assert all("volumes" not in compose()["services"][name] for name in other_workers)
