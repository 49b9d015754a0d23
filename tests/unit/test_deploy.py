"""The Kubernetes manifests in deploy/: current, valid for KEDA, and consistent with the code they run.

No cluster is needed: the KEDA CRD schemas are read from ../shared/data/k8s/, everything else is
checked against the settings classes, the topology and the architecture document.
"""

import ast
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from functools import cache
from pathlib import Path

import jsonschema
import pytest
import yaml
from cryptography.fernet import Fernet
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ops.cli import app as cli_app
from ops.openapi_doc import HTTP_APIS
from ops.registry import CONSOLE, SERVICES, service
from ops.settings_doc import configuration_table
from shared.messaging import make_broker
from shared.topology import SEND_QUEUE, delivery_queue_name, probe_queue

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
KEDA_SCHEMAS = REPO / ".." / "shared" / "data" / "k8s"


@cache
def generator():
    spec = importlib.util.spec_from_file_location("deploy_generate", DEPLOY / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def manifests() -> tuple[dict, ...]:
    return tuple(
        doc for path in sorted(K8S.rglob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc
    )


def of_kind(kind: str) -> list[dict]:
    return [doc for doc in manifests() if doc["kind"] == kind]


def by_name(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in of_kind(kind)}


def only_container(workload: dict) -> dict:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def service_of(deployment: dict) -> str:
    """The sendpool service a Deployment runs, read from its `faststream run --factory` command."""
    command = " ".join(only_container(deployment)["command"])
    match = re.search(r"--factory services\.(\w+)\.entrypoints\.main:create_app", command)
    assert match, f"{deployment['metadata']['name']} does not start a service: {command}"
    return match.group(1)


def vendor_of(deployment: dict) -> str | None:
    env = {var["name"]: var.get("value") for var in only_container(deployment)["env"]}
    return env.get("SENDPOOL_DELIVERY_VENDOR")


def config_map_data(container: dict) -> dict[str, str]:
    config_maps = by_name("ConfigMap")
    data: dict[str, str] = {}
    for source in container.get("envFrom", []):
        data |= config_maps[source["configMapRef"]["name"]]["data"]
    return data


@cache
def setting_names() -> dict[str, set[str]]:
    """Environment variable names by service, from the generated configuration reference."""
    names: dict[str, set[str]] = {}
    for row in configuration_table().splitlines()[2:]:
        variable, readers = (cell.strip().strip("`") for cell in row.split("|")[1:3])
        for reader in readers.split(", "):
            names.setdefault(reader, set()).add(variable)
    return names


def accepted_by(service: str) -> set[str]:
    if service == CONSOLE.name:
        # The console reads the process-wide knobs (listed as "every service, console") and its own.
        return setting_names()[CONSOLE.name]
    return setting_names()["every service"] | setting_names().get(service, set())


def test_committed_files_are_what_generate_py_writes():
    expected = generator().rendered_files()
    committed = set(K8S.rglob("*.yaml")) | {DEPLOY / "secret.example.yaml"} | set(generator().compose_files())
    assert committed == set(expected), "deploy/ is stale: run `uv run python deploy/generate.py`"
    for path, text in expected.items():
        assert path.read_text() == text, (
            f"{path.relative_to(REPO)} is stale: run `uv run python deploy/generate.py`"
        )


def unknown_fields(instance: object, schema: dict, where: str = "") -> list[str]:
    """Fields the schema does not define. The KEDA CRDs allow them (Kubernetes prunes them silently),
    so a misspelt optional field would pass validation and simply be ignored."""
    if isinstance(instance, list) and "items" in schema:
        return [
            f
            for i, item in enumerate(instance)
            for f in unknown_fields(item, schema["items"], f"{where}[{i}]")
        ]
    if not isinstance(instance, dict) or "properties" not in schema:
        return []
    found = [f"{where}.{key}" for key in instance if key not in schema["properties"]]
    for key, value in instance.items():
        if key in schema["properties"]:
            found += unknown_fields(value, schema["properties"][key], f"{where}.{key}")
    return found


@pytest.mark.parametrize(
    ("kind", "schema_file"),
    [
        ("ScaledObject", "keda.sh_scaledobjects.schema.json"),
        ("TriggerAuthentication", "keda.sh_triggerauthentications.schema.json"),
    ],
)
def test_keda_objects_validate_against_the_crd_schemas(kind, schema_file):
    schema = json.loads((KEDA_SCHEMAS / schema_file).read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    documents = of_kind(kind)
    assert documents, f"no {kind} in deploy/k8s"
    for doc in documents:
        assert doc["apiVersion"] == "keda.sh/v1alpha1"
        errors = [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(doc)]
        assert not errors, f"{kind} {doc['metadata']['name']}: {errors}"
        assert not unknown_fields(doc["spec"], schema["properties"]["spec"], "spec")


def architecture_vendors() -> set[str]:
    text = (REPO / "docs" / "architecture.md").read_text()
    table = text.split("### Server types", 1)[1].split("\n### ", 1)[0]
    return {
        match.group(1) for match in re.finditer(r"^\| `[a-z_]+` \| `([a-z0-9_-]+)` \|", table, re.MULTILINE)
    }


def test_every_vendor_of_the_architecture_has_a_delivery_deployment_and_scaled_object():
    vendors = architecture_vendors()
    assert {"smtp", "ses", "mx"} <= vendors, "the server-type table of docs/architecture.md was not read"
    deployments = {vendor_of(d): d for d in of_kind("Deployment") if service_of(d) == "delivery"}
    assert set(deployments) == vendors
    scaled_targets = {doc["spec"]["scaleTargetRef"]["name"] for doc in of_kind("ScaledObject")}
    for vendor, deployment in deployments.items():
        assert deployment["metadata"]["name"] in scaled_targets, f"delivery for {vendor} does not autoscale"


def test_each_delivery_scaled_object_sums_exactly_its_vendors_server_queues():
    deployments = by_name("Deployment")
    vendors = architecture_vendors()
    server_id = uuid.uuid4()
    for scaled in of_kind("ScaledObject"):
        target = deployments[scaled["spec"]["scaleTargetRef"]["name"]]
        if service_of(target) != "delivery":
            continue
        vendor = vendor_of(target)
        (trigger,) = scaled["spec"]["triggers"]
        metadata = trigger["metadata"]
        assert trigger["type"] == "rabbitmq"
        assert (metadata["protocol"], metadata["useRegex"], metadata["operation"]) == ("http", "true", "sum")
        pattern = re.compile(metadata["queueName"])
        assert pattern.search(delivery_queue_name(vendor, server_id)), vendor
        assert not pattern.search(probe_queue(vendor).name), "connection tests are not the vendor's backlog"
        assert not pattern.search(f"delivery-{vendor}.catalog-events.0123456789ab")
        for other in vendors - {vendor}:
            assert not pattern.search(delivery_queue_name(other, server_id)), (
                f"{vendor} counts {other}'s queues"
            )


def test_router_scales_on_its_send_queue():
    router = by_name("ScaledObject")["sendpool-router"]
    (trigger,) = router["spec"]["triggers"]
    assert trigger["metadata"]["queueName"] == SEND_QUEUE.name
    assert trigger["metadata"].get("useRegex", "false") == "false"


def test_scaled_objects_target_existing_deployments_and_authentication():
    deployments = by_name("Deployment")
    authentications = by_name("TriggerAuthentication")
    scaled_objects = of_kind("ScaledObject")
    for scaled in scaled_objects:
        spec = scaled["spec"]
        target = spec["scaleTargetRef"]["name"]
        assert target in deployments, f"{scaled['metadata']['name']} scales missing Deployment {target}"
        # A replicas field would fight the autoscaler on every `kubectl apply`.
        assert "replicas" not in deployments[target]["spec"], target
        assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
        for trigger in spec["triggers"]:
            assert trigger["authenticationRef"]["name"] in authentications
    for authentication in authentications.values():
        parameters = {ref["parameter"] for ref in authentication["spec"]["secretTargetRef"]}
        assert parameters == {"host"}
    assert len(scaled_objects) == len(architecture_vendors()) + 1  # every delivery worker and the router


def test_every_environment_variable_is_a_setting_of_the_service_it_configures():
    for deployment in of_kind("Deployment"):
        service = service_of(deployment)
        container = only_container(deployment)
        names = {var["name"] for var in container["env"]} | set(config_map_data(container))
        unknown = names - accepted_by(service)
        assert not unknown, f"{deployment['metadata']['name']} sets what {service} does not read: {unknown}"
    migrate = only_container(by_name("Job")["sendpool-migrate"])
    assert {var["name"] for var in migrate["env"]} <= accepted_by("every service")


def test_every_deployments_environment_builds_its_settings(monkeypatch):
    """The values parse too: a ConfigMap's "true" or "4" must be what the settings class accepts."""
    secret_values = {
        "SENDPOOL_CATALOG_SECRET_KEYS": Fernet.generate_key().decode(),
        "SENDPOOL_WEBHOOKS_SECRET_KEYS": Fernet.generate_key().decode(),
        "SENDPOOL_CONSOLE_SESSION_KEYS": Fernet.generate_key().decode(),
    }
    for deployment in of_kind("Deployment"):
        for name in [name for name in os.environ if name.startswith("SENDPOOL_")]:
            monkeypatch.delenv(name)
        container = only_container(deployment)
        for name, value in config_map_data(container).items():
            monkeypatch.setenv(name, value)
        for var in container["env"]:
            # Secrets shorter than 16 characters are refused (shared.settings).
            value = var.get("value") or secret_values.get(var["name"], "placeholder-of-a-random-secret")
            monkeypatch.setenv(var["name"], value)
        settings = service(service_of(deployment)).settings()
        if vendor_of(deployment):
            assert settings.vendor == vendor_of(deployment)


def secret_settings() -> set[str]:
    """Variables whose values are secret: write-only settings, and the URLs that carry passwords."""
    names = {"SENDPOOL_DATABASE_URL", "SENDPOOL_AMQP_URL"}
    for row in configuration_table().splitlines()[2:]:
        variable, _service, default = (cell.strip().strip("`") for cell in row.split("|")[1:4])
        if default == "(secret)":
            names.add(variable)
    assert {"SENDPOOL_TOKEN_SECRET", "SENDPOOL_CATALOG_SECRET_KEYS"} <= names, "no secret read from the table"
    return names


def test_secrets_come_only_from_the_secret_the_example_documents():
    example_text = (DEPLOY / "secret.example.yaml").read_text()
    example = {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(example_text)}
    documented = set(example["sendpool"]["stringData"])
    referenced = set()
    for workload in [*of_kind("Deployment"), *of_kind("Job")]:
        container = only_container(workload)
        plain = set(config_map_data(container)) | {var["name"] for var in container["env"] if "value" in var}
        leaked = secret_settings() & plain
        assert not leaked, f"{workload['metadata']['name']} takes secrets from outside the Secret: {leaked}"
        for var in container["env"]:
            if "secretKeyRef" in var.get("valueFrom", {}):
                ref = var["valueFrom"]["secretKeyRef"]
                assert (ref["name"], ref["key"]) == ("sendpool", var["name"])
                referenced.add(var["name"])
    assert referenced == documented
    assert {"SENDPOOL_VERP_SECRET", "SENDPOOL_CATALOG_SECRET_KEYS"} <= documented
    for deployment in of_kind("Deployment"):
        keys = {
            var["name"]
            for var in only_container(deployment)["env"]
            if "secretKeyRef" in var.get("valueFrom", {})
        }
        assert ("SENDPOOL_CATALOG_SECRET_KEYS" in keys) == (service_of(deployment) == "catalog")
        # The console has no credential of its own: only the keys of its session cookies.
        assert ("SENDPOOL_CONSOLE_SESSION_KEYS" in keys) == (service_of(deployment) == "console")
        if service_of(deployment) == "console":
            assert keys == {"SENDPOOL_CONSOLE_SESSION_KEYS"}
    management = example["sendpool-rabbitmq-management"]["stringData"]
    (authentication,) = of_kind("TriggerAuthentication")
    for ref in authentication["spec"]["secretTargetRef"]:
        assert ref["name"] == "sendpool-rabbitmq-management" and ref["key"] in management


def test_each_kustomization_lists_every_manifest_beside_it():
    kustomizations = sorted(K8S.rglob("kustomization.yaml"))
    assert {path.parent for path in kustomizations} == {K8S, K8S / "migrate"}
    for path in kustomizations:
        listed = yaml.safe_load(path.read_text())["resources"]
        beside = sorted(p.name for p in path.parent.glob("*.yaml") if p.name != "kustomization.yaml")
        assert sorted(listed) == beside, path.relative_to(REPO)
    # The migration Job runs on its own before a rollout, not with every `kubectl apply -k deploy/k8s`.
    assert "migrate" not in yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("directory", [K8S, K8S / "migrate"])
def test_kubectl_kustomize_builds_each_directory(directory):
    built = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    assert built.returncode == 0, built.stderr
    names = sorted(f"{doc['kind']}/{doc['metadata']['name']}" for doc in yaml.safe_load_all(built.stdout))
    in_files = sorted(
        f"{doc['kind']}/{doc['metadata']['name']}"
        for path in directory.glob("*.yaml")
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
    )
    assert names == in_files


def test_probes_ask_healthz_and_readyz_on_the_port_the_service_listens_on():
    for deployment in of_kind("Deployment"):
        container = only_container(deployment)
        command = container["command"]
        port = int(command[command.index("--port") + 1])
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            http_get = container[probe]["httpGet"]
            # Readiness follows the database too; liveness does not, so an outage restarts nothing.
            expected = "/readyz" if probe == "readinessProbe" else "/healthz"
            assert http_get["path"] == expected, (deployment["metadata"]["name"], probe)
            assert ports[http_get["port"]] == port
            # /healthz waits up to 5 s for the broker before it answers.
            assert container[probe]["timeoutSeconds"] > 5


def test_every_pod_is_scraped_for_metrics_on_the_port_the_service_listens_on():
    for deployment in of_kind("Deployment"):
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        command = only_container(deployment)["command"]
        name = deployment["metadata"]["name"]
        assert annotations.get("prometheus.io/scrape") == "true", name
        assert annotations.get("prometheus.io/port") == command[command.index("--port") + 1], name
        assert annotations.get("prometheus.io/path") == "/metrics", name


def test_every_http_api_has_a_service_reaching_its_pods():
    deployments = {service_of(d): d for d in of_kind("Deployment") if service_of(d) != "delivery"}
    services = by_name("Service")
    for api in (*HTTP_APIS, CONSOLE.name):
        deployment = deployments[api]
        service = services[deployment["metadata"]["name"]]
        assert (
            service["spec"]["selector"].items()
            <= deployment["spec"]["template"]["metadata"]["labels"].items()
        )
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= {
            p["name"] for p in only_container(deployment)["ports"]
        }


def test_pods_outlast_the_broker_drain_and_run_unprivileged():
    drain = make_broker("amqp://unused/", "deploy-test").config.graceful_timeout
    dockerfile_user = re.search(r"^USER (\d+)$", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE).group(1)
    for workload in [*of_kind("Deployment"), *of_kind("Job")]:
        pod = workload["spec"]["template"]["spec"]
        container = only_container(workload)
        if workload["kind"] == "Deployment":
            pre_stop_command = (
                container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
            )
            pre_stop = int(pre_stop_command[1]) if pre_stop_command else 0  # ["sleep", "<seconds>"]
            assert pod["terminationGracePeriodSeconds"] > pre_stop + drain, workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert str(pod["securityContext"]["runAsUser"]) == dockerfile_user
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        # Service links would inject SENDPOOL_<SERVICE>_PORT and the like: names in the settings' prefix.
        assert pod["enableServiceLinks"] is False


def measured_peak_rss_mib() -> dict[str, float]:
    """The highest peak RSS per service over every run recorded in docs/benchmarks.md."""
    peaks: dict[str, float] = {}
    for line in (REPO / "docs" / "benchmarks.md").read_text().splitlines():
        if line.startswith("{") and "peak_rss_mb" in line:
            for service, mib in json.loads(line)["peak_rss_mb"].items():
                peaks[service] = max(mib, peaks.get(service, 0.0))
    return peaks


def measured_peak_cores() -> dict[str, float]:
    """The most cores each service kept busy over a whole-pipeline run recorded in docs/benchmarks.md:
    its CPU seconds per 1,000 messages times the pipeline's messages per second, over 1,000."""
    peaks: dict[str, float] = {}
    for line in (REPO / "docs" / "benchmarks.md").read_text().splitlines():
        if line.startswith("{") and "cpu_seconds_per_1000" in line:
            run = json.loads(line)
            for service, seconds in run["cpu_seconds_per_1000"].items():
                cores = seconds * run["pipeline_msgs_per_s"] / 1000
                peaks[service] = max(cores, peaks.get(service, 0.0))
    return peaks


def cores(quantity: str) -> float:
    number, milli = re.fullmatch(r"(\d+)(m?)", quantity).groups()
    return int(number) / 1000 if milli else int(number)


def mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()
    return int(number) * (1024 if unit == "Gi" else 1)


def test_memory_and_cpu_requests_and_limits_fit_the_measured_peaks():
    peaks = measured_peak_rss_mib()
    # The console's peak comes from `make bench-console` (1,000 servers, every page many times).
    assert set(peaks) == {entry.name for entry in (*SERVICES, CONSOLE)}
    cpu_peaks = measured_peak_cores()
    assert set(cpu_peaks) >= {entry.name for entry in SERVICES}
    for deployment in of_kind("Deployment"):
        resources = only_container(deployment)["resources"]
        peak = peaks[service_of(deployment)]
        name = deployment["metadata"]["name"]
        assert mebibytes(resources["requests"]["memory"]) >= 1.25 * peak, name
        assert mebibytes(resources["limits"]["memory"]) >= 2 * peak, name
        # The console takes no part in a campaign's pipeline: no figure of it there.
        cpu_peak = (
            cpu_peaks.get(service_of(deployment), 0.0) if service_of(deployment) == CONSOLE.name else None
        )
        assert cores(resources["requests"]["cpu"]) >= 1.25 * (
            cpu_peak if cpu_peak is not None else cpu_peaks[service_of(deployment)]
        ), name
        # One Python process uses at most about one core; below that a busy router or worker is throttled.
        assert cores(resources["limits"]["cpu"]) >= 1, name


def test_each_replica_is_named_after_its_pod():
    for deployment in of_kind("Deployment"):
        env = {var["name"]: var for var in only_container(deployment)["env"]}
        if service_of(deployment) == CONSOLE.name:
            assert "SENDPOOL_INSTANCE_ID" not in env  # it names no queue or lease of its own
            continue
        assert env["SENDPOOL_INSTANCE_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_commands_name_entry_points_that_exist():
    for deployment in of_kind("Deployment"):
        module = importlib.import_module(f"services.{service_of(deployment)}.entrypoints.main")
        assert callable(module.create_app)
        if service_of(deployment) == CONSOLE.name:
            # The console has no broker: uvicorn serves it, as `python -m` (the image's venv python).
            assert only_container(deployment)["command"] == [
                "python",
                "-m",
                *CONSOLE.command("0.0.0.0", 8080),
            ]
        else:
            assert only_container(deployment)["command"][:2] == ["faststream", "run"]
    assert only_container(by_name("Job")["sendpool-migrate"])["command"] == ["sendpool", "migrate"]
    assert "migrate" in {command.name or command.callback.__name__ for command in cli_app.registered_commands}


def runtime_distributions() -> set[str]:
    """Distributions `uv sync --no-dev` installs: sendpool's requirements and theirs, extras included."""
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [Requirement("sendpool")]
    while pending:
        requirement = pending.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = importlib.metadata.requires(requirement.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not for this platform
        for dependency in map(Requirement, requires):
            extras = requirement.extras or {""}
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": e}) for e in extras):
                pending.append(dependency)
    return {name for name, _ in seen}


def imported_top_level_modules(*packages: Path) -> set[str]:
    modules = set()
    for path in (file for package in packages for file in package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"services", "shared"}


def test_the_image_has_every_distribution_the_services_import():
    installed_by = importlib.metadata.packages_distributions()
    runtime = runtime_distributions()
    missing = {
        module: installed_by.get(module)
        for module in imported_top_level_modules(REPO / "services", REPO / "shared")
        if not {canonicalize_name(d) for d in installed_by.get(module, [module])} & runtime
    }
    assert not missing, f"imported but not a runtime dependency: {missing}"


def test_no_workload_runs_in_development_mode():
    """Development mode makes public values of missing secrets: never in a manifest."""
    for workload in [*of_kind("Deployment"), *of_kind("Job")]:
        container = only_container(workload)
        names = set(config_map_data(container)) | {var["name"] for var in container["env"]}
        assert "SENDPOOL_DEV_MODE" not in names, workload["metadata"]["name"]


# The package that provides the program the `sendmail` workers run, and where: msmtp-mta's
# /usr/sbin/sendmail is a link to msmtp (`dpkg -c msmtp-mta_1.8.23-1_amd64.deb`, Debian bookworm).
SENDMAIL_PACKAGE, SENDMAIL_PACKAGE_PROGRAM = "msmtp-mta", "/usr/sbin/sendmail"


def test_the_image_has_the_sendmail_program_the_sendmail_workers_run_and_its_relay_configuration():
    from services.delivery.adapters.sendmail import DEFAULT_PATH
    from services.delivery.settings import DeliverySettings

    runtime_stage = (DEPLOY / "Dockerfile").read_text().rsplit("\nFROM ", 1)[1]
    installs = " ".join(re.findall(r"apt-get install ([^&\n]*)", runtime_stage))
    assert SENDMAIL_PACKAGE in installs.split(), "the image the workers run installs no sendmail program"
    assert DeliverySettings.model_fields["sendmail_path"].default == DEFAULT_PATH == SENDMAIL_PACKAGE_PROGRAM

    # msmtp reads /etc/msmtprc; the read-only image links it into the directory the workers mount.
    relay_directory = generator().SENDMAIL_RELAY_DIRECTORY
    assert f"ln -sf {relay_directory}/msmtprc /etc/msmtprc" in runtime_stage
    relay_config = generator().SENDMAIL_RELAY_CONFIG
    assert re.search(r"^host \S+$", by_name("ConfigMap")[relay_config]["data"]["msmtprc"], re.MULTILINE)

    mounting = {}
    for deployment in of_kind("Deployment"):
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        for mount in only_container(deployment)["volumeMounts"]:
            if volumes[mount["name"]].get("configMap", {}).get("name") == relay_config:
                mounting[vendor_of(deployment)] = (mount["mountPath"], mount.get("readOnly"))
    assert mounting == {"sendmail": (relay_directory, True)}, "only the sendmail workers relay through it"
