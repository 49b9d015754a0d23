"""The Grafana dashboard and the Prometheus alerts in deploy/observability/: current, valid, and built
only on metrics the services define.

`promtool` (Debian's `prometheus` package; `make test` installs it) checks the rules, runs their unit
tests and parses every panel's query. Without it the promtool tests are skipped on a developer's
machine, and fail in CI.
"""

import importlib
import importlib.util
import json
import os
import pkgutil
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml
from faststream.prometheus.container import MetricsContainer
from prometheus_client import CollectorRegistry

import services
import shared
from shared.metrics import MESSAGE_METRICS_PREFIX, REGISTRY
from tests.support.observability import (
    ALERT_TESTS,
    ALERTS,
    DASHBOARD,
    REPO,
    alert_rules,
    dashboard,
    dashboard_expressions,
    exposed_names,
    panels,
    used_metric_names,
)

GRID_COLUMNS = 24


@cache
def generator():
    spec = importlib.util.spec_from_file_location(
        "deploy_observability", REPO / "deploy" / "observability.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing in CI: `make test` installs it (Debian package prometheus)")
        pytest.skip("promtool is not installed: `make test` installs it (Debian package prometheus)")
    return path


def run_promtool(promtool: str, *args: str, cwd: Path = REPO) -> None:
    result = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"


def test_committed_files_are_what_the_generator_writes():
    for path, text in generator().rendered_files().items():
        assert path.exists() and path.read_text() == text, (
            f"{path.relative_to(REPO)} is stale: run `uv run python deploy/observability.py`"
        )


def test_alert_rules_pass_promtool_check(promtool):
    run_promtool(promtool, "check", "rules", str(ALERTS))


def test_alert_unit_tests_pass(promtool):
    """alerts.test.yaml feeds series to the rules and expects which alerts fire, with their text."""
    tested = {
        case["alertname"]
        for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert len(tested) >= 3, tested
    assert tested <= {rule["alert"] for rule in alert_rules()}
    run_promtool(promtool, "test", "rules", ALERT_TESTS.name, cwd=ALERT_TESTS.parent)


def test_every_dashboard_query_parses(promtool, tmp_path):
    """promtool has no command that parses a bare expression: each query becomes a recording rule."""
    expressions = dashboard_expressions()
    assert len(expressions) >= 20
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"sendpool_dashboard:query_{number}", "expr": expr}
                    for number, expr in enumerate(expressions.values())
                ],
            }
        ]
    }
    rule_file = tmp_path / "dashboard-queries.yaml"
    rule_file.write_text(yaml.safe_dump(rules, width=1000))
    run_promtool(promtool, "check", "rules", str(rule_file))


def test_the_dashboard_is_grafana_json_with_a_prometheus_datasource_variable():
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] and board["schemaVersion"] >= 39
    (datasource,) = [var for var in board["templating"]["list"] if var["name"] == "datasource"]
    assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus")
    for panel in panels(board):
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], f"{panel['title']} has no query"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_every_panel_has_a_unique_id_and_a_place_on_the_grid_of_its_own():
    board = dashboard()
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    taken: dict[tuple[int, int], str] = {}
    for panel in panels(board):
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= grid.keys(), panel["title"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["x"] + grid["w"] <= GRID_COLUMNS
        for row in range(grid["y"], grid["y"] + grid["h"]):
            for column in range(grid["x"], grid["x"] + grid["w"]):
                assert (row, column) not in taken, f"{panel['title']} overlaps {taken[(row, column)]}"
                taken[(row, column)] = panel["title"]


def test_every_alert_waits_has_a_severity_and_tells_what_to_do():
    rules = alert_rules()
    assert {
        "SendpoolServerPaused",
        "SendpoolServerUnhealthy",
        "SendpoolBacklogWillNotDrain",
        "SendpoolBacklogWithoutConsumers",
        "SendpoolDeadLetters",
        "SendpoolVendorErrorRate",
        "SendpoolCampaignStuck",
    } <= {rule["alert"] for rule in rules}
    for rule in rules:
        assert "for" in rule, rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert "Runbook: " in rule["annotations"]["description"], rule["alert"]


@cache
def defined_metric_names() -> frozenset[str]:
    """Every sample name the services can expose: all of shared/ and services/ imported (each module
    registers its metrics in shared.metrics.REGISTRY as it is imported), plus FastStream's message
    metrics, which its middleware registers only once a broker is made.

    The registry's own index of names, not a collect(): a custom collector (the catalog's server
    states) reports nothing before its first round, but describes its families when registered."""
    for package in (shared, services):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    faststream = CollectorRegistry()
    MetricsContainer(faststream, metrics_prefix=MESSAGE_METRICS_PREFIX, custom_label_names=[])
    return frozenset(
        exposed_names(REGISTRY.collect())
        | exposed_names(faststream.collect())
        | set(REGISTRY._names_to_collectors)
    )


def test_every_metric_the_dashboard_and_the_alerts_use_is_defined():
    used = used_metric_names()
    assert "sendpool_delivery_outcomes_total" in used and "sendpool_delivery_send_seconds_bucket" in used
    missing = {name: sorted(where) for name, where in used.items() if name not in defined_metric_names()}
    assert not missing, f"used but no service defines them: {missing}"
