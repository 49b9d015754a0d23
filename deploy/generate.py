"""Writes sendpool's Kubernetes manifests (`deploy/k8s/`), the example Secret, and the Compose stack
(`deploy/compose.yaml`, its env file example, Prometheus' scrape configuration and Grafana's
provisioning) from one description.

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
CONSOLE_CONFIG = "sendpool-console-config"

VENDORS = tuple(dict.fromkeys(spec.vendor for spec in BUILT_IN_TYPES))

COMMON_CONFIG_DATA = {"SENDPOOL_LOG_LEVEL": "INFO", "SENDPOOL_LOG_JSON": "true"}
DELIVERY_CONFIG_DATA = {
    "SENDPOOL_DELIVERY_SMTP_MAX_CONNECTIONS": "4",
    "SENDPOOL_DELIVERY_SENDS_PER_SERVER": "8",
    # Required: every message's one-click List-Unsubscribe link points here. Replace it with the
    # https URL at which recipients reach the bounces service.
    "SENDPOOL_DELIVERY_UNSUBSCRIBE_BASE_URL": "https://unsubscribe.sendpool.example",
}

CONSOLE_APIS = ("catalog", "scheduler", "router")
"""The services whose HTTP APIs the console calls, with its user's token."""


def console_config_data(url_of: dict[str, str]) -> dict[str, str]:
    return {f"SENDPOOL_CONSOLE_{api.upper()}_URL": url_of[api] for api in CONSOLE_APIS}


# In the cluster the console reaches each API through its Service (port 80).
CONSOLE_CONFIG_DATA = console_config_data({api: f"http://sendpool-{api}" for api in CONSOLE_APIS})

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
    "SENDPOOL_CONSOLE_SESSION_KEYS": "<Fernet key: urlsafe base64 of 32 random bytes; see README>",
}

# Sized from docs/benchmarks.md (tests/unit/test_deploy.py checks every figure against it).
# Memory: the highest peak RSS of any recorded run, up to 121 MiB per service (the events service;
# the scheduler of a 1,000,000-recipient campaign 111 MiB) and 212 MiB for a delivery worker;
# requests are at least 1.25 times it, limits at least twice.
# CPU: requests are at least 1.25 times the cores each service kept busy while a campaign went
# through the whole pipeline at full speed (CPU seconds per 1,000 messages x messages per second:
# delivery 0.57, events 0.22, scheduler 0.19, router 0.14, bounces 0.11, catalog and webhooks
# about 0). Limits are one core: one Python process never uses more, and the router and a delivery
# worker alone each keep a whole core busy, so a lower limit would throttle them.


def cpu_and_memory(cpu_request: str, memory_request: str, memory_limit: str) -> dict[str, Any]:
    return {
        "requests": {"cpu": cpu_request, "memory": memory_request},
        "limits": {"cpu": "1", "memory": memory_limit},
    }


SERVICE_RESOURCES = cpu_and_memory("100m", "160Mi", "256Mi")
SCHEDULER_RESOURCES = cpu_and_memory("250m", "160Mi", "256Mi")
ROUTER_RESOURCES = cpu_and_memory("250m", "144Mi", "256Mi")
BOUNCES_RESOURCES = cpu_and_memory("150m", "160Mi", "256Mi")
EVENTS_RESOURCES = cpu_and_memory("300m", "160Mi", "256Mi")
DELIVERY_RESOURCES = cpu_and_memory("750m", "320Mi", "512Mi")
MIGRATE_RESOURCES = cpu_and_memory("50m", "96Mi", "256Mi")
# The console renders pages from the APIs' answers; it holds no state. Its peak RSS is measured by
# `make bench-console` (1,000 servers, every page many times over).
CONSOLE_RESOURCES = cpu_and_memory("100m", "128Mi", "256Mi")

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
    config_files: tuple[tuple[str, str], ...] = ()  # (ConfigMap, directory): mounted read-only there

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


def process_command(workload: Workload) -> list[str]:
    """What the container runs: `faststream run` for a service, uvicorn (as `python -m`) for the console."""
    entry = registered_service(workload.service)
    command = entry.command("0.0.0.0", PORT)
    # FastStream installs its command; uvicorn's is run as a module of the image's Python.
    return command if entry.server == "faststream" else ["python", "-m", *command]


def has_instance_id(workload: Workload) -> bool:
    """The event-driven services name their own queues after their instance; the console has none."""
    return registered_service(workload.service).server == "faststream"


def deployment(workload: Workload) -> dict[str, Any]:
    command = process_command(workload)
    env = [{"name": name, "value": value} for name, value in workload.env.items()]
    instance_id = [INSTANCE_ID_FROM_POD_NAME] if has_instance_id(workload) else []
    main = container(
        workload.service,
        command,
        env + instance_id + secret_env(workload.secrets),
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
    pod = pod_spec([main], terminationGracePeriodSeconds=TERMINATION_GRACE_SECONDS)
    for config_map, directory in workload.config_files:
        main["volumeMounts"] = [
            *main["volumeMounts"],
            {"name": config_map, "mountPath": directory, "readOnly": True},
        ]
        pod["volumes"] = [*pod["volumes"], {"name": config_map, "configMap": {"name": config_map}}]
    spec: dict[str, Any] = {
        "selector": {"matchLabels": labels(workload.name)},
        "template": {
            "metadata": {"labels": labels(workload.name), "annotations": scrape_annotations()},
            "spec": pod,
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


PDB_COMMENT = (
    "Lets a node drain evict one pod of the Deployment at a time. maxUnavailable rather than minAvailable:\n"
    "it holds for any replica count KEDA or an overlay sets, and never blocks a drain of a single replica."
)


def pod_disruption_budget(workload: Workload) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(workload.deployment, workload.name),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels(workload.name)}},
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
    SCHEDULER_RESOURCES,
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
    BOUNCES_RESOURCES,
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
    EVENTS_RESOURCES,
    http_api=True,
    replicas=2,
    comment="The events service: every status event, translated once to the public envelope, kept in the event log\n"
    "and published on sendpool.events (the public status stream); the per-message timelines (HTTP API).",
)


SENDMAIL_RELAY_CONFIG = "sendpool-sendmail-relay"
SENDMAIL_RELAY_DIRECTORY = "/etc/sendpool/sendmail"
"""Where the sendmail workers mount SENDMAIL_RELAY_CONFIG: the image's /etc/msmtprc links to msmtprc in it."""
SENDMAIL_RELAY_MSMTPRC = """\
# msmtp's configuration: the image's /usr/sbin/sendmail is msmtp (Debian's msmtp-mta), which hands
# every message of every `sendmail` server to this one smarthost. The smarthost is the operator's
# choice for the whole platform, never a tenant's. Replace the host; for AUTH, mount a Secret and
# read it with `passwordeval "cat /path/in/the/secret"` rather than writing a password here.
defaults
syslog off
tls on
tls_starttls on
tls_trust_file /etc/ssl/certs/ca-certificates.crt
timeout 30

account relay
host smtp-relay.sendpool.example
port 587
auth off

account default : relay
"""

VENDOR_NOTES = {
    "sendmail": "It runs the image's /usr/sbin/sendmail: msmtp (msmtp-mta), relay-only, with no local queue. It\n"
    f"relays every message to the smarthost configured in the ConfigMap {SENDMAIL_RELAY_CONFIG} (set its host).",
    "mx": "Direct-to-MX delivery needs outbound port 25, and the egress address's reverse DNS should\n"
    "match each server's helo_hostname.",
}


def sendmail_relay() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(SENDMAIL_RELAY_CONFIG, "config"),
        "data": {"msmtprc": SENDMAIL_RELAY_MSMTPRC},
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
        config_files=((SENDMAIL_RELAY_CONFIG, SENDMAIL_RELAY_DIRECTORY),) if vendor == "sendmail" else (),
    )


CONSOLE = Workload(
    "console",
    "console",
    ("SENDPOOL_CONSOLE_SESSION_KEYS",),
    CONSOLE_RESOURCES,
    http_api=True,
    replicas=2,
    config_maps=(COMMON_CONFIG, CONSOLE_CONFIG),
    comment="The web console: pages for operators and tenant admins over the catalog's, scheduler's and router's\n"
    "HTTP APIs (ConfigMap sendpool-console-config). It holds no credential, no database and no\n"
    "broker: each call carries the signed-in user's token, in a cookie sealed with SENDPOOL_CONSOLE_SESSION_KEYS.\n"
    "Put it behind HTTPS (an Ingress with TLS in front of the Service): its cookie is sent over https only\n"
    "(Compose, on localhost, sets SENDPOOL_CONSOLE_SECURE_COOKIES=false instead).",
)

WORKLOADS = (
    CATALOG,
    SCHEDULER,
    ROUTER,
    BOUNCES,
    WEBHOOKS,
    EVENTS,
    CONSOLE,
    *(delivery(vendor) for vendor in VENDORS),
)

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
                    "data": COMMON_CONFIG_DATA,
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
                    "data": DELIVERY_CONFIG_DATA,
                },
            ),
            (
                "Where the console reaches the HTTP APIs it calls: their Services, inside the cluster.",
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": metadata(CONSOLE_CONFIG, "config"),
                    "data": CONSOLE_CONFIG_DATA,
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
    for workload in (CATALOG, SCHEDULER, BOUNCES, WEBHOOKS, EVENTS, CONSOLE):
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
            *(
                [
                    (
                        f"Where the sendmail workers relay: {SENDMAIL_RELAY_DIRECTORY}/msmtprc in their pods.",
                        sendmail_relay(),
                    )
                ]
                if vendor == "sendmail"
                else []
            ),
            (worker.comment, deployment(worker)),
            (
                DELIVERY_SCALING,
                scaled_object(worker, vendor_queue_pattern(vendor), max_replicas=5, use_regex=True),
            ),
        ]
    for workload in WORKLOADS:
        if f"{workload.name}.yaml" in files:
            files[f"{workload.name}.yaml"].append((PDB_COMMENT, pod_disruption_budget(workload)))
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


class _ManifestDumper(yaml.SafeDumper):
    """Writes a multi-line string (a configuration file in a ConfigMap) as a literal block, as it reads."""


_ManifestDumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


def render(docs: list[tuple[str, dict[str, Any]]]) -> str:
    parts = []
    for comment, doc in docs:
        lines = "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines())
        parts.append(lines + yaml.dump(doc, Dumper=_ManifestDumper, sort_keys=False, width=120))
    return HEADER + "---\n".join(parts)


# ----------------------------------------------------------------------------- Docker Compose

COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_ENV_EXAMPLE = DEPLOY / "compose.env.example"
OBSERVABILITY = DEPLOY / "observability"
PROMETHEUS_CONFIG = OBSERVABILITY / "prometheus" / "prometheus.yml"
GRAFANA_PROVISIONING = OBSERVABILITY / "grafana" / "provisioning"
GRAFANA_DATASOURCES = GRAFANA_PROVISIONING / "datasources" / "sendpool.yaml"
GRAFANA_DASHBOARDS = GRAFANA_PROVISIONING / "dashboards" / "sendpool.yaml"
COMPOSE_MSMTPRC = DEPLOY / "compose" / "msmtprc"
"""What the Compose stack's sendmail worker mounts where the manifests mount the ConfigMap: msmtp relays
to the mail sink."""

RABBITMQ_IMAGE = "rabbitmq:3.13-management"
POSTGRES_IMAGE = "postgres:16"
MAIL_SINK_IMAGE = "axllent/mailpit:v1.31.3"
PROMETHEUS_IMAGE = "prom/prometheus:v3.5.0"
GRAFANA_IMAGE = "grafana/grafana:11.6.0"
JAEGER_IMAGE = "jaegertracing/all-in-one:1.62.0"

COMPOSE_SUBNET = "10.225.25.0/24"
"""Fixed, so that the delivery workers' egress allow list can name it: tenants' servers may reach the
mail sink's SMTP port in it, and nothing else inside (PostgreSQL, RabbitMQ, the services)."""
MAIL_SINK = "mailpit"
MAIL_SINK_SMTP_PORT = 1025
MAIL_SINK_UI_PORT = 8025
COMPOSE_VENDORS = ("smtp", "mx")
"""Delivery workers `docker compose up` starts; every other vendor's behind its own profile and `vendors`."""
# The host ports of the HTTP APIs, as in the README's "Running the services"; all bound to 127.0.0.1.
HOST_PORTS = {
    "catalog": 8001,
    "scheduler": 8002,
    "router": 8003,
    "bounces": 8005,
    "events": 8006,
    "webhooks": 8007,
    "console": 8008,
}
OBSERVABILITY_PROFILE = "observability"

DATABASE_USER = DATABASE_NAME = AMQP_USER = AMQP_VHOST = "sendpool"
COMPOSE_PASSWORDS = {
    "SENDPOOL_POSTGRES_PASSWORD": "PostgreSQL's password for the user `sendpool` (it goes into a URL: hex only)",
    "SENDPOOL_RABBITMQ_PASSWORD": "RabbitMQ's password for the user `sendpool` (it goes into a URL: hex only)",
}
GRAFANA_PASSWORD = ("GRAFANA_ADMIN_PASSWORD", "Grafana's `admin` password (profile observability)")
SECRET_PURPOSES = {
    "SENDPOOL_TOKEN_SECRET": "Signs the API tokens (every service that checks them)",
    "SENDPOOL_OPERATOR_TOKEN": "The operator's API token (Authorization: Bearer ...)",
    "SENDPOOL_CATALOG_SECRET_KEYS": "Encrypts the servers' secrets (catalog)",
    "SENDPOOL_VERP_SECRET": "Signs the VERP token of each Return-Path (delivery, bounces)",
    "SENDPOOL_UNSUBSCRIBE_SECRET": "Signs each List-Unsubscribe URL (delivery, bounces)",
    "SENDPOOL_WEBHOOKS_SECRET_KEYS": "Encrypts the webhook endpoints' signing secrets (webhooks)",
    "SENDPOOL_CONSOLE_SESSION_KEYS": "Seals the console's session cookies, which carry the signed-in token (console)",
}
RANDOM_HEX = "openssl rand -hex 32"
FERNET_KEY = "python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"


def required(variable: str) -> str:
    """Compose substitutes the env file's value, and refuses to start while it is unset or empty."""
    return f"${{{variable}:?set it in deploy/.env, see deploy/compose.env.example}}"


def compose_connections() -> dict[str, str]:
    return {
        "SENDPOOL_DATABASE_URL": f"postgresql://{DATABASE_USER}:{required('SENDPOOL_POSTGRES_PASSWORD')}"
        f"@postgres:5432/{DATABASE_NAME}",
        "SENDPOOL_AMQP_URL": f"amqp://{AMQP_USER}:{required('SENDPOOL_RABBITMQ_PASSWORD')}@rabbitmq:5672/{AMQP_VHOST}",
    }


def compose_secret_env(names: tuple[str, ...]) -> dict[str, str]:
    connections = compose_connections()
    return {name: connections.get(name) or required(name) for name in names}


def compose_resources(workload_resources: dict[str, Any]) -> dict[str, Any]:
    """The manifests' requests and limits, in Compose's units (Docker's `m` is MiB)."""

    def memory(quantity: str) -> str:
        return quantity.removesuffix("Mi") + "m"

    def cpus(quantity: str) -> str:
        return str(int(quantity.removesuffix("m")) / 1000) if quantity.endswith("m") else quantity

    requests, limits = workload_resources["requests"], workload_resources["limits"]
    return {
        "resources": {
            "limits": {"cpus": cpus(limits["cpu"]), "memory": memory(limits["memory"])},
            "reservations": {"cpus": cpus(requests["cpu"]), "memory": memory(requests["memory"])},
        }
    }


def sendpool_container(command: list[str], environment: dict[str, str], workload_resources: dict) -> dict:
    """What every sendpool container shares: the one image, built here, run as in the pods."""
    return {
        "image": IMAGE,
        "build": {"context": "..", "dockerfile": "deploy/Dockerfile"},
        "command": command,
        "environment": environment,
        "read_only": True,
        "tmpfs": ["/tmp"],
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "deploy": compose_resources(workload_resources),
    }


READINESS_CHECK = (
    # The image has no curl: Python asks, and urlopen raises (exit 1) on anything but a 2xx answer.
    f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}{READY_PATH}', timeout=5)"
)


# In Compose the console reaches each API by its service name, on the port the process listens on.
COMPOSE_CONSOLE_CONFIG_DATA = console_config_data({api: f"http://{api}:{PORT}" for api in CONSOLE_APIS})


def compose_service(workload: Workload) -> dict[str, Any]:
    config: dict[str, str] = {}
    for name in workload.config_maps:
        config |= {
            COMMON_CONFIG: COMMON_CONFIG_DATA,
            DELIVERY_CONFIG: DELIVERY_CONFIG_DATA,
            CONSOLE_CONFIG: COMPOSE_CONSOLE_CONFIG_DATA,
        }[name]
    environment = {
        **config,
        **workload.env,
        **compose_secret_env(workload.secrets),
        # Tracing is off until deploy/.env sets OTEL_SDK_DISABLED=false (Jaeger: profile observability).
        "OTEL_SDK_DISABLED": "${OTEL_SDK_DISABLED:-true}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318",
    }
    if workload.service == "delivery":
        environment |= {
            # Recipients of the mail sink's messages click through to the bounces service's published port.
            "SENDPOOL_DELIVERY_UNSUBSCRIBE_BASE_URL": f"http://localhost:{HOST_PORTS['bounces']}",
            "SENDPOOL_DELIVERY_EGRESS_ALLOW": f"{COMPOSE_SUBNET}:{MAIL_SINK_SMTP_PORT}",
        }
    if workload.service == "console":
        # Served over plain http on localhost: a Secure cookie would never come back.
        environment["SENDPOOL_CONSOLE_SECURE_COOKIES"] = "false"
    spec = sendpool_container(process_command(workload), environment, workload.resources)
    ports = []
    if workload.service in HOST_PORTS:
        ports.append(f"127.0.0.1:{HOST_PORTS[workload.service]}:{PORT}")
    if workload.smtp_port:
        ports.append(f"127.0.0.1:{workload.smtp_port}:{workload.smtp_port}")
    if ports:
        spec["ports"] = ports
    spec |= {
        "healthcheck": {
            "test": ["CMD", "python", "-c", READINESS_CHECK],
            "interval": "10s",
            "timeout": "6s",
            "retries": 3,
            "start_period": "60s",
        },
        "depends_on": compose_depends_on(workload),
        "restart": "unless-stopped",
        "stop_grace_period": f"{TERMINATION_GRACE_SECONDS}s",
    }
    if workload.config_files:
        # The only mounted configuration is the sendmail relay's (see SENDMAIL_RELAY_MSMTPRC).
        spec["volumes"] = [
            f"./{COMPOSE_MSMTPRC.relative_to(DEPLOY)}:{directory}/msmtprc:ro"
            for _, directory in workload.config_files
        ]
    vendor = workload.env.get("SENDPOOL_DELIVERY_VENDOR")
    if vendor is not None and vendor not in COMPOSE_VENDORS:
        spec["profiles"] = ["vendors", vendor]
    return spec


def compose_depends_on(workload: Workload) -> dict[str, dict[str, str]]:
    if workload.service == "console":
        # No database or broker: the console starts once the APIs it calls answer.
        return {api: {"condition": "service_healthy"} for api in CONSOLE_APIS}
    return {
        "migrate": {"condition": "service_completed_successfully"},
        "postgres": {"condition": "service_healthy"},
        "rabbitmq": {"condition": "service_healthy"},
    }


def compose_infrastructure() -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "postgres": (
            "PostgreSQL: every service owns one schema of the database `sendpool`.",
            {
                "image": POSTGRES_IMAGE,
                "environment": {
                    "POSTGRES_USER": DATABASE_USER,
                    "POSTGRES_DB": DATABASE_NAME,
                    "POSTGRES_PASSWORD": required("SENDPOOL_POSTGRES_PASSWORD"),
                },
                "volumes": ["postgres:/var/lib/postgresql/data"],
                "ports": ["127.0.0.1:5433:5432"],
                "healthcheck": {
                    "test": ["CMD", "pg_isready", "--username", DATABASE_USER, "--dbname", DATABASE_NAME],
                    "interval": "5s",
                    "timeout": "5s",
                    "retries": 20,
                },
                "restart": "unless-stopped",
            },
        ),
        "rabbitmq": (
            "RabbitMQ with its management UI (http://localhost:15672, user sendpool); AMQP on localhost:5673.",
            {
                "image": RABBITMQ_IMAGE,
                "hostname": "rabbitmq",  # the node's name, and so its data directory, survive a new container
                "environment": {
                    "RABBITMQ_DEFAULT_USER": AMQP_USER,
                    "RABBITMQ_DEFAULT_PASS": required("SENDPOOL_RABBITMQ_PASSWORD"),
                    "RABBITMQ_DEFAULT_VHOST": AMQP_VHOST,
                },
                "volumes": ["rabbitmq:/var/lib/rabbitmq"],
                "ports": ["127.0.0.1:5673:5672", "127.0.0.1:15672:15672"],
                "healthcheck": {
                    "test": ["CMD", "rabbitmq-diagnostics", "-q", "check_port_connectivity"],
                    "interval": "10s",
                    "timeout": "10s",
                    "retries": 12,
                },
                "restart": "unless-stopped",
            },
        ),
        "migrate": (
            "Applies every service's migrations once (`sendpool migrate`) before the services start.",
            {
                **sendpool_container(
                    ["sendpool", "migrate"], compose_secret_env(("SENDPOOL_DATABASE_URL",)), MIGRATE_RESOURCES
                ),
                "depends_on": {"postgres": {"condition": "service_healthy"}},
                "restart": "no",
            },
        ),
        MAIL_SINK: (
            f"The mail sink: give the tenant an `smtp` server with host {MAIL_SINK}, port {MAIL_SINK_SMTP_PORT},\n"
            f"encryption none; read what it received at http://localhost:{MAIL_SINK_UI_PORT}.",
            {
                "image": MAIL_SINK_IMAGE,
                "environment": {"MP_SMTP_AUTH_ACCEPT_ANY": "1", "MP_SMTP_AUTH_ALLOW_INSECURE": "1"},
                "ports": [f"127.0.0.1:{MAIL_SINK_UI_PORT}:{MAIL_SINK_UI_PORT}"],
                "restart": "unless-stopped",
            },
        ),
    }


def compose_observability() -> dict[str, tuple[str, dict[str, Any]]]:
    profiles = [OBSERVABILITY_PROFILE]
    return {
        "prometheus": (
            "Prometheus (http://localhost:9090) scrapes every service and evaluates the alerting rules.",
            {
                "image": PROMETHEUS_IMAGE,
                "profiles": profiles,
                "command": [
                    "--config.file=/etc/prometheus/prometheus.yml",
                    "--storage.tsdb.retention.time=7d",
                ],
                "volumes": ["./observability/prometheus:/etc/prometheus:ro", "prometheus:/prometheus"],
                "ports": ["127.0.0.1:9090:9090"],
                "restart": "unless-stopped",
            },
        ),
        "grafana": (
            "Grafana (http://localhost:3000) with Prometheus, Jaeger and the sendpool dashboard provisioned;\n"
            "viewing needs no login, editing logs in as admin.",
            {
                "image": GRAFANA_IMAGE,
                "profiles": profiles,
                "environment": {
                    "GF_SECURITY_ADMIN_PASSWORD": required(GRAFANA_PASSWORD[0]),
                    "GF_AUTH_ANONYMOUS_ENABLED": "true",
                    "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
                    "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": "/var/lib/grafana/dashboards/sendpool.json",
                },
                "volumes": [
                    "./observability/grafana/provisioning:/etc/grafana/provisioning:ro",
                    "./observability/grafana/sendpool.json:/var/lib/grafana/dashboards/sendpool.json:ro",
                    "grafana:/var/lib/grafana",
                ],
                "ports": ["127.0.0.1:3000:3000"],
                "depends_on": ["prometheus"],
                "restart": "unless-stopped",
            },
        ),
        "jaeger": (
            "Jaeger (http://localhost:16686) receives the services' traces over OTLP/HTTP on port 4318\n"
            "once deploy/.env sets OTEL_SDK_DISABLED=false.",
            {
                "image": JAEGER_IMAGE,
                "profiles": profiles,
                "environment": {"COLLECTOR_OTLP_ENABLED": "true"},
                "ports": ["127.0.0.1:16686:16686"],
                "restart": "unless-stopped",
            },
        ),
    }


def compose_services() -> dict[str, tuple[str, dict[str, Any]]]:
    """Each Compose service as (comment, definition), in the order the file lists them."""
    services = compose_infrastructure()
    for workload in WORKLOADS:
        comment = workload.comment.replace(
            f"the smarthost configured in the ConfigMap {SENDMAIL_RELAY_CONFIG} (set its host)",
            f"the mail sink ({COMPOSE_MSMTPRC.relative_to(DEPLOY)})",
        )
        services[workload.name] = (comment, compose_service(workload))
    services |= compose_observability()
    return services


COMPOSE_COMMENT = """\
The whole stack on one machine, without Kubernetes: RabbitMQ, PostgreSQL, every service (one delivery
worker per vendor: smtp and mx start by default, the others with `--profile <vendor>` or `--profile vendors`),
the mail sink, the web console (http://localhost:8008), and with `--profile observability` Prometheus,
Grafana and Jaeger.

    cp deploy/compose.env.example deploy/.env    # then fill in every value
    docker compose -f deploy/compose.yaml --env-file deploy/.env up --build -d
    docker compose -f deploy/compose.yaml --env-file deploy/.env --profile observability up -d

The services run the manifests' image, commands, settings, probes (here healthchecks on /readyz) and
resource limits. Every secret comes from deploy/.env: Compose refuses to start while one is missing.
"""


class _NoAliasDumper(yaml.SafeDumper):
    # Several services share the same default dicts: write each out in full, not as YAML anchors.
    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(document: Any) -> str:
    # Wide: a folded `${VAR:?message}` would still parse, but not read well.
    return yaml.dump(document, Dumper=_NoAliasDumper, sort_keys=False, width=200)


def comment_lines(comment: str, indent: str = "") -> str:
    return "".join(f"{indent}# {line}".rstrip() + "\n" for line in comment.splitlines())


def render_compose() -> str:
    """deploy/compose.yaml, with each service's comment above it."""
    parts = [HEADER, comment_lines(COMPOSE_COMMENT), dump({"name": "sendpool"}), "\nservices:\n"]
    for name, (comment, definition) in compose_services().items():
        body = dump({name: definition})
        parts.append(
            "\n" + comment_lines(comment, "  ") + "".join(f"  {line}\n" for line in body.splitlines())
        )
    parts.append("\n" + dump({"volumes": {"postgres": {}, "rabbitmq": {}, "prometheus": {}, "grafana": {}}}))
    parts.append("\n# One network with a fixed subnet: the delivery workers' egress allow list names it.\n")
    parts.append(dump({"networks": {"default": {"ipam": {"config": [{"subnet": COMPOSE_SUBNET}]}}}}))
    return "".join(parts)


def compose_env_example() -> str:
    secrets = dict.fromkeys(
        key for workload in WORKLOADS for key in workload.secrets if key not in CONNECTIONS
    )
    lines = [
        HEADER,
        "# The secrets of deploy/compose.yaml. Copy this file to deploy/.env (ignored by git), fill in every\n",
        "# value, and pass it with --env-file deploy/.env: Compose refuses to start while one is empty.\n",
        "# Never reuse these values outside a local stack.\n",
    ]
    for variable, description in [*COMPOSE_PASSWORDS.items(), GRAFANA_PASSWORD]:
        lines.append(f"\n# {description}: `{RANDOM_HEX}`\n{variable}=\n")
    for variable in secrets:
        how = FERNET_KEY if variable.endswith("_KEYS") else RANDOM_HEX
        lines.append(f"\n# {SECRET_PURPOSES[variable]}: `{how}`\n{variable}=\n")
    lines.append(
        "\n# Optional: false sends every service's traces to Jaeger (start it with --profile observability).\n"
        "OTEL_SDK_DISABLED=true\n"
    )
    return "".join(lines)


def prometheus_config() -> dict[str, Any]:
    """Scrapes each service by its Compose DNS name; DNS discovery finds every replica of a scaled
    service, and a worker whose profile is off has no address, so no target that is always down."""
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": ["/etc/prometheus/alerts.yaml"],
        "scrape_configs": [
            {
                "job_name": workload.name,
                "metrics_path": METRICS_PATH,
                "dns_sd_configs": [{"names": [workload.name], "type": "A", "port": PORT}],
            }
            for workload in WORKLOADS
        ],
    }


def grafana_datasources() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": "prometheus",
                "type": "prometheus",
                "access": "proxy",
                "url": "http://prometheus:9090",
                "isDefault": True,
                "editable": False,
            },
            {
                "name": "Jaeger",
                "uid": "jaeger",
                "type": "jaeger",
                "access": "proxy",
                "url": "http://jaeger:16686",
                "editable": False,
            },
        ],
    }


def grafana_dashboards() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "sendpool",
                "folder": "sendpool",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": "/var/lib/grafana/dashboards"},
            }
        ],
    }


def compose_files() -> dict[Path, str]:
    """deploy/compose.yaml and the files it mounts or reads that come from the same description."""
    return {
        COMPOSE: render_compose(),
        COMPOSE_ENV_EXAMPLE: compose_env_example(),
        PROMETHEUS_CONFIG: HEADER + dump(prometheus_config()),
        GRAFANA_DATASOURCES: HEADER + dump(grafana_datasources()),
        GRAFANA_DASHBOARDS: HEADER + dump(grafana_dashboards()),
        COMPOSE_MSMTPRC: compose_msmtprc(),
    }


def compose_msmtprc() -> str:
    """The relay configuration of the Compose stack's sendmail worker: the mail sink, without TLS."""
    relay = SENDMAIL_RELAY_MSMTPRC.replace("host smtp-relay.sendpool.example", f"host {MAIL_SINK}")
    relay = relay.replace("port 587", f"port {MAIL_SINK_SMTP_PORT}")
    relay = relay.replace("tls on\ntls_starttls on\n", "tls off\n")
    assert f"host {MAIL_SINK}" in relay and "tls off" in relay, "SENDMAIL_RELAY_MSMTPRC changed: adapt this"
    return relay


def rendered_files() -> dict[Path, str]:
    """Every file this script owns, by path, with its content."""
    files = {K8S / name: render(docs) for name, docs in documents().items()}
    files[SECRET_EXAMPLE] = render(secret_example())
    files |= compose_files()
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
