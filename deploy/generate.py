"""Writes sendpool's Kubernetes manifests (`deploy/k8s/`) and the example Secret from one description.

Every Deployment comes out of the same function, so the nine delivery workers (one per vendor)
and the other services share probes, security context and secret handling and cannot drift
apart. Edit this file, then run

    uv run python deploy/generate.py

and commit what it writes: `tests/unit/test_deploy.py` fails while `deploy/` differs from it.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ops.registry import service as registered_service
from services.catalog.domain.server_types import BUILT_IN_TYPES
from shared.topology import SEND_QUEUE, delivery_queue_name

DEPLOY = Path(__file__).resolve().parent
K8S = DEPLOY / "k8s"
SECRET_EXAMPLE = DEPLOY / "secret.example.yaml"

IMAGE = "sendpool:latest"
PORT = 8080
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
"""Readiness follows the database and the broker; liveness the broker only, so that a database
outage takes replicas out of Service endpoints without restarting them."""
METRICS_PATH = "/metrics"
BOUNCE_SMTP_PORT = 2525
"""The bounce mail endpoint's container port: unprivileged, since the pods run as a user without
capabilities; the bounces Service maps SMTP's port 25 to it."""

# The broker's graceful_timeout (shared/messaging.py): how long a stopping process lets in-flight
# messages finish before it closes its connection. Kubernetes must not SIGKILL before that.
BROKER_DRAIN_SECONDS = 30
# HTTP pods keep serving a few seconds after SIGTERM, while their endpoint leaves the Service.
PRE_STOP_SECONDS = 5
TERMINATION_GRACE_SECONDS = PRE_STOP_SECONDS + BROKER_DRAIN_SECONDS + 10

APP_SECRET = "sendpool"
MANAGEMENT_SECRET = "sendpool-rabbitmq-management"
MANAGEMENT_SECRET_KEY = "url"
TRIGGER_AUTHENTICATION = "sendpool-rabbitmq-management"
COMMON_CONFIG = "sendpool-config"
DELIVERY_CONFIG = "sendpool-delivery-config"

VENDORS = tuple(dict.fromkeys(spec.vendor for spec in BUILT_IN_TYPES))

CONNECTIONS = ("SENDPOOL_DATABASE_URL", "SENDPOOL_AMQP_URL")
API_TOKENS = ("SENDPOOL_TOKEN_SECRET", "SENDPOOL_OPERATOR_TOKEN")
VERP = ("SENDPOOL_VERP_SECRET",)
UNSUBSCRIBE = ("SENDPOOL_UNSUBSCRIBE_SECRET",)

SECRET_PLACEHOLDERS = {
    "SENDPOOL_DATABASE_URL": "postgresql://sendpool:<password>@<postgres-host>:5432/sendpool",
    "SENDPOOL_AMQP_URL": "amqp://sendpool:<password>@<rabbitmq-host>:5672/sendpool",
    "SENDPOOL_TOKEN_SECRET": "<random: openssl rand -hex 32>",
    "SENDPOOL_OPERATOR_TOKEN": "<random: openssl rand -hex 32>",
    "SENDPOOL_VERP_SECRET": "<random: openssl rand -hex 32>",
    "SENDPOOL_UNSUBSCRIBE_SECRET": "<random: openssl rand -hex 32>",
    "SENDPOOL_CATALOG_SECRET_KEYS": "<Fernet key: urlsafe base64 of 32 random bytes; see README>",
    "SENDPOOL_WEBHOOKS_SECRET_KEYS": "<Fernet key: urlsafe base64 of 32 random bytes; see README>",
}

# Measured peak RSS (docs/benchmarks.md): up to 121 MiB per service (the events service; the
# scheduler of a 1,000,000-recipient campaign 111 MiB), 193 MiB for a delivery worker; requests are
# at least 1.25 times that. One Python process never uses more than one core, so a limit of one CPU
# costs no throughput.
SERVICE_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "160Mi"},
    "limits": {"cpu": "1", "memory": "256Mi"},
}
ROUTER_RESOURCES = {"requests": {"cpu": "250m", "memory": "144Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}
DELIVERY_RESOURCES = {
    "requests": {"cpu": "250m", "memory": "320Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}
MIGRATE_RESOURCES = {"requests": {"cpu": "50m", "memory": "96Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}

# Messages waiting per replica before KEDA adds one: about seven seconds of work at the ~150
# messages per second one delivery worker sent in the benchmark.
BACKLOG_PER_REPLICA = "1000"
# The management API answers at most 500 queues a page, and KEDA refuses a regex that needs two
# pages: so one vendor scales on at most 500 servers.
QUEUES_PER_PAGE = "500"


@dataclass(frozen=True)
class Workload:
    """One Deployment: a sendpool service, or one vendor's delivery worker."""

    name: str
    service: str
    secrets: tuple[str, ...]
    resources: dict[str, Any]
    http_api: bool = False
    replicas: int | None = None  # None: a ScaledObject sets it, so `kubectl apply` must not
    env: dict[str, str] = field(default_factory=dict)
    config_maps: tuple[str, ...] = (COMMON_CONFIG,)
    comment: str = ""
    smtp_port: int | None = None  # a container port that takes mail (the bounce endpoint)

    @property
    def deployment(self) -> str:
        return f"sendpool-{self.name}"


def labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "sendpool", "app.kubernetes.io/component": component}


def metadata(name: str, component: str) -> dict[str, Any]:
    return {"name": name, "labels": labels(component)}


INSTANCE_ID_FROM_POD_NAME = {
    # A replica's own queues are named after it: the pod's name finds them in the management UI.
    "name": "SENDPOOL_INSTANCE_ID",
    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
}


def secret_env(names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": APP_SECRET, "key": name}}} for name in names
    ]


def health_probe(period: int, failures: int, path: str = HEALTH_PATH) -> dict[str, Any]:
    # /healthz pings the broker with a 5 s timeout (shared/service.py), /readyz checks the database
    # and the broker side by side within 2 s each; the probe waits a little longer.
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 6,
        "failureThreshold": failures,
    }


CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def pod_spec(containers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        # Service links would put e.g. SENDPOOL_CATALOG_PORT into every pod: variables in our prefix.
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        **extra,
        "containers": containers,
        # The root filesystem is read-only; libraries that want a scratch file get /tmp.
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }


def scrape_annotations() -> dict[str, str]:
    """The annotations Prometheus' usual Kubernetes pod discovery scrapes by (shared/metrics.py)."""
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(PORT),
        "prometheus.io/path": METRICS_PATH,
    }


def container(
    name: str, command: list[str], env: list[dict[str, Any]], resources: dict, **extra: Any
) -> dict:
    return {
        "name": name,
        "image": IMAGE,
        "command": command,
        **extra,
        "env": env,
        "resources": resources,
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def deployment(workload: Workload) -> dict[str, Any]:
    factory = registered_service(workload.service).factory
    command = ["faststream", "run", "--factory", factory, "--host", "0.0.0.0", "--port", str(PORT)]
    env = [{"name": name, "value": value} for name, value in workload.env.items()]
    main = container(
        workload.service,
        command,
        env + [INSTANCE_ID_FROM_POD_NAME] + secret_env(workload.secrets),
        workload.resources,
        ports=[{"name": "http", "containerPort": PORT}]
        + ([{"name": "smtp", "containerPort": workload.smtp_port}] if workload.smtp_port else []),
        envFrom=[{"configMapRef": {"name": name}} for name in workload.config_maps],
        # Startup covers the migrations each service applies before it listens.
        startupProbe=health_probe(period=5, failures=60),
        readinessProbe=health_probe(period=10, failures=2, path=READY_PATH),
        # Restart only after two minutes without a broker: a RabbitMQ restart should not restart us all.
        livenessProbe=health_probe(period=20, failures=6),
    )
    if workload.http_api:
        main["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(PRE_STOP_SECONDS)]}}}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": labels(workload.name)},
        "template": {
            "metadata": {"labels": labels(workload.name), "annotations": scrape_annotations()},
            "spec": pod_spec([main], terminationGracePeriodSeconds=TERMINATION_GRACE_SECONDS),
        },
    }
    if workload.replicas is not None:
        spec = {"replicas": workload.replicas, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(workload.deployment, workload.name),
        "spec": spec,
    }


def service(workload: Workload) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(workload.deployment, workload.name),
        "spec": {
            "selector": labels(workload.name),
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}]
            + ([{"name": "smtp", "port": 25, "targetPort": "smtp"}] if workload.smtp_port else []),
        },
    }


def scaled_object(workload: Workload, queue: str, *, max_replicas: int, use_regex: bool) -> dict[str, Any]:
    trigger = {"protocol": "http", "mode": "QueueLength", "value": BACKLOG_PER_REPLICA, "queueName": queue}
    if use_regex:
        trigger |= {"useRegex": "true", "operation": "sum", "pageSize": QUEUES_PER_PAGE}
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": metadata(workload.deployment, workload.name),
        "spec": {
            "scaleTargetRef": {"name": workload.deployment},
            "minReplicaCount": 1,
            "maxReplicaCount": max_replicas,
            "pollingInterval": 15,
            "triggers": [
                {
                    "type": "rabbitmq",
                    "metadata": trigger,
                    "authenticationRef": {"name": TRIGGER_AUTHENTICATION},
                }
            ],
        },
    }


def vendor_queue_pattern(vendor: str) -> str:
    """Every per-server queue of the vendor: `delivery.<vendor>.<server_id>` (not `delivery.probe.*`)."""
    prefix = delivery_queue_name(vendor, "")
    return "^" + prefix.replace(".", "\\.") + ".+"


def kustomization(resources: list[str]) -> dict[str, Any]:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}


MIGRATE_COMMENT = (
    "Applies every service's schema migrations before a rollout (`sendpool migrate`). The services also\n"
    "migrate when they start, so this is optional; it moves the work, and any failure, before the rollout.\n"
    "A Job cannot be changed: delete the finished one before applying the next release's."
)


def migrate_job() -> dict[str, Any]:
    env = secret_env(("SENDPOOL_DATABASE_URL",))
    migrate = container("migrate", ["sendpool", "migrate"], env, MIGRATE_RESOURCES)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata("sendpool-migrate", "migrate"),
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": 600,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels("migrate")},
                "spec": pod_spec([migrate], restartPolicy="Never"),
            },
        },
    }


CATALOG = Workload(
    "catalog",
    "catalog",
    (*CONNECTIONS, *API_TOKENS, "SENDPOOL_CATALOG_SECRET_KEYS"),
    SERVICE_RESOURCES,
    http_api=True,
    replicas=2,
    comment="The catalog: sending servers, tenants, plans, sending policies (HTTP API).\n"
    "Only the catalog gets SENDPOOL_CATALOG_SECRET_KEYS: it alone decrypts server secrets.",
)
SCHEDULER = Workload(
    "scheduler",
    "scheduler",
    (*CONNECTIONS, *API_TOKENS),
    SERVICE_RESOURCES,
    http_api=True,
    replicas=2,
    comment="The scheduler: lists, recipients, campaigns and their progress (HTTP API).",
)
ROUTER = Workload(
    "router",
    "router",
    (*CONNECTIONS, *API_TOKENS),
    ROUTER_RESOURCES,
    http_api=True,
    comment="The router picks a server for each message; its HTTP API is the routing dry run.\n"
    "Limits and warmup caps are counted in PostgreSQL, so they hold however many replicas run.",
)
BOUNCES = Workload(
    "bounces",
    "bounces",
    (*CONNECTIONS, *API_TOKENS, *VERP, *UNSUBSCRIBE),
    SERVICE_RESOURCES,
    http_api=True,
    replicas=1,
    env={"SENDPOOL_BOUNCES_SMTP_HOST": "0.0.0.0", "SENDPOOL_BOUNCES_SMTP_PORT": str(BOUNCE_SMTP_PORT)},
    smtp_port=BOUNCE_SMTP_PORT,
    comment="The bounces service: the bounce mail endpoint (SMTP, where the Return-Path domains' MX must lead:\n"
    "expose the Service's port 25 to the internet, e.g. through a LoadBalancer), the vendors' event webhooks\n"
    "and the suppression lists (HTTP API), and the per-server rates that pause a server.\n"
    "It reads the VERP tokens of Return-Paths, so it gets SENDPOOL_VERP_SECRET as the delivery workers do.",
)

WEBHOOKS = Workload(
    "webhooks",
    "webhooks",
    (*CONNECTIONS, *API_TOKENS, "SENDPOOL_WEBHOOKS_SECRET_KEYS"),
    SERVICE_RESOURCES,
    http_api=True,
    replicas=2,
    comment="The webhooks service: tenants' endpoints (HTTP API), and the signed requests that carry the public\n"
    "status stream to them. It connects to tenants' URLs: its egress must reach the internet, and nothing inside\n"
    "(the egress policy refuses internal addresses; a NetworkPolicy can say the same again).",
)
EVENTS = Workload(
    "events",
    "events",
    (*CONNECTIONS, *API_TOKENS),
    SERVICE_RESOURCES,
    http_api=True,
    replicas=2,
    comment="The events service: every status event, translated once to the public envelope, kept in the event log\n"
    "and published on sendpool.events (the public status stream); the per-message timelines (HTTP API).",
)


VENDOR_NOTES = {
    "sendmail": "It runs the image's sendmail binary, which python:3.11-slim lacks: build an image with a\n"
    "relay-only one (e.g. msmtp-mta); one that writes a local spool needs a writable filesystem.",
    "mx": "Direct-to-MX delivery needs outbound port 25, and the egress address's reverse DNS should\n"
    "match each server's helo_hostname.",
}


def delivery(vendor: str) -> Workload:
    comment = (
        f"Delivery worker for the {vendor!r} vendor: it consumes delivery.{vendor}.<server_id> for every\n"
        f"server of the vendor and answers connection tests on delivery.probe.{vendor}."
    )
    if vendor in VENDOR_NOTES:
        comment += "\n" + VENDOR_NOTES[vendor]
    return Workload(
        f"delivery-{vendor}",
        "delivery",
        (*CONNECTIONS, *VERP, *UNSUBSCRIBE),
        DELIVERY_RESOURCES,
        env={"SENDPOOL_DELIVERY_VENDOR": vendor},
        config_maps=(COMMON_CONFIG, DELIVERY_CONFIG),
        comment=comment,
    )


WORKLOADS = (CATALOG, SCHEDULER, ROUTER, BOUNCES, WEBHOOKS, EVENTS, *(delivery(vendor) for vendor in VENDORS))

DELIVERY_SCALING = (
    "Scales on the total depth of the vendor's server queues, which appear as servers are added.\n"
    "minReplicaCount 1, never 0: a worker must stay subscribed to every server queue of its vendor and\n"
    "answer the catalog's connection tests (delivery.probe.<vendor>), which no queue depth announces.\n"
    "Sending limits and warmup caps live in PostgreSQL and the router applies them before it fills a\n"
    "server queue: they hold however many replicas run, and a capped server's queue does not grow.\n"
    "Each replica opens up to SENDPOOL_DELIVERY_SMTP_MAX_CONNECTIONS per server: mind the vendor's connection cap."
)


def documents() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Each file under deploy/k8s/ as (comment, document) pairs."""
    files: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "config.yaml": [
            (
                "Settings every service reads (non-secret SENDPOOL_* only; `uv run sendpool settings` lists all).\n"
                "Secrets come from the Secret `sendpool` (see deploy/secret.example.yaml).",
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": metadata(COMMON_CONFIG, "config"),
                    "data": {"SENDPOOL_LOG_LEVEL": "INFO", "SENDPOOL_LOG_JSON": "true"},
                },
            ),
            (
                "Settings of every delivery worker. These are the defaults, listed because replicas multiply\n"
                "them: a vendor's server sees up to replicas x SENDPOOL_DELIVERY_SMTP_MAX_CONNECTIONS connections.\n"
                "SENDPOOL_DELIVERY_SMTP_HELO_HOSTNAME defaults to the pod's name, which no receiving server can resolve:\n"
                "set it here to a name with matching forward and reverse DNS.",
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": metadata(DELIVERY_CONFIG, "config"),
                    "data": {
                        "SENDPOOL_DELIVERY_SMTP_MAX_CONNECTIONS": "4",
                        "SENDPOOL_DELIVERY_SENDS_PER_SERVER": "8",
                        # Required: every message's one-click List-Unsubscribe link points here. Replace it
                        # with the https URL at which recipients reach the bounces service.
                        "SENDPOOL_DELIVERY_UNSUBSCRIBE_BASE_URL": "https://unsubscribe.sendpool.example",
                    },
                },
            ),
        ],
        "keda-trigger-authentication.yaml": [
            (
                "How KEDA reads queue depths: the RabbitMQ management API URL, credentials and virtual host\n"
                "included, from the Secret `sendpool-rabbitmq-management` (see deploy/secret.example.yaml).",
                {
                    "apiVersion": "keda.sh/v1alpha1",
                    "kind": "TriggerAuthentication",
                    "metadata": metadata(TRIGGER_AUTHENTICATION, "autoscaling"),
                    "spec": {
                        "secretTargetRef": [
                            {"parameter": "host", "name": MANAGEMENT_SECRET, "key": MANAGEMENT_SECRET_KEY}
                        ]
                    },
                },
            ),
        ],
    }
    for workload in (CATALOG, SCHEDULER, BOUNCES, WEBHOOKS, EVENTS):
        files[f"{workload.name}.yaml"] = [(workload.comment, deployment(workload))]
        if workload.http_api:
            files[f"{workload.name}.yaml"].append(("", service(workload)))
    files["router.yaml"] = [
        (ROUTER.comment, deployment(ROUTER)),
        ("", service(ROUTER)),
        (
            f"Scales the router on the messages waiting in {SEND_QUEUE.name}.",
            scaled_object(ROUTER, SEND_QUEUE.name, max_replicas=4, use_regex=False),
        ),
    ]
    for vendor in VENDORS:
        worker = delivery(vendor)
        files[f"{worker.name}.yaml"] = [
            (worker.comment, deployment(worker)),
            (
                DELIVERY_SCALING,
                scaled_object(worker, vendor_queue_pattern(vendor), max_replicas=5, use_regex=True),
            ),
        ]
    files["kustomization.yaml"] = [("", kustomization(sorted(files)))]
    files["migrate/job.yaml"] = [(MIGRATE_COMMENT, migrate_job())]
    files["migrate/kustomization.yaml"] = [("", kustomization(["job.yaml"]))]
    return files


def secret_example() -> list[tuple[str, dict[str, Any]]]:
    keys = dict.fromkeys(key for workload in WORKLOADS for key in workload.secrets)
    return [
        (
            "An example only: never commit real values. Create the Secrets with kubectl (README,\n"
            '"Deploying on Kubernetes") or copy this file outside the repository and fill it in.\n'
            "Each key is the environment variable it becomes; each Deployment gets only the keys it needs.",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": metadata(APP_SECRET, "config"),
                "type": "Opaque",
                "stringData": {key: SECRET_PLACEHOLDERS[key] for key in keys},
            },
        ),
        (
            "Read by KEDA only (TriggerAuthentication `sendpool-rabbitmq-management`): the management API URL\n"
            "with the virtual host as its path (%2F for /). A user with the `monitoring` tag is enough.",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": metadata(MANAGEMENT_SECRET, "autoscaling"),
                "type": "Opaque",
                "stringData": {
                    MANAGEMENT_SECRET_KEY: "http://<monitoring-user>:<password>@<rabbitmq-host>:15672/sendpool"
                },
            },
        ),
    ]


HEADER = "# Generated by deploy/generate.py: edit that file and run `uv run python deploy/generate.py`.\n"


def render(docs: list[tuple[str, dict[str, Any]]]) -> str:
    parts = []
    for comment, doc in docs:
        lines = "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines())
        parts.append(lines + yaml.safe_dump(doc, sort_keys=False, width=120))
    return HEADER + "---\n".join(parts)


def rendered_files() -> dict[Path, str]:
    """Every file this script owns, by path, with its content."""
    files = {K8S / name: render(docs) for name, docs in documents().items()}
    files[SECRET_EXAMPLE] = render(secret_example())
    return files


def main() -> None:
    files = rendered_files()
    # A file no longer generated (a vendor removed) must not stay behind in the kustomization directory.
    for stale in set(K8S.rglob("*.yaml")) - set(files):
        stale.unlink()
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path.relative_to(DEPLOY.parent))


if __name__ == "__main__":
    main()
