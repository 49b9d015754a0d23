"""`make bench`: how fast the whole pipeline delivers, next to what plain SMTP on this machine allows.

Prints one JSON line on stdout (logs go to stderr):

    {"date": ..., "cpus": 2, "messages": 20000, "seconds": 41.2, "pipeline_msgs_per_s": 485.4,
     "baseline_msgs_per_s": 21000.0, "ratio": 0.0231, "peak_rss_mb": {"catalog": 80.1, ...}}

- pipeline: a campaign through every service (HTTP launch → scheduler → router → delivery → status
  back to the scheduler), from the launch call until the campaign reports `completed`, to three
  servers whose SMTP endpoints are Postfix `smtp-sink` processes;
- router, delivery: the router alone routing the same number of messages, then one delivery worker
  alone sending them (each with its input queue filled beforehand and the services after it stopped);
- baseline: Postfix `smtp-source` sending the same number of messages of a similar size straight
  to an `smtp-sink`, the fastest this machine moves SMTP without sendpool in between.

Each measured stage adds a `<stage>_msgs_per_s` key: add a stage to `Measurements.throughput`.
"""

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import typer

from tools.stack.api import Campaign
from tools.stack.campaigns import CampaignPlan, ProvisionedCampaign, launch_and_wait, provision_campaign
from tools.stack.errors import RunFailed
from tools.stack.run import Stack, configure_logging, logs_dir, new_run_name, running_stack
from tools.stack.sinks import SMTP_SOURCE, PostfixSmtpSinks, SmtpSinks, require_postfix_tool
from tools.stages import measure_router_then_delivery

log = logging.getLogger("sendpool.bench")
app = typer.Typer(add_completion=False, help=__doc__)


@dataclass(frozen=True)
class Throughput:
    messages: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds


@dataclass
class Measurements:
    throughput: dict[str, Throughput] = field(default_factory=dict)
    peak_rss_mb: dict[str, float | None] = field(default_factory=dict)

    def as_json_line(self) -> str:
        pipeline, baseline = self.throughput["pipeline"], self.throughput["baseline"]
        record: dict[str, object] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "messages": pipeline.messages,
            "seconds": round(pipeline.seconds, 2),
        }
        record |= {f"{stage}_msgs_per_s": round(t.per_second, 1) for stage, t in self.throughput.items()}
        record["ratio"] = round(pipeline.per_second / baseline.per_second, 4)
        record["peak_rss_mb"] = self.peak_rss_mb
        return json.dumps(record)


@app.command()
def bench(
    messages: int = typer.Option(
        20_000, min=1, help="Recipients in the campaign, and messages in the baseline."
    ),
    servers: int = typer.Option(3, min=1, help="Sending servers, each an smtp-sink of its own."),
    body_bytes: int = typer.Option(2_000, min=1, help="Size of a message's text and HTML parts together."),
    baseline_sessions: int = typer.Option(10, min=1, help="Parallel SMTP sessions of smtp-source."),
    timeout: float = typer.Option(900.0, min=1, help="Seconds to wait for the campaign to complete."),
    service_log_level: str = typer.Option("INFO", help="Log level of the services under test."),
    message_metrics: bool = typer.Option(
        True, help="FastStream's per-message Prometheus metrics in the services (SENDPOOL_MESSAGE_METRICS)."
    ),
) -> None:
    """Run the benchmark and print its JSON line."""
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    configure_logging(stderr)
    run_name = new_run_name("bench")
    measurements = Measurements()
    try:
        # The baseline runs first, alone, so that idle services do not take CPU from it.
        measurements.throughput["baseline"] = measure_baseline(
            messages, body_bytes=body_bytes, sessions=baseline_sessions, log_dir=logs_dir(run_name)
        )
        with (
            running_stack(run_name, log_level=service_log_level, message_metrics=message_metrics) as stack,
            PostfixSmtpSinks(servers, stack.logs_dir) as sinks,
        ):
            provisioned, measurements.throughput["pipeline"] = measure_pipeline(
                stack, sinks, messages, body_bytes=body_bytes, timeout=timeout
            )
            measurements.peak_rss_mb = stack.peak_rss_mb()
            router, delivery = measure_router_then_delivery(
                stack, sinks, provisioned, messages, body_bytes=body_bytes, timeout=timeout
            )
            measurements.throughput["router"] = Throughput(messages, messages / router)
            measurements.throughput["delivery"] = Throughput(messages, messages / delivery)
    except KeyboardInterrupt:
        log.warning("interrupted")
        raise typer.Exit(130) from None
    except RunFailed as error:
        log.error("bench failed: %s (service logs: %s)", error, logs_dir(run_name))
        raise typer.Exit(1) from error
    print(measurements.as_json_line(), flush=True)


def measure_baseline(messages: int, *, body_bytes: int, sessions: int, log_dir: Path) -> Throughput:
    """smtp-source → smtp-sink over `sessions` reused connections, like a sender's connection pool."""
    require_postfix_tool(SMTP_SOURCE)
    with PostfixSmtpSinks(1, log_dir) as sink:
        command = [
            str(SMTP_SOURCE), "-d", "-s", str(sessions), "-m", str(messages), "-l", str(body_bytes),
            "-M", "bench.example.com", "-f", "bench@example.com", "-t", "sink@example.com",
            f"127.0.0.1:{sink.ports[0]}",
        ]  # fmt: skip
        started = time.monotonic()
        subprocess.run(command, check=True, capture_output=True, timeout=600)
        baseline = Throughput(messages, time.monotonic() - started)
        received = sink.counts()[0]
    if received != messages:
        raise RunFailed(f"smtp-sink accepted {received} of the {messages} messages smtp-source sent")
    log.info("baseline: %d messages in %.2fs, %.0f msgs/s", messages, baseline.seconds, baseline.per_second)
    return baseline


def measure_pipeline(
    stack: Stack, sinks: SmtpSinks, messages: int, *, body_bytes: int, timeout: float
) -> tuple[ProvisionedCampaign, Throughput]:
    """From the launch call until the scheduler reports the campaign completed."""
    plan = CampaignPlan(messages, None, body_bytes)
    provisioned = provision_campaign(stack.operator_api(), sinks.ports, plan, report=log.info)
    delivered = launch_and_wait(provisioned, sinks, timeout_seconds=timeout, on_progress=ProgressLog(sinks))
    pipeline = Throughput(messages, delivered.seconds)

    campaign, received = delivered.campaign, sum(delivered.received)
    sent = campaign.counts.get("sent", 0)
    if campaign.final != messages or received != sent:
        raise RunFailed(
            f"campaign completed with {campaign.final} of {messages} messages final, {sent} sent, "
            f"and the SMTP sinks received {received}; counts: {campaign.counts}"
        )
    log.info("pipeline: %d messages in %.2fs, %.0f msgs/s", messages, pipeline.seconds, pipeline.per_second)
    return provisioned, pipeline


class ProgressLog:
    """Logs the campaign's progress every few seconds rather than at every poll.

    Next to the scheduler's counts it logs what the sinks have received, which tells a slow
    delivery worker from a scheduler that is slow to fold `sent` events.
    """

    def __init__(self, sinks: SmtpSinks, every: float = 5.0) -> None:
        self._started = time.monotonic()
        self._sinks = sinks
        self._received_before = sum(sinks.counts())
        self._every = every
        self._next = self._started + every

    def __call__(self, campaign: Campaign) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._every
            received = sum(self._sinks.counts()) - self._received_before
            log.info(
                "%.0fs: expanded %d, sinks received %d, final %d of %d, %s",
                now - self._started, campaign.expanded, received, campaign.final, campaign.total, campaign.counts,
            )  # fmt: skip


if __name__ == "__main__":
    app()
