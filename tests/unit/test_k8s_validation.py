"""The Kubernetes manifests, as `kubectl kustomize` builds them, against Kubernetes' own OpenAPI schemas
(kubernetes-validate, offline, strict: an unknown field fails); their PodDisruptionBudgets; and the
staging overlay example. KEDA's objects are custom resources: tests/unit/test_deploy.py checks them
against the KEDA CRD schemas."""

import shutil
import subprocess
from functools import cache
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
STAGING = DEPLOY / "overlays" / "staging"
KUBERNETES_VERSION = "1.32.0"
"""The Kubernetes release whose schemas the manifests must satisfy: pinned, so a kubernetes-validate
upgrade cannot change what this test means."""
CUSTOM_RESOURCE_GROUPS = ("keda.sh/",)

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


@cache
def built(directory: Path) -> tuple[dict, ...]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[dict, ...], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def validation_errors(doc: dict) -> str | None:
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return f"{doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, error.path))}: {error.message}"
    return None


@pytest.mark.parametrize(
    "directory",
    [K8S, K8S / "migrate", STAGING, STAGING / "migrate"],
    ids=lambda path: str(path.relative_to(DEPLOY)),
)
def test_every_manifest_is_valid_for_kubernetes(directory):
    docs = built(directory)
    checked = [doc for doc in docs if not doc["apiVersion"].startswith(CUSTOM_RESOURCE_GROUPS)]
    assert checked, f"nothing to validate in {directory}"
    errors = [error for doc in checked if (error := validation_errors(doc))]
    assert not errors, "\n".join(errors)


def test_validation_is_strict():
    """A misspelt optional field, which the API server would drop without a word, fails the check."""
    deployment = next(iter(of_kind(built(K8S), "Deployment").values()))
    misspelt = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    assert validation_errors(misspelt) is not None


def pod_labels(deployment: dict) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"]["labels"]


def selects(budget: dict, deployment: dict) -> bool:
    return budget["spec"]["selector"]["matchLabels"].items() <= pod_labels(deployment).items()


@pytest.mark.parametrize("directory", [K8S, STAGING], ids=["k8s", "overlays/staging"])
def test_every_deployment_has_exactly_one_disruption_budget_for_its_pods(directory):
    docs = built(directory)
    deployments = of_kind(docs, "Deployment")
    budgets = of_kind(docs, "PodDisruptionBudget")
    assert deployments
    for name, deployment in deployments.items():
        matching = [budget for budget in budgets.values() if selects(budget, deployment)]
        assert len(matching) == 1, f"{name} has {len(matching)} PodDisruptionBudgets"
        (budget,) = matching
        assert budget["metadata"].get("namespace") == deployment["metadata"].get("namespace")
        spec = budget["spec"]
        if "maxUnavailable" in spec:
            assert spec["maxUnavailable"] == 1, name
        else:
            # minAvailable must leave a pod to evict, or no node with one of these pods could drain.
            assert spec["minAvailable"] < deployment["spec"].get("replicas", 1), name
    for name, budget in budgets.items():
        assert any(selects(budget, deployment) for deployment in deployments.values()), (
            f"{name} selects no pods"
        )


def test_staging_overlay_changes_only_what_it_says():
    base, staging = built(K8S), built(STAGING)
    names = {(doc["kind"], doc["metadata"]["name"]) for doc in base}
    assert {(doc["kind"], doc["metadata"]["name"]) for doc in staging} == names | {
        ("Namespace", "sendpool-staging")
    }
    for doc in staging:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "sendpool-staging", doc["metadata"]["name"]
    deployments = of_kind(staging, "Deployment")
    for deployment in deployments.values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container["image"] == "registry.example.com/sendpool:2026.12.06"
    for name in ("sendpool-catalog", "sendpool-scheduler", "sendpool-events", "sendpool-webhooks"):
        assert deployments[name]["spec"]["replicas"] == 1
    # Autoscaled Deployments still have no replicas field to fight KEDA over.
    for scaled in of_kind(staging, "ScaledObject").values():
        assert "replicas" not in deployments[scaled["spec"]["scaleTargetRef"]["name"]]["spec"]
        assert scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"] == 2
    config = of_kind(staging, "ConfigMap")
    assert config["sendpool-config"]["data"]["SENDPOOL_LOG_LEVEL"] == "DEBUG"
    assert config["sendpool-config"]["data"]["SENDPOOL_LOG_JSON"] == "true"  # merged, not replaced
    unsubscribe = config["sendpool-delivery-config"]["data"]["SENDPOOL_DELIVERY_UNSUBSCRIBE_BASE_URL"]
    assert unsubscribe.startswith("https://") and "staging" in unsubscribe
    (job,) = of_kind(built(STAGING / "migrate"), "Job").values()
    assert job["metadata"]["namespace"] == "sendpool-staging"
    assert (
        job["spec"]["template"]["spec"]["containers"][0]["image"]
        == "registry.example.com/sendpool:2026.12.06"
    )
