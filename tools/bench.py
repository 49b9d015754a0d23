"""`make bench`: how fast the whole pipeline delivers, next to what plain SMTP on this machine allows.

Prints one JSON line on stdout (logs go to stderr), every stage with the same message size and,
for the SMTP ones, the same number of connections:

    {"date": "2026-12-06T00:24:15+00:00", "cpus": 2, "messages": 2000, "seconds": 3.92,
     "body_bytes": 2000, "baseline_msgs_per_s": 12306.7, "baseline_messages": 139308,
     "baseline_seconds": 11.32, "python_sender_msgs_per_s": 4368.8, "python_sender_messages": 43701,
     "python_sender_seconds": 10.0, "pipeline_msgs_per_s": 510.5, "router_msgs_per_s": 2318.2,
     "router_messages": 2000, "router_seconds": 0.86, "delivery_msgs_per_s": 564.6, ...,
     "ratio": 0.0415, "python_ratio": 0.1168, "connections": {"per_server": 4, "servers": 3,
     "source": "services/delivery/settings.py defaults: ...", "total": 12}, "baseline_sessions": 12,
     "peak_rss_mb": {"catalog": 102.7, ...}, "cpu_seconds_per_1000": {"catalog": 0.005,
     "scheduler": 0.265, "router": 0.135, "delivery": 0.53, "bounces": 0.105, "rabbitmq": 0.32,
     "postgresql": 0.545, "machine": 3.92, "other": 2.015}}

- pipeline: a campaign through every service (HTTP launch → scheduler → router → delivery → status
  back to the scheduler), from the launch call until the campaign reports `completed`, to three
  servers whose SMTP endpoints are Postfix `smtp-sink` processes;
- router, delivery: the router alone routing the same number of messages (published as
  `SendBatch`es of 250, as the scheduler does), then one delivery worker alone sending them (each
  with its input queue filled beforehand and the services after it stopped; `tools/stages.py`);
- baseline: Postfix `smtp-source` sending messages of a similar size straight to an `smtp-sink`
  over as many connections as the delivery worker opens, the fastest this machine moves SMTP
  without sendpool in between; at least `messages`, and as many more as it takes to last
  `--min-seconds` (10 s), so that a fast machine still measures a rate, not a start-up;
- python_sender: one Python process, aiosmtplib on uvloop, sending the same messages to `smtp-sink`s
  over the delivery worker's connections, for at least `--min-seconds` (`tools/python_sender.py`):
  the ceiling of any Python delivery worker; `python_ratio` = pipeline / python_sender.

Every stage but the pipeline (whose count and time are `messages` and `seconds`) reports
`<stage>_msgs_per_s`, `<stage>_messages` and `<stage>_seconds`: add a stage to `Measurements.throughput`.
`connections` says how many SMTP connections the worker holds and where that number comes from (the
defaults of `services/delivery/settings.py`: min(SENDPOOL_DELIVERY_SMTP_MAX_CONNECTIONS,
SENDPOOL_DELIVERY_SENDS_PER_SERVER) per server, times the servers).

`cpu_seconds_per_1000`: CPU seconds (user + system, the process's children included) that each
service used during the pipeline stage, per 1000 messages; likewise RabbitMQ (`beam.smp`) and
PostgreSQL (every postgres process), `machine`, every core's busy time whoever used it, and `other`,
the machine less all of those: the bench itself, its smtp-sinks, py-spy, and anything else that ran
(RabbitMQ and PostgreSQL serve whatever else runs here too). A large `other` means the run shared
the cores, and its figures are less sure (`tools/cpu_time.py`).

`--profile DIR` samples each service with py-spy during the pipeline stage (raw collapsed stacks
in DIR/<service>.raw), and writes the top 15 per service (own time by function and by package,
cumulative time of the project's functions) to DIR/summary.md and to stderr (`tools/profiles.py`).
The JSON line then says `"profiled": DIR`: py-spy's sampling takes CPU too, so compare such a
run's figures only with another profiled one.

Size: `make bench SCALE=1000000` runs it with a million messages (`--messages`; 20,000 by
default). That takes a long time and is not run by CI.
"""

import json
import logging
import math
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import typer

from services.delivery.settings import DeliverySettings
from tools.cpu_time import CpuMeter, CpuReading
from tools.profiles import PySpyRecorders, summarize, summary_markdown
from tools.stack.api import Campaign
from tools.stack.campaigns import CampaignPlan, ProvisionedCampaign, launch_and_wait, provision_campaign
from tools.stack.errors import RunFailed
from tools.stack.processes import REPO
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


@dataclass(frozen=True)
class DeliveryConnections:
    """The SMTP connections one delivery worker holds while it sends the pipeline's messages."""

    per_server: int
    servers: int
    source: str
    """Where `per_server` comes from."""

    @property
    def total(self) -> int:
        return self.per_server * self.servers


def delivery_connections(servers: int) -> DeliveryConnections:
    """The worker's defaults (the bench starts it with no SENDPOOL_DELIVERY_* of its own): it opens
    at most `smtp_max_connections` per server and sends `sends_per_server` at a time through one,
    so it holds the smaller of the two per server."""
    fields = DeliverySettings.model_fields
    max_connections = int(fields["smtp_max_connections"].default)
    sends_per_server = int(fields["sends_per_server"].default)
    return DeliveryConnections(
        min(max_connections, sends_per_server),
        servers,
        f"services/delivery/settings.py defaults: min(SENDPOOL_DELIVERY_SMTP_MAX_CONNECTIONS={max_connections}, "
        f"SENDPOOL_DELIVERY_SENDS_PER_SERVER={sends_per_server}) per server × {servers} servers",
    )


@dataclass
class Measurements:
    body_bytes: int
    connections: DeliveryConnections
    baseline_sessions: int
    throughput: dict[str, Throughput] = field(default_factory=dict)
    peak_rss_mb: dict[str, float | None] = field(default_factory=dict)
    pipeline_cpu_seconds: CpuReading = field(default_factory=CpuReading)
    """CPU each service (and RabbitMQ, PostgreSQL, the machine) used during the pipeline stage."""
    profile_dir: Path | None = None

    def as_json_line(self) -> str:
        pipeline, baseline = self.throughput["pipeline"], self.throughput["baseline"]
        record: dict[str, object] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "messages": pipeline.messages,
            "seconds": round(pipeline.seconds, 2),
            "body_bytes": self.body_bytes,
        }
        for stage, t in self.throughput.items():
            record[f"{stage}_msgs_per_s"] = round(t.per_second, 1)
            if stage != "pipeline":
                record[f"{stage}_messages"] = t.messages
                record[f"{stage}_seconds"] = round(t.seconds, 2)
        record["ratio"] = round(pipeline.per_second / baseline.per_second, 4)
        if (python_sender := self.throughput.get("python_sender")) is not None:
            record["python_ratio"] = round(pipeline.per_second / python_sender.per_second, 4)
        record["connections"] = asdict(self.connections) | {"total": self.connections.total}
        record["baseline_sessions"] = self.baseline_sessions
        record["peak_rss_mb"] = self.peak_rss_mb
        thousands = pipeline.messages / 1000
        record["cpu_seconds_per_1000"] = {
            group: None if seconds is None else round(seconds / thousands, 3)
            for group, seconds in self.pipeline_cpu_seconds.items()
        }
        if self.profile_dir is not None:
            record["profiled"] = str(self.profile_dir)
        return json.dumps(record)


@app.command()
def bench(
    messages: int = typer.Option(
        20_000,
        min=1,
        help="Recipients in the campaign, and the least the baseline and the Python sender send "
        "(`make bench SCALE=N` sets it).",
    ),
    servers: int = typer.Option(3, min=1, help="Sending servers, each an smtp-sink of its own."),
    body_bytes: int = typer.Option(2_000, min=1, help="Size of a message's text and HTML parts together."),
    baseline_sessions: int | None = typer.Option(
        None,
        min=1,
        help="Parallel SMTP sessions of smtp-source; by default the delivery worker's connections.",
    ),
    min_seconds: float = typer.Option(
        10.0, min=0, help="The least time the baseline and the Python sender each keep sending."
    ),
    timeout: float = typer.Option(900.0, min=1, help="Seconds to wait for the campaign to complete."),
    service_log_level: str = typer.Option("INFO", help="Log level of the services under test."),
    message_metrics: bool = typer.Option(
        True, help="FastStream's per-message Prometheus metrics in the services (SENDPOOL_MESSAGE_METRICS)."
    ),
    profile: Path | None = typer.Option(
        None,
        help="Sample every service with py-spy during the pipeline stage; raw stacks and summary.md go to this folder.",
    ),
) -> None:
    """Run the benchmark and print its JSON line."""
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    configure_logging(stderr)
    run_name = new_run_name("bench")
    connections = delivery_connections(servers)
    sessions = baseline_sessions or connections.total
    measurements = Measurements(
        body_bytes, connections, sessions, profile_dir=None if profile is None else profile.resolve()
    )
    log.info("SMTP connections: %d (%s)", connections.total, connections.source)
    try:
        # The SMTP-only stages run first, alone, so that idle services do not take CPU from them.
        measurements.throughput["baseline"] = measure_baseline(
            messages,
            body_bytes=body_bytes,
            sessions=sessions,
            min_seconds=min_seconds,
            log_dir=logs_dir(run_name),
        )
        measurements.throughput["python_sender"] = measure_python_sender(
            messages, connections, body_bytes=body_bytes, min_seconds=min_seconds, log_dir=logs_dir(run_name)
        )
        with (
            running_stack(run_name, log_level=service_log_level, message_metrics=message_metrics) as stack,
            PostfixSmtpSinks(servers, stack.logs_dir) as sinks,
        ):
            pipeline = measure_pipeline(
                stack,
                sinks,
                messages,
                body_bytes=body_bytes,
                timeout=timeout,
                profile_dir=measurements.profile_dir,
            )
            measurements.throughput["pipeline"] = pipeline.throughput
            measurements.pipeline_cpu_seconds = pipeline.cpu_seconds
            measurements.peak_rss_mb = stack.peak_rss_mb()
            router, delivery = measure_router_then_delivery(
                stack, sinks, pipeline.provisioned, messages, body_bytes=body_bytes, timeout=timeout
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


MAX_BASELINE_MESSAGES = 50_000_000


def measure_baseline(
    messages: int, *, body_bytes: int, sessions: int, min_seconds: float, log_dir: Path
) -> Throughput:
    """smtp-source → smtp-sink over `sessions` reused connections, like a sender's connection pool.

    A run shorter than `min_seconds` is a warm-up: the next one sends as many more messages as
    should make it last that long, and the one that does is the measurement."""
    require_postfix_tool(SMTP_SOURCE)
    count = messages
    with PostfixSmtpSinks(1, log_dir) as sink:
        while True:
            received_before = sink.counts()[0]
            command = [
                str(SMTP_SOURCE), "-d", "-s", str(sessions), "-m", str(count), "-l", str(body_bytes),
                "-M", "bench.example.com", "-f", "bench@example.com", "-t", "sink@example.com",
                f"127.0.0.1:{sink.ports[0]}",
            ]  # fmt: skip
            started = time.monotonic()
            subprocess.run(command, check=True, capture_output=True, timeout=max(600, count / 1000))
            baseline = Throughput(count, time.monotonic() - started)
            received = sink.counts()[0] - received_before
            if received != count:
                raise RunFailed(f"smtp-sink accepted {received} of the {count} messages smtp-source sent")
            if baseline.seconds >= min_seconds or count >= MAX_BASELINE_MESSAGES:
                break
            log.info(
                "baseline: %d messages took %.2fs, under %gs: sending more",
                count,
                baseline.seconds,
                min_seconds,
            )
            count = min(
                math.ceil(count * 1.2 * min_seconds / max(baseline.seconds, 0.01)), MAX_BASELINE_MESSAGES
            )
    log.info("baseline: %d messages in %.2fs, %.0f msgs/s", count, baseline.seconds, baseline.per_second)
    return baseline


def measure_python_sender(
    messages: int, connections: DeliveryConnections, *, body_bytes: int, min_seconds: float, log_dir: Path
) -> Throughput:
    """`tools/python_sender.py` in a process of its own, to one smtp-sink per server over the worker's connections."""
    with PostfixSmtpSinks(connections.servers, log_dir) as sinks:
        received_before = sum(sinks.counts())
        command = [
            sys.executable, "-m", "tools.python_sender", "--ports", ",".join(map(str, sinks.ports)),
            "--connections-per-server", str(connections.per_server), "--messages", str(messages),
            "--min-seconds", str(min_seconds), "--body-bytes", str(body_bytes),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, cwd=REPO, check=True, capture_output=True, text=True,
                timeout=max(600.0, min_seconds * 3 + messages / 500),
            )  # fmt: skip
        except subprocess.CalledProcessError as error:
            raise RunFailed(f"the Python sender failed: {error.stderr.strip()[-2000:]}") from None
        result = json.loads(done.stdout.strip().splitlines()[-1])
        time.sleep(0.2)  # smtp-sink writes its counter as each session ends
        received = sum(sinks.counts()) - received_before
    sent = Throughput(int(result["messages"]), float(result["seconds"]))
    if received != sent.messages:
        raise RunFailed(
            f"the smtp-sinks accepted {received} of the {sent.messages} messages the Python sender sent"
        )
    log.info(
        "python sender: %d messages (%d bytes each) over %d connections in %.2fs, %.0f msgs/s",
        sent.messages, result["message_bytes"], result["connections"], sent.seconds, sent.per_second,
    )  # fmt: skip
    return sent


@dataclass(frozen=True)
class PipelineStage:
    provisioned: ProvisionedCampaign
    throughput: Throughput
    cpu_seconds: CpuReading


def measure_pipeline(
    stack: Stack,
    sinks: SmtpSinks,
    messages: int,
    *,
    body_bytes: int,
    timeout: float,
    profile_dir: Path | None,
) -> PipelineStage:
    """From the launch call until the scheduler reports the campaign completed, with the CPU every
    service used meanwhile (and, with `profile_dir`, where they used it)."""
    plan = CampaignPlan(messages, None, body_bytes)
    provisioned = provision_campaign(stack.operator_api(), sinks.ports, plan, report=log.info)
    pids = {label: service.process.pid for label, service in stack.services.items()}
    meter = CpuMeter(pids)
    with ExitStack() as profiling:
        recorders = (
            None if profile_dir is None else profiling.enter_context(PySpyRecorders(profile_dir, pids))
        )
        cpu_before = meter.read()
        delivered = launch_and_wait(
            provisioned, sinks, timeout_seconds=timeout, on_progress=ProgressLog(sinks)
        )
        cpu_seconds = meter.read() - cpu_before
    pipeline = Throughput(messages, delivered.seconds)
    if recorders is not None:
        report_profiles(recorders, pipeline.seconds, cpu_seconds)

    campaign, received = delivered.campaign, sum(delivered.received)
    sent = campaign.counts.get("sent", 0)
    if campaign.final != messages or received != sent:
        raise RunFailed(
            f"campaign completed with {campaign.final} of {messages} messages final, {sent} sent, "
            f"and the SMTP sinks received {received}; counts: {campaign.counts}"
        )
    log.info("pipeline: %d messages in %.2fs, %.0f msgs/s", messages, pipeline.seconds, pipeline.per_second)
    log.info(
        "pipeline CPU seconds: %s",
        ", ".join(f"{group} {'?' if s is None else f'{s:.1f}'}" for group, s in cpu_seconds.items()),
    )
    return PipelineStage(provisioned, pipeline, cpu_seconds)


def report_profiles(recorders: PySpyRecorders, stage_seconds: float, cpu_seconds: CpuReading) -> None:
    """DIR/summary.md, and the same on stderr; a service py-spy could not sample is named with why."""
    summaries = {label: summarize(raw) for label, raw in recorders.raw_files.items()}
    markdown = summary_markdown(
        summaries, recorders.failures, stage_seconds=stage_seconds, cpu_seconds=cpu_seconds
    )
    (recorders.out_dir / "summary.md").write_text(markdown + "\n")
    for label, why in recorders.failures.items():
        log.error("profile of %s failed: %s", label, why)
    print(markdown, file=sys.stderr, flush=True)
    log.info("profiles in %s (summary.md, <service>.raw)", recorders.out_dir)


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
