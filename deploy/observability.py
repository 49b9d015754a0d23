"""Writes sendpool's Grafana dashboard and Prometheus alerting rules from one description.

Every PromQL expression the dashboard shows and the alerts watch is written once, below; where a
panel and an alert look at the same thing (a vendor's error ratio, the time a backlog needs to
drain) they share the function that writes it, so the graph an operator opens from an alert shows
what fired it. Edit this file, then run

    uv run python deploy/observability.py

and commit what it writes: `tests/unit/test_observability.py` fails while the files differ from it,
and checks that every expression parses (`promtool`) and names only metrics the services export.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parent
OBSERVABILITY = DEPLOY / "observability"
DASHBOARD = OBSERVABILITY / "grafana" / "sendpool.json"
ALERTS = OBSERVABILITY / "prometheus" / "alerts.yaml"

DASHBOARD_UID = "sendpool"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
"""Grafana's window for rate(): at least four scrape intervals, whatever the zoom."""
VENDOR = 'vendor=~"$vendor"'
"""The dashboard's vendor selector, on every series that has a vendor label."""

# ---- thresholds of the alerts ---------------------------------------------------------------------

DRAIN_LIMIT_SECONDS = 3600
"""A server's backlog that needs longer than this at its current send rate will not drain in time."""
ERROR_RATIO_LIMIT = 0.2
ERROR_RATIO_WINDOW = "10m"
ERROR_RATIO_MIN_OUTCOMES_PER_SECOND = 0.1
"""60 outcomes in ten minutes: below that a handful of failures is not a trend."""
BACKGROUND_FAILURES_LIMIT = 3
"""Failed rounds of one background task within 15 minutes; each retries, one failure is a blip."""
NOT_SENT = "failed|deferred|unknown"
"""Delivery outcomes that are not a send (see MessageStatus); `unknown`: the server may or may not
have taken the message."""


# ---- the expressions panels and alerts share -------------------------------------------------------


def selector(*matchers: str) -> str:
    present = [matcher for matcher in matchers if matcher]
    return "{" + ", ".join(present) + "}" if present else ""


def sent_rate_per_server(window: str, vendor: str = "") -> str:
    sent = selector('status="sent"', vendor)
    return f"sum by (vendor, server_id) (rate(sendpool_delivery_outcomes_total{sent}[{window}]))"


def backlog_per_server(vendor: str = "") -> str:
    # Every router replica reports the same queues: max, not sum.
    return f"max by (vendor, server_id) (sendpool_server_queue_messages{selector(vendor)})"


def consumers_per_server(vendor: str = "") -> str:
    return f"max by (vendor, server_id) (sendpool_server_queue_consumers{selector(vendor)})"


def seconds_to_drain(window: str, vendor: str = "") -> str:
    """A server's backlog over its send rate: +Inf while it has a backlog and sends nothing."""
    return f"{backlog_per_server(vendor)} / {sent_rate_per_server(window, vendor)}"


def oldest_message_age(vendor: str = "") -> str:
    """Seconds since the batch a worker took last from the server's queue was routed: the queue is
    first in, first out, so nothing still in it is older. Only while the queue has a backlog; an
    empty queue has no oldest message."""
    newest_taken = f"max by (vendor, server_id) (sendpool_delivery_queue_head_routed_timestamp_seconds{selector(vendor)})"
    return f"(time() - {newest_taken}) and on (vendor, server_id) ({backlog_per_server(vendor)} > 0)"


def outcome_rate_per_vendor(window: str, *matchers: str) -> str:
    return f"sum by (vendor) (rate(sendpool_delivery_outcomes_total{selector(*matchers)}[{window}]))"


def error_ratio_per_vendor(window: str, vendor: str = "") -> str:
    """The share of a vendor's outcomes that are not a send."""
    not_sent = f'status=~"{NOT_SENT}"'
    return f"{outcome_rate_per_vendor(window, not_sent, vendor)} / {outcome_rate_per_vendor(window, vendor)}"


def latency_quantile(histogram: str, quantile: float, window: str, vendor: str = "") -> str:
    return (
        f"histogram_quantile({quantile}, sum by (vendor, le) "
        f"(rate({histogram}_bucket{selector(vendor)}[{window}])))"
    )


def circuit_open_per_server(vendor: str = "") -> str:
    # Each worker replica has its own breaker: a server is unhealthy once any of them opened it.
    return f"max by (vendor, server_id) (sendpool_delivery_circuit_open{selector(vendor)})"


def paused_servers() -> str:
    """One row per paused server: its vendor, why it was paused (`cause`) and the pause reason text."""
    return (
        "max by (server_id, reason) (sendpool_catalog_server_pause_info) "
        "* on (server_id) group_left (vendor, cause) "
        "max by (server_id, vendor, cause) (sendpool_catalog_server_paused)"
    )


# ---- the dashboard -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat", "table"
    width: int = 12
    height: int = 8
    stacked: bool = False
    red_above: float | None = None  # a stat turns red above this value
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


def per_second(title: str, description: str, expr: str, legend: str, **extra: Any) -> Panel:
    return Panel(title, description, (Query(expr, legend),), unit="ops", **extra)


ROWS = (
    Row(
        "Sending",
        (
            per_second(
                "Sends per second by vendor",
                "Messages a server accepted (outcome `sent`), summed over the delivery workers.",
                f'sum by (vendor) (rate(sendpool_delivery_outcomes_total{{status="sent", {VENDOR}}}[{RATE}]))',
                "{{vendor}}",
                stacked=True,
            ),
            per_second(
                "Sends per second by server",
                "Messages each server accepted.",
                sent_rate_per_server(RATE, VENDOR),
                "{{vendor}} {{server_id}}",
            ),
            per_second(
                "Outcomes by status",
                "Every recorded delivery outcome: `sent`, `deferred` (tried again later), `failed`, "
                "`unknown` (the server may have taken it; not sent again).",
                f"sum by (status) (rate(sendpool_delivery_outcomes_total{{{VENDOR}}}[{RATE}]))",
                "{{status}}",
                stacked=True,
            ),
            Panel(
                "Share of outcomes not sent, per vendor",
                f"(failed + deferred + unknown) / all outcomes. The alert SendpoolVendorErrorRate fires "
                f"above {ERROR_RATIO_LIMIT:.0%} over {ERROR_RATIO_WINDOW}.",
                (Query(error_ratio_per_vendor(RATE, VENDOR), "{{vendor}}"),),
                unit="percentunit",
            ),
            Panel(
                "Send latency per vendor (p50, p95, p99)",
                "Time to hand one message to its server: an SMTP transaction or a vendor API call.",
                tuple(
                    Query(
                        latency_quantile("sendpool_delivery_send_seconds", quantile, RATE, VENDOR),
                        f"{{{{vendor}}}} p{round(quantile * 100)}",
                    )
                    for quantile in (0.5, 0.95, 0.99)
                ),
                unit="s",
            ),
            Panel(
                "Queue wait per vendor (p50, p95)",
                "From routing to a worker taking the message from its server's queue.",
                tuple(
                    Query(
                        latency_quantile("sendpool_delivery_queue_wait_seconds", quantile, RATE, VENDOR),
                        f"{{{{vendor}}}} p{round(quantile * 100)}",
                    )
                    for quantile in (0.5, 0.95)
                ),
                unit="s",
            ),
        ),
    ),
    Row(
        "Servers",
        (
            Panel(
                "Queue backlog per server",
                "Messages waiting in each server's delivery queue (RabbitMQ, read by the router).",
                (Query(backlog_per_server(VENDOR), "{{vendor}} {{server_id}}"),),
            ),
            Panel(
                "Age of the oldest queued message",
                "Seconds since the newest batch a worker took from the queue was routed: nothing left "
                "in the queue is older. Shown only while the queue has a backlog.",
                (Query(oldest_message_age(VENDOR), "{{vendor}} {{server_id}}"),),
                unit="s",
            ),
            Panel(
                "Time to drain the backlog at the current rate",
                f"Backlog / sends per second. The alert SendpoolBacklogWillNotDrain fires above "
                f"{DRAIN_LIMIT_SECONDS // 60} minutes.",
                (Query(seconds_to_drain(RATE, VENDOR), "{{vendor}} {{server_id}}"),),
                unit="s",
            ),
            Panel(
                "Consumers per server queue",
                "Delivery workers consuming each server's queue; 0 with a backlog means nothing sends it.",
                (Query(consumers_per_server(VENDOR), "{{vendor}} {{server_id}}"),),
            ),
            Panel(
                "Headroom under each server's limits",
                "Sends each server's per-second, per-minute, per-hour and per-day limits still allow now.",
                (
                    Query(
                        'min by (server_id, window) (sendpool_server_headroom{window!="warmup"})',
                        "{{server_id}} per {{window}}",
                    ),
                ),
            ),
            Panel(
                "Headroom under the warmup cap",
                "Sends a warming-up server's cap for today still allows.",
                (Query('min by (server_id) (sendpool_server_headroom{window="warmup"})', "{{server_id}}"),),
            ),
            Panel(
                "Circuit breakers",
                "1 while a worker's circuit breaker for the server is open: it neither sends through it "
                "nor consumes its queue.",
                (Query(circuit_open_per_server(VENDOR), "{{vendor}} {{server_id}}"),),
                options={"lineInterpolation": "stepAfter"},
            ),
            Panel(
                "Servers by state",
                "Servers per vendor by state: active, paused, disabled, inactive (not tested or enabled yet).",
                (Query("max by (vendor, state) (sendpool_catalog_servers)", "{{vendor}} {{state}}"),),
                stacked=True,
            ),
            Panel(
                "Paused servers",
                "Each paused server, why (`cause`: bounce_rate, complaint_rate, operator, other) and the "
                "pause reason. Resume one with `POST /servers/{id}/resume` on the catalog.",
                (Query(paused_servers()),),
                kind="table",
                width=24,
            ),
        ),
    ),
    Row(
        "Dead letters",
        (
            Panel(
                "Messages in sendpool.dead",
                "Waiting for an operator: `sendpool dead-letters list`, then `replay` once the cause is fixed.",
                (Query("max(sendpool_dead_letter_queue_messages)"),),
                kind="stat",
                width=6,
                red_above=0,
            ),
            per_second(
                "Dead-lettered per second by service",
                "Messages each service moved to sendpool.dead, by kind of reason.",
                f"sum by (service, reason_kind) (rate(sendpool_dead_letters_total[{RATE}]))",
                "{{service}} {{reason_kind}}",
                width=18,
            ),
        ),
    ),
    Row(
        "Campaigns",
        (
            Panel(
                "Running campaigns",
                "",
                (Query("max(sendpool_scheduler_running_campaigns)"),),
                kind="stat",
                width=6,
            ),
            Panel(
                "Pending messages",
                "Messages of running campaigns not final yet.",
                (Query("max(sendpool_scheduler_pending_messages)"),),
                kind="stat",
                width=6,
            ),
            Panel(
                "Stalled campaigns",
                "Running campaigns with pending messages and no status folded for a while "
                "(SENDPOOL_SCHEDULER_STALLED_AFTER_SECONDS).",
                (Query("max(sendpool_scheduler_stalled_campaigns)"),),
                kind="stat",
                width=6,
                red_above=0,
            ),
            Panel(
                "Campaigns launched and completed in the last hour",
                "",
                (
                    Query("sum(increase(sendpool_scheduler_campaigns_launched_total[1h]))", "launched"),
                    Query("sum(increase(sendpool_scheduler_campaigns_completed_total[1h]))", "completed"),
                ),
                kind="stat",
                width=6,
            ),
            Panel(
                "Pending messages over time",
                "",
                (
                    Query("max(sendpool_scheduler_pending_messages)", "pending"),
                    Query("max(sendpool_scheduler_running_campaigns)", "running campaigns"),
                ),
            ),
            per_second(
                "Statuses folded per second",
                "Status events the scheduler folded into message states, by status.",
                f"sum by (status) (rate(sendpool_scheduler_statuses_total[{RATE}]))",
                "{{status}}",
                stacked=True,
            ),
        ),
    ),
    Row(
        "Routing",
        (
            per_second(
                "Routing decisions per second",
                "routed, held (campaign stopped), waiting (every eligible server capped), rerouted, "
                "admitted_late, late_at_cap, cancelled.",
                f"sum by (outcome) (rate(sendpool_router_decisions_total[{RATE}]))",
                "{{outcome}}",
                stacked=True,
            ),
            per_second(
                "Routed per second by server",
                "",
                f"sum by (server_id) (rate(sendpool_router_routed_total[{RATE}]))",
                "{{server_id}}",
            ),
        ),
    ),
    Row(
        "Services",
        (
            Panel(
                "Background task failures",
                "Failed rounds of each background task (each is retried); one that keeps rising cannot "
                "do its work.",
                (
                    Query(
                        f"sum by (task) (increase(sendpool_background_task_failures_total[{RATE}]))",
                        "{{task}}",
                    ),
                ),
            ),
            per_second(
                "Transient retries per second",
                "Handler calls tried again after a database, broker, network or time-out fault.",
                f"sum by (service, fault) (rate(sendpool_transient_retries_total[{RATE}]))",
                "{{service}} {{fault}}",
            ),
            Panel(
                "Stale messages resent",
                "Messages that made no progress for too long and were published again: each is a "
                "message lost or stuck on the way.",
                (Query(f"sum(increase(sendpool_scheduler_stale_messages_resent_total[{RATE}]))", "resent"),),
            ),
            per_second(
                "Broker messages handled per second",
                "FastStream's count of messages each service consumed, by result (acked, nacked, rejected, "
                "error).",
                f"sum by (app_name, status) (rate(faststream_received_processed_messages_total[{RATE}]))",
                "{{app_name}} {{status}}",
            ),
            per_second(
                "Handler exceptions per second",
                "",
                "sum by (app_name, exception_type) "
                f"(rate(faststream_received_processed_messages_exceptions_total[{RATE}]))",
                "{{app_name}} {{exception_type}}",
            ),
            Panel(
                "Resident memory per process",
                "",
                (Query("process_resident_memory_bytes", "{{job}} {{instance}}"),),
                unit="bytes",
            ),
        ),
    ),
)

DASHBOARD_VARIABLES = [
    {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
    },
    {
        "name": "vendor",
        "label": "Vendor",
        "type": "query",
        "datasource": DATASOURCE,
        "definition": "label_values(sendpool_delivery_outcomes_total, vendor)",
        "query": {
            "qryType": 1,
            "query": "label_values(sendpool_delivery_outcomes_total, vendor)",
            "refId": "PrometheusVariableQueryEditor-VariableQuery",
        },
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "hide": 0,
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "options": [],
    },
]


def field_config(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10 if panel.stacked else 0,
            "showPoints": "never",
            "spanNulls": False,
            "lineInterpolation": panel.options.get("lineInterpolation", "linear"),
            "stacking": {"mode": "normal" if panel.stacked else "none", "group": "A"},
        }
    if panel.red_above is not None:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}, {"color": "red", "value": panel.red_above + 1e-9}],
        }
        defaults["color"] = {"mode": "thresholds"}
    return {"defaults": defaults, "overrides": []}


def panel_options(panel: Panel) -> dict[str, Any]:
    if panel.kind == "stat":
        return {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "value_and_name",
        }
    if panel.kind == "table":
        return {"showHeader": True, "cellHeight": "sm"}
    return {
        "legend": {
            "displayMode": "table",
            "placement": "right",
            "showLegend": True,
            "calcs": ["lastNotNull"],
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }


def target(query: Query, ref: str, kind: str) -> dict[str, Any]:
    instant = kind == "table"
    return {
        "datasource": DATASOURCE,
        "refId": ref,
        "expr": query.expr,
        "legendFormat": query.legend or "__auto",
        "range": not instant,
        "instant": instant,
        "format": "table" if instant else "time_series",
    }


def grafana_panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "targets": [target(query, chr(ord("A") + i), panel.kind) for i, query in enumerate(panel.queries)],
        "fieldConfig": field_config(panel),
        "options": panel_options(panel),
    }
    if panel.kind == "table":
        # An instant query's table carries the time and the constant 1 of each series: only labels matter.
        out["transformations"] = [
            {"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True}}}
        ]
    return out


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    for row in ROWS:
        panels.append(
            {
                "id": len(panels) + 1,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        x = 0
        line_height = 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y = 0, y + line_height
                line_height = 0
            panels.append(grafana_panel(panel, len(panels) + 1, x, y))
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return {
        "uid": DASHBOARD_UID,
        "title": "sendpool",
        "description": "Generated by deploy/observability.py: edit that file, not this one.",
        "tags": ["sendpool"],
        "editable": True,
        "graphTooltip": 1,
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "templating": {"list": DASHBOARD_VARIABLES},
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [],
        "panels": panels,
    }


# ---- the alerts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    wait: str  # `for:` how long the condition holds before the alert fires
    severity: str  # critical: tenants' mail is not going out; warning: look today; info: FYI
    summary: str
    description: str
    action: str  # the runbook: what to do, in a sentence or two


@dataclass(frozen=True)
class AlertGroup:
    name: str
    alerts: tuple[Alert, ...]


ALERT_GROUPS = (
    AlertGroup(
        "sendpool-servers",
        (
            Alert(
                "SendpoolServerPaused",
                'max by (server_id, vendor, cause) (sendpool_catalog_server_paused{cause!="operator"}) > 0',
                "1m",
                "warning",
                "Server {{ $labels.server_id }} ({{ $labels.vendor }}) was paused: {{ $labels.cause }}",
                "The server's bounce or complaint rate crossed its limits (or another automatic cause): "
                "it sends nothing and its messages are routed to the campaign's other servers.",
                "Read the reason in the dashboard's Paused servers table or `GET /servers/{id}` on the "
                "catalog, fix the list or the server, then `POST /servers/{id}/resume`.",
            ),
            Alert(
                "SendpoolServerPausedByOperator",
                'max by (server_id, vendor) (sendpool_catalog_server_paused{cause="operator"}) > 0',
                "24h",
                "info",
                "Server {{ $labels.server_id }} ({{ $labels.vendor }}) has been paused by an operator for a day",
                "A reminder: an operator's pause has no end of its own.",
                "Resume it (`POST /servers/{id}/resume` on the catalog) or disable it for good.",
            ),
            Alert(
                "SendpoolServerUnhealthy",
                f"{circuit_open_per_server()} > 0",
                "5m",
                "warning",
                "Server {{ $labels.server_id }} ({{ $labels.vendor }}) is unhealthy: its circuit breaker is open",
                "A delivery worker's attempts through this server kept failing: it stopped sending "
                "through it and consuming its queue, and probes it until it answers again.",
                "Look at the delivery workers' logs for the server's errors (credentials, the relay "
                "down, the vendor's API); `POST /servers/{id}/test` on the catalog tries a connection.",
            ),
            Alert(
                "SendpoolBacklogWillNotDrain",
                f"{seconds_to_drain('15m')} > {DRAIN_LIMIT_SECONDS}",
                "15m",
                "warning",
                "Server {{ $labels.server_id }} ({{ $labels.vendor }}) needs over an hour to send its backlog",
                "At the send rate of the last 15 minutes its queue needs {{ $value | humanizeDuration }} "
                "to drain (+Inf: it sends nothing).",
                "Check the server's headroom and circuit breaker on the dashboard; add servers to the "
                "campaigns' sending policies or raise the server's limits, or add delivery workers if "
                "they are busy.",
            ),
            Alert(
                "SendpoolBacklogWithoutConsumers",
                f"({backlog_per_server()} > 0) and on (vendor, server_id) ({consumers_per_server()} == 0)",
                "10m",
                "critical",
                "Nothing consumes server {{ $labels.server_id }}'s queue ({{ $labels.vendor }}), "
                "{{ $value }} messages wait",
                "The server's delivery queue has messages and no consumer: no delivery worker of this "
                "vendor runs, or every one has the server's circuit open.",
                "Check the vendor's delivery Deployment (replicas, KEDA ScaledObject, crash loops) and "
                "SendpoolServerUnhealthy alerts for the server.",
            ),
            Alert(
                "SendpoolVendorErrorRate",
                f"({error_ratio_per_vendor(ERROR_RATIO_WINDOW)} > {ERROR_RATIO_LIMIT}) and on (vendor) "
                f"({outcome_rate_per_vendor(ERROR_RATIO_WINDOW)} > {ERROR_RATIO_MIN_OUTCOMES_PER_SECOND})",
                "5m",
                "warning",
                "{{ $value | humanizePercentage }} of {{ $labels.vendor }}'s deliveries were not sent",
                f"Over {ERROR_RATIO_WINDOW}, more than {ERROR_RATIO_LIMIT:.0%} of the vendor's outcomes "
                "were failed, deferred or unknown.",
                "See which servers on the dashboard (Outcomes by status, Sends per second by server) and "
                "read the delivery workers' logs: the vendor's status page, credentials, quotas.",
            ),
        ),
    ),
    AlertGroup(
        "sendpool-messages",
        (
            Alert(
                "SendpoolDeadLetters",
                "sum by (service, reason_kind) (increase(sendpool_dead_letters_total[10m])) > 0",
                "0m",
                "warning",
                "The {{ $labels.service }} service dead-lettered messages ({{ $labels.reason_kind }})",
                "Messages were moved to sendpool.dead in the last 10 minutes: they will not be "
                "processed until someone replays them.",
                "`sendpool dead-letters list` shows each with its reason; fix the cause, then "
                "`sendpool dead-letters replay`.",
            ),
            Alert(
                "SendpoolDeadLetterQueueNotEmpty",
                "max(sendpool_dead_letter_queue_messages) > 0",
                "30m",
                "warning",
                "{{ $value }} messages wait in sendpool.dead",
                "Dead letters have waited for half an hour.",
                "`sendpool dead-letters list`, fix the cause, then `sendpool dead-letters replay`.",
            ),
            Alert(
                "SendpoolStaleMessagesResent",
                "sum(increase(sendpool_scheduler_stale_messages_resent_total[30m])) > 0",
                "0m",
                "warning",
                "The scheduler published {{ $value | humanize }} stale messages again",
                "Messages of running campaigns made no progress for too long: one was lost or stuck "
                "between services.",
                'The scheduler\'s warning "messages made no progress for too long" names their campaigns and states; '
                "follow them in the services' logs (a worker down, a queue without consumers, a full broker).",
            ),
        ),
    ),
    AlertGroup(
        "sendpool-campaigns",
        (
            Alert(
                "SendpoolCampaignStuck",
                "max(sendpool_scheduler_stalled_campaigns) > 0",
                "15m",
                "critical",
                "{{ $value }} running campaigns make no progress",
                "Running campaigns have pending messages and no status was folded for "
                "SENDPOOL_SCHEDULER_STALLED_AFTER_SECONDS.",
                "`sendpool campaigns progress <campaign>` shows where the messages are; check the "
                "backlog, paused servers and open circuits of the campaigns' servers on the dashboard.",
            ),
        ),
    ),
    AlertGroup(
        "sendpool-services",
        (
            Alert(
                "SendpoolBackgroundTaskFailing",
                f"sum by (task) (increase(sendpool_background_task_failures_total[15m])) > "
                f"{BACKGROUND_FAILURES_LIMIT}",
                "5m",
                "warning",
                "Background task {{ $labels.task }} keeps failing",
                "{{ $value | humanize }} failed rounds in 15 minutes: the task retries but cannot do its work.",
                "Read the logs of the service running the task (its name starts with the service) for "
                "the error; usually the database or the broker.",
            ),
        ),
    ),
)


def alert_rules() -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": group.name,
                "rules": [
                    {
                        "alert": alert.name,
                        "expr": alert.expr,
                        "for": alert.wait,
                        "labels": {"severity": alert.severity},
                        "annotations": {
                            "summary": alert.summary,
                            "description": f"{alert.description} Runbook: {alert.action}",
                        },
                    }
                    for alert in group.alerts
                ],
            }
            for group in ALERT_GROUPS
        ]
    }


# ---- files ---------------------------------------------------------------------------------------

HEADER = "# Generated by deploy/observability.py: edit that file and run `uv run python deploy/observability.py`.\n"


def rendered_files() -> dict[Path, str]:
    """Every file this script owns, by path, with its content."""
    return {
        DASHBOARD: json.dumps(dashboard(), indent=2) + "\n",
        ALERTS: HEADER + yaml.safe_dump(alert_rules(), sort_keys=False, width=1000),
    }


def main() -> None:
    for path, text in rendered_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path.relative_to(DEPLOY.parent))


if __name__ == "__main__":
    main()
