"""What the Grafana dashboard and the Prometheus alerts ask of the services' metrics, read from the
generated files in deploy/observability/ (not from the generator: what operators load is what counts)."""

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import Metric

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "observability" / "grafana" / "sendpool.json"
ALERTS = REPO / "deploy" / "observability" / "prometheus" / "alerts.yaml"
ALERT_TESTS = REPO / "deploy" / "observability" / "prometheus" / "alerts.test.yaml"

GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$vendor": ".*"}
"""What Grafana puts in place of the dashboard's variables before the query reaches Prometheus."""

METRIC_PREFIXES = ("sendpool_", "faststream_", "process_", "python_")
"""The namespaces of the services' metrics. No label or function name of PromQL starts with one."""

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SELECTED = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def panels(board: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    found = []
    for panel in (board or dashboard())["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def with_variables_replaced(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"a dashboard variable this test does not know: {expr}"
    return expr


def dashboard_expressions() -> dict[str, str]:
    """Each panel query as Prometheus receives it, keyed `<panel title> <refId>`."""
    return {
        f"{panel['title']} {target['refId']}": with_variables_replaced(target["expr"])
        for panel in panels()
        for target in panel.get("targets", [])
    }


def variable_queries() -> dict[str, str]:
    """The dashboard variables' queries (`label_values(<metric>, <label>)`), keyed by variable."""
    return {
        variable["name"]: variable["definition"]
        for variable in dashboard()["templating"]["list"]
        if variable["type"] == "query"
    }


def alert_expressions() -> dict[str, str]:
    return {rule["alert"]: rule["expr"] for rule in alert_rules()}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers in the services' namespaces, and
    any identifier a `{` selector follows (so that a typo outside the namespaces is caught too)."""
    code = _STRING.sub('""', expr)
    return {name for name in _IDENTIFIER.findall(code) if name.startswith(METRIC_PREFIXES)} | set(
        _SELECTED.findall(code)
    )


def used_metric_names() -> dict[str, set[str]]:
    """Every metric name the dashboard and the alerts use, with where each is used."""
    used: dict[str, set[str]] = {}
    for kind, expressions in (
        ("panel", dashboard_expressions()),
        ("variable", variable_queries()),
        ("alert", alert_expressions()),
    ):
        for where, expr in expressions.items():
            for name in metric_names(expr):
                used.setdefault(name, set()).add(f"{kind} {where}")
    return used


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def exposed_names(families: Iterable[Metric]) -> set[str]:
    """The sample names a scrape of these families can carry, whether or not a labelled metric has a
    series yet (a counter with labels shows only its HELP and TYPE until first counted)."""
    names: set[str] = set()
    for family in families:
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names
