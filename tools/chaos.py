"""`make chaos`: campaigns through a pipeline that is being broken on purpose, checked from the SMTP side.

Scenarios (`--scenario faults|bad-replies|all`, default all), each on its own database, virtual
host and services, each ending with ONE JSON line on stdout (progress goes to stderr):

- `faults`: a campaign (50,000 recipients by default) through three SMTP sinks weighted 1:2:7, with
  two routers and two delivery workers. While it runs, a delivery worker is SIGKILLed every 10 s
  (the two in turn) and a router every 30 s, each started again at once; RabbitMQ is restarted
  once at about 30% of the messages final and PostgreSQL once at about 60%. The heaviest sink
  misbehaves (`tools.fault_sinks`: 421, 550 5.1.1, connections dropped after the content) and the
  lightest answers with NUL and non-UTF-8 bytes. Faults stop at `--faults-until` of the messages
  final; the campaign must then complete within `--final-within` seconds of the last fault.
- `bad-replies`: a smaller campaign through the NUL/non-UTF-8 sink alone, with no process faults;
  its `seconds_from_last_fault_to_final` counts from the launch.

The sinks record every message they accept, per recipient; the verdict compares that with the
final message states in the scheduler's schema and with RabbitMQ's `sendpool.dead` queue:

- `lost`: recipients never received whose message is not legitimately `failed` (a recipient is
  legitimately failed only when its message is `failed` and a sink refused it with a 5xx);
- `duplicates`: recipients received more than once; each must be reported `unknown`;
- `dead_letters_not_malformed`: dead letters whose reason is not malformed input.

Targets: 0 lost; duplicates at most 0.1% of the recipients and every one flagged `unknown`; no dead
letter that is not malformed input; the campaign completed within `--final-within` seconds of the
last fault. The exit code is 1 when any scenario misses a target.

`--no-infra-faults` leaves RabbitMQ and PostgreSQL alone (they are shared: use it while developing).
"""

import asyncio
import contextlib
import json
import logging
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

import aio_pika
import httpx
import psycopg
import typer

from tools.fault_sinks import FaultRates, FaultSinks, Outcome, SinkKind, SinkRecords, SinksConfig, SinkSpec
from tools.stack.api import ApiError, Campaign
from tools.stack.campaigns import CampaignPlan, ProvisionedCampaign, provision_campaign, recipient_addresses
from tools.stack.errors import RunFailed, TimedOut
from tools.stack.infra import rabbitmqctl, run_checked
from tools.stack.ports import free_port
from tools.stack.processes import ServiceFailed
from tools.stack.run import (
    ONE_OF_EACH,
    Stack,
    Waves,
    configure_logging,
    logs_dir,
    new_run_name,
    running_stack,
    service_of,
)
from tools.stack.waiting import eventually

log = logging.getLogger("sendpool.chaos")
app = typer.Typer(add_completion=False, help=__doc__)

T = TypeVar("T")

BODY_BYTES = 600  # small: the run measures correctness, and the sinks share two cores with everything
DUPLICATE_SHARE_ALLOWED = 0.001
BAD_REPLIES_RECIPIENTS = 3000

# Settings the services run with. A short retry base so that a message deferred by a 421 comes back
# within seconds, as the end-to-end tests do; the rest stay at their defaults, since those are what
# must survive the faults.
SERVICE_SETTINGS: dict[str, str] = {
    "SENDPOOL_DELIVERY_RETRY_BASE_SECONDS": "1",
    "SENDPOOL_MESSAGE_METRICS": "false",  # costs throughput, and nothing here reads it
    "SENDPOOL_LOG_LEVEL": "INFO",
}


class Scenario(StrEnum):
    FAULTS = "faults"
    BAD_REPLIES = "bad-replies"
    ALL = "all"


# --------------------------------------------------------------------------- replicas

# Two routers and two delivery workers, so that a kill always leaves one of each at work.
FAULTS_WAVES: Waves = (
    ("catalog",),
    ("scheduler", "router", "router-2", "delivery", "delivery-2", "bounces"),
)


# --------------------------------------------------------------------------- retrying the driver's calls


def _is_transient(error: Exception) -> bool:
    if isinstance(error, httpx.HTTPError):
        return True
    return isinstance(error, ApiError) and error.status_code >= 500


def retrying(call: Callable[[], T], what: str, *, timeout: float = 180.0, pause: float = 1.0) -> T:
    """`call()` until it works; connection errors and 5xx answers (PostgreSQL or RabbitMQ restarting,
    a service being started again) are retried until `timeout`, anything else raises at once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except (httpx.HTTPError, ApiError) as error:
            if not _is_transient(error) or time.monotonic() > deadline:
                raise RunFailed(f"{what} failed: {error}") from error
            log.info("%s failed (%s); retrying", what, error)
            time.sleep(pause)


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class FaultPlan:
    worker_kill_every: float = 10.0
    router_kill_every: float = 30.0
    rabbitmq_restart_at: float = 0.30  # share of the messages final
    postgres_restart_at: float = 0.60
    faults_until: float = 0.80
    infra_faults: bool = True
    infra_outage_seconds: float = 5.0
    stall_seconds: float = 120.0  # no progress for this long: stop injecting, the verdict will tell
    max_fault_seconds: float = 1800.0  # a pipeline slowed to a crawl must not keep the run going for hours

    def as_settings(self) -> dict[str, Any]:
        return {
            "worker_kill_every_s": self.worker_kill_every,
            "router_kill_every_s": self.router_kill_every,
            "rabbitmq_restart_at": self.rabbitmq_restart_at if self.infra_faults else None,
            "postgres_restart_at": self.postgres_restart_at if self.infra_faults else None,
            "faults_until": self.faults_until,
            "max_fault_seconds": self.max_fault_seconds,
        }


def postgres_cluster_version() -> str:
    versions = sorted(os.listdir("/etc/postgresql"))
    if not versions:
        raise RunFailed("no PostgreSQL cluster under /etc/postgresql")
    return versions[-1]


class FaultInjector:
    """Kills and restarts on a schedule, driven by the campaign's progress; counts what it did."""

    def __init__(self, stack: Stack, plan: FaultPlan, rng: random.Random) -> None:
        self._stack = stack
        self._plan = plan
        self._rng = rng
        self.counts: Counter[str] = Counter()
        self.unexpected_exits: Counter[str] = Counter()
        self.unhealthy_after_infra: Counter[str] = Counter()
        self.last_fault_at: float | None = None
        self._workers = ["delivery", "delivery-2"]
        self._routers = ["router", "router-2"]
        self._next_worker_kill = 0.0
        self._next_router_kill = 0.0
        self._rabbitmq_done = not plan.infra_faults
        self._postgres_done = not plan.infra_faults

    def start_clock(self) -> None:
        now = time.monotonic()
        self._next_worker_kill = now + self._plan.worker_kill_every
        self._next_router_kill = now + self._plan.router_kill_every

    def tick(self, progress: float) -> None:
        """Inject whatever is due at this moment of the campaign (`progress`: share of messages final)."""
        self.restart_exited()
        now = time.monotonic()
        if not self._rabbitmq_done and progress >= self._plan.rabbitmq_restart_at:
            self._restart_infra("rabbitmq_restarts", self._restart_rabbitmq)
            self._rabbitmq_done = True
        elif not self._postgres_done and progress >= self._plan.postgres_restart_at:
            self._restart_infra("postgres_restarts", self._restart_postgres)
            self._postgres_done = True
        elif now >= self._next_worker_kill:
            self._kill_and_restart(self._workers[self.counts["delivery_kills"] % 2], "delivery_kills")
            self._next_worker_kill = max(self._next_worker_kill + self._plan.worker_kill_every, now)
        elif now >= self._next_router_kill:
            self._kill_and_restart(self._routers[self.counts["router_kills"] % 2], "router_kills")
            self._next_router_kill = max(self._next_router_kill + self._plan.router_kill_every, now)

    def infra_faults_done(self) -> bool:
        return self._rabbitmq_done and self._postgres_done

    def restart_exited(self) -> None:
        """A replica that exited on its own (not killed by us) is started again, as Kubernetes
        would, and counted: the services are meant to survive outages, not exit on them."""
        for label, service in list(self._stack.services.items()):
            if service.process.poll() is not None:
                code = service.process.returncode
                log.warning("%s exited by itself (code %s); starting it again", label, code)
                self.unexpected_exits[label] += 1
                self._stack.mark_log(label, f"chaos: exited by itself with code {code}; started again")
                self._restart(label)

    def _kill_and_restart(self, label: str, counter: str) -> None:
        service = self._stack.services[label]
        log.info("SIGKILL %s (pid %d)", label, service.process.pid)
        service.kill()
        self.counts[counter] += 1
        self._stack.mark_log(label, "chaos: SIGKILLed; starting again")
        self._restart(label)
        self.last_fault_at = time.monotonic()

    def _restart_infra(self, counter: str, restart: Callable[[], None]) -> None:
        restart()
        self.counts[counter] += 1
        for label in self._stack.services:
            self._stack.mark_log(label, f"chaos: {counter.removesuffix('s').replace('_', ' ')} done")
        self._await_all_healthy(counter)
        self.last_fault_at = time.monotonic()
        # Process kills pause during an outage; they resume from now rather than all at once.
        now = time.monotonic()
        self._next_worker_kill = max(self._next_worker_kill, now + self._plan.worker_kill_every)
        self._next_router_kill = max(self._next_router_kill, now)

    def _restart(self, label: str) -> None:
        self._stack.start_again(label, attempts=3)

    def _restart_rabbitmq(self) -> None:
        log.info("stopping RabbitMQ for %gs", self._plan.infra_outage_seconds)
        rabbitmqctl("stop_app")
        time.sleep(self._plan.infra_outage_seconds)
        rabbitmqctl("start_app")

    def _restart_postgres(self) -> None:
        log.info("stopping PostgreSQL for %gs", self._plan.infra_outage_seconds)
        cluster = ["pg_ctlcluster", "--skip-systemctl-redirect", postgres_cluster_version(), "main"]
        run_checked([*cluster, "stop"])
        time.sleep(self._plan.infra_outage_seconds)
        run_checked([*cluster, "start"])

    def _await_all_healthy(self, after: str, timeout: float = 120.0) -> None:
        """Every replica healthy again after an outage; one still unhealthy at the deadline is
        counted and restarted (a liveness probe would do the same), so the run can go on."""
        waiting = dict(self._stack.services)

        def all_healthy() -> bool:
            for label, service in list(waiting.items()):
                try:
                    healthy = service.is_healthy()
                except ServiceFailed:
                    healthy = True  # exited: restart_exited starts and counts it
                if healthy:
                    del waiting[label]
            return not waiting

        with contextlib.suppress(TimedOut):
            eventually(all_healthy, timeout_seconds=timeout, what=f"every replica healthy after {after}")
        self.restart_exited()
        for label in waiting:
            log.warning("%s still unhealthy %.0fs after %s; restarting it", label, timeout, after)
            self.unhealthy_after_infra[label] += 1
            self._stack.mark_log(
                label, f"chaos: unhealthy {timeout:.0f}s after {after}; SIGKILL and start again"
            )
            self._stack.services[label].kill()
            self._restart(label)


# --------------------------------------------------------------------------- the verdict


def read_message_states(database_url: str, campaign_id: UUID) -> dict[str, str]:
    """Each recipient's final message state, from the scheduler's own schema."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT recipient, status FROM scheduler.messages WHERE campaign_id = %s", (campaign_id,)
        ).fetchall()
    return {recipient.lower(): status for recipient, status in rows}


MALFORMED_REASON_PREFIX = "malformed message:"
DEAD_REASON_HEADER = "x-sendpool-dead-reason"


def dead_letter_count(vhost: str) -> int:
    try:
        listing = rabbitmqctl("list_queues", "-p", vhost, "name", "messages")
    except RunFailed as error:
        log.warning("could not count the dead letters: %s", error)
        return 0
    for line in listing.splitlines():
        name, _, messages = line.partition("\t")
        if name.strip() == "sendpool.dead":
            return int(messages.strip() or 0)
    return 0


def dead_letter_reason(headers: Mapping[str, Any]) -> str:
    """The reason a dead letter carries: sendpool's own header, or RabbitMQ's x-death for a
    message that hit its queue's delivery limit (no sendpool code ever saw it fail)."""
    reason = headers.get(DEAD_REASON_HEADER)
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    if reason:
        return str(reason)
    deaths = headers.get("x-death") or []
    if deaths:
        first = deaths[0]
        return f"rabbitmq x-death: {first.get('reason')} from {first.get('queue')}"
    return "no reason given"


def is_malformed(reason: str) -> bool:
    return reason.startswith(MALFORMED_REASON_PREFIX)


async def _peek_dead_letter_reasons(amqp_url: str, limit: int) -> list[str]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue("sendpool.dead", ensure=False)
        reasons: list[str] = []
        # Unacknowledged: they go back to the queue when the connection closes, for --keep.
        while len(reasons) < limit and (message := await queue.get(no_ack=False, fail=False)) is not None:
            reasons.append(dead_letter_reason(message.headers or {}))
        return reasons


def dead_letter_reasons(amqp_url: str, vhost: str, limit: int = 10_000) -> list[str]:
    """One reason per dead letter in the run's vhost (each counted as not malformed if unreadable)."""
    count = dead_letter_count(vhost)
    if count == 0:
        return []
    try:
        reasons = asyncio.run(_peek_dead_letter_reasons(amqp_url, limit))
    except Exception as error:  # noqa: BLE001 - the count above still stands
        log.warning("could not read sendpool.dead: %s", error)
        reasons = []
    return reasons + ["unread"] * max(count - len(reasons), 0)


@dataclass(frozen=True)
class Verdict:
    """Everything the JSON line says about delivery, computed from the sinks' and the pipeline's records."""

    recipients: int
    received_once: int
    lost: int
    lost_by_state: dict[str, int]
    duplicates: int
    duplicates_flagged_unknown: int
    duplicates_by_state: dict[str, int]
    failed_legitimately: int
    states: dict[str, int]
    dead_letters: int
    dead_letters_not_malformed: int
    dead_letter_reasons: dict[str, int]


def judge(
    addresses: Sequence[str],
    records: SinkRecords,
    states: Mapping[str, str],
    dead_reasons: Sequence[str],
) -> Verdict:
    lost_by_state: Counter[str] = Counter()
    failed_legitimately = 0
    for address in (a.lower() for a in addresses):
        if records.accepted[address]:
            continue
        state = states.get(address, "no message")
        if state == "failed" and address in records.refused_permanent:
            failed_legitimately += 1
        else:
            lost_by_state[state] += 1
    duplicates = records.duplicates()
    duplicates_by_state = Counter(states.get(address, "no message") for address in duplicates)
    not_malformed = [reason for reason in dead_reasons if not is_malformed(reason)]
    return Verdict(
        recipients=len(addresses),
        received_once=sum(1 for a in addresses if records.accepted[a.lower()] == 1),
        lost=sum(lost_by_state.values()),
        lost_by_state=dict(lost_by_state),
        duplicates=len(duplicates),
        duplicates_flagged_unknown=duplicates_by_state.get("unknown", 0),
        duplicates_by_state=dict(duplicates_by_state),
        failed_legitimately=failed_legitimately,
        states=dict(Counter(states.values())),
        dead_letters=len(dead_reasons),
        dead_letters_not_malformed=len(not_malformed),
        # The reasons name message ids; the first 120 characters group them well enough.
        dead_letter_reasons=dict(Counter(reason[:120] for reason in dead_reasons).most_common(10)),
    )


def targets_met(
    verdict: Verdict, campaign_state: str, seconds_to_final: float | None, final_within: float
) -> bool:
    return (
        verdict.lost == 0
        and verdict.duplicates <= DUPLICATE_SHARE_ALLOWED * verdict.recipients
        and verdict.duplicates_flagged_unknown == verdict.duplicates
        and verdict.dead_letters_not_malformed == 0
        and campaign_state == "completed"
        and seconds_to_final is not None
        and seconds_to_final <= final_within
    )


def summary_line(
    scenario: str,
    verdict: Verdict,
    *,
    campaign_state: str,
    seconds_to_final: float | None,
    final_within: float,
    faults: Mapping[str, int],
    elapsed_seconds: float,
    settings: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The scenario's JSON record: the agreed keys first, then details that help read a miss."""
    record: dict[str, Any] = {
        "scenario": scenario,
        "recipients": verdict.recipients,
        "received_once": verdict.received_once,
        "lost": verdict.lost,
        "duplicates": verdict.duplicates,
        "duplicates_flagged_unknown": verdict.duplicates_flagged_unknown,
        "dead_letters": verdict.dead_letters,
        "dead_letters_not_malformed": verdict.dead_letters_not_malformed,
        "campaign_state": campaign_state,
        "seconds_from_last_fault_to_final": None if seconds_to_final is None else round(seconds_to_final, 1),
        "faults": dict(faults),
        "elapsed_seconds": round(elapsed_seconds, 1),
        "targets_met": targets_met(verdict, campaign_state, seconds_to_final, final_within),
        "settings": dict(settings),
        "lost_by_state": verdict.lost_by_state,
        "duplicates_by_state": verdict.duplicates_by_state,
        "failed_legitimately": verdict.failed_legitimately,
        "states": verdict.states,
        "dead_letter_reasons": verdict.dead_letter_reasons,
    }
    record.update(extra or {})
    return record


# --------------------------------------------------------------------------- one scenario


@dataclass(frozen=True)
class ScenarioSetup:
    name: str
    recipients: int
    sinks: list[SinkKind]
    weights: Sequence[float] | None
    waves: Waves
    plan: FaultPlan | None  # None: no process or infrastructure faults


def _progress(campaign: Campaign, recipients: int) -> float:
    return campaign.final / max(recipients, 1)


class CampaignWatch:
    """The campaign as last seen; a poll that fails (an outage) keeps the last answer."""

    def __init__(self, provisioned: ProvisionedCampaign, recipients: int) -> None:
        self._provisioned = provisioned
        self._recipients = recipients
        self.last: Campaign | None = None
        self._last_report = 0.0

    def poll(self) -> Campaign | None:
        try:
            self.last = self._provisioned.api.campaign(self._provisioned.campaign_id)
        except (httpx.HTTPError, ApiError) as error:
            log.info("campaign poll failed: %s", error)
        self._report()
        return self.last

    @property
    def progress(self) -> float:
        return 0.0 if self.last is None else _progress(self.last, self._recipients)

    def _report(self) -> None:
        if self.last is None or time.monotonic() - self._last_report < 5:
            return
        self._last_report = time.monotonic()
        states = " ".join(f"{k}={v}" for k, v in sorted(self.last.counts.items()))
        log.info(
            "campaign %s: %d/%d final (%.0f%%), expanded %d; %s",
            self.last.state, self.last.final, self._recipients, 100 * self.progress, self.last.expanded, states,
        )  # fmt: skip


def run_scenario(
    setup: ScenarioSetup, *, seed: int, keep: bool, final_within: float, rates: FaultRates
) -> dict[str, Any]:
    started = time.monotonic()
    run_name = new_run_name(f"chaos-{setup.name}")
    logs = logs_dir(run_name)
    log.info("scenario %s: %d recipients; logs in %s", setup.name, setup.recipients, logs)
    sinks_config = SinksConfig(
        sinks=[
            SinkSpec(kind, free_port(), str(logs / f"sink-{i}-{kind}.records"))
            for i, kind in enumerate(setup.sinks)
        ],
        seed=seed,
        rates=rates,
    )
    settings: dict[str, Any] = {
        **SERVICE_SETTINGS,
        "sinks": [str(kind) for kind in setup.sinks],
        "weights": list(setup.weights) if setup.weights else "equal",
        "replicas": {label: service_of(label) for wave in setup.waves for label in wave},
        "fault_rates": vars(rates),
        "seed": seed,
        "final_within_s": final_within,
    }
    if setup.plan:
        settings["fault_plan"] = setup.plan.as_settings()

    with (
        FaultSinks(sinks_config, logs / "sinks.log") as sinks,
        running_stack(
            run_name,
            settings=SERVICE_SETTINGS,
            keep_database=keep,
            keep_vhost=keep,
            # Short: a call that hangs while PostgreSQL or RabbitMQ is down is retried, not waited on.
            http_timeout=15.0,
            waves=setup.waves,
        ) as stack,
    ):
        plan = CampaignPlan(setup.recipients, setup.weights, BODY_BYTES)
        provisioned = retrying(
            lambda: provision_campaign(stack.operator_api(), sinks.ports, plan, report=log.info),
            "provisioning",
            timeout=60,
        )
        for server, kind in zip(provisioned.servers, setup.sinks, strict=True):
            log.info("%s is the %s sink", server.name, kind)
        watch = CampaignWatch(provisioned, setup.recipients)
        injector = FaultInjector(stack, setup.plan, random.Random(seed)) if setup.plan else None

        retrying(lambda: provisioned.api.launch(provisioned.campaign_id), "launch")
        launched_at = time.monotonic()
        if injector and setup.plan:
            inject_until_done(injector, setup.plan, watch)
        last_fault_at = (injector.last_fault_at if injector else None) or launched_at

        campaign = wait_for_final(watch, deadline=last_fault_at + final_within)
        final_at = time.monotonic() if campaign is not None and campaign.state == "completed" else None
        if injector:
            injector.restart_exited()
        time.sleep(3)  # a message resent late would reach a sink after the campaign completed
        records = sinks.records()
        states = read_message_states(stack.database_url, provisioned.campaign_id)
        dead_reasons = dead_letter_reasons(stack.amqp_url, stack.vhost)

    verdict = judge(recipient_addresses(setup.recipients), records, states, dead_reasons)
    faults: dict[str, int] = dict(injector.counts) if injector else {}
    # The sinks' faults are injected too (a bad-replies sink's odd bytes go with every 250 it sends).
    for outcome, fault in (
        (Outcome.REFUSED_TEMPORARY, "smtp_421"),
        (Outcome.REFUSED_PERMANENT, "smtp_550"),
        (Outcome.DROPPED, "smtp_dropped_after_data"),
    ):
        if records.outcomes[outcome]:
            faults[fault] = records.outcomes[outcome]
    extra: dict[str, Any] = {
        "campaign_counts": campaign.counts if campaign else None,
        "sink_outcomes": dict(records.outcomes),
        "accepted_per_sink": {str(setup.sinks[i]): n for i, n in sorted(records.accepted_per_sink.items())},
        "logs": str(logs),
    }
    if injector:
        extra["unexpected_exits"] = dict(injector.unexpected_exits)
        extra["unhealthy_after_infra_fault"] = dict(injector.unhealthy_after_infra)
    return summary_line(
        setup.name,
        verdict,
        campaign_state=campaign.state if campaign else "unknown",
        seconds_to_final=None if final_at is None else final_at - last_fault_at,
        final_within=final_within,
        faults=faults,
        elapsed_seconds=time.monotonic() - started,
        settings=settings,
        extra=extra,
    )


def inject_until_done(injector: FaultInjector, plan: FaultPlan, watch: CampaignWatch) -> None:
    """Faults until `plan.faults_until` of the messages are final (and both outages happened),
    the campaign is over, it made no progress for `plan.stall_seconds`, or `plan.max_fault_seconds` passed."""
    injector.start_clock()
    last_progress, last_moved = -1.0, time.monotonic()
    give_up_at = time.monotonic() + plan.max_fault_seconds
    while True:
        campaign = watch.poll()
        progress = watch.progress
        if progress > last_progress:
            last_progress, last_moved = progress, time.monotonic()
        if campaign is not None and campaign.state in ("completed", "stopped"):
            log.info("campaign %s while faults were being injected", campaign.state)
            return
        if progress >= plan.faults_until and injector.infra_faults_done():
            log.info("faults stop at %.0f%% final: %s", 100 * progress, dict(injector.counts))
            return
        if time.monotonic() - last_moved > plan.stall_seconds:
            log.warning("no progress for %.0fs; faults stop", plan.stall_seconds)
            return
        if time.monotonic() > give_up_at:
            log.warning("faults stop after %.0fs at %.0f%% final", plan.max_fault_seconds, 100 * progress)
            return
        injector.tick(progress)
        time.sleep(0.5)


def wait_for_final(watch: CampaignWatch, *, deadline: float) -> Campaign | None:
    """The campaign once completed or stopped, or as last seen at `deadline`."""

    def final() -> Campaign | None:
        campaign = watch.poll()
        return campaign if campaign is not None and campaign.state in ("completed", "stopped") else None

    try:
        return eventually(final, timeout_seconds=max(deadline - time.monotonic(), 0), interval_seconds=1.0)
    except TimedOut:
        log.warning("campaign not final by the deadline")
        return watch.last


# --------------------------------------------------------------------------- command line


@app.command()
def chaos(
    scenario: Scenario = typer.Option(Scenario.ALL, help="Which scenario to run."),
    recipients: int = typer.Option(50_000, min=1, help="Recipients of the faults scenario's campaign."),
    bad_replies_recipients: int = typer.Option(
        BAD_REPLIES_RECIPIENTS, min=1, help="Recipients of bad-replies."
    ),
    no_infra_faults: bool = typer.Option(
        False, help="Do not restart RabbitMQ and PostgreSQL (shared servers)."
    ),
    seed: int = typer.Option(1, help="Seed of the fault sinks' and the injector's choices."),
    keep: bool = typer.Option(
        False, help="Keep the runs' databases and virtual hosts (logs are always kept)."
    ),
    final_within: float = typer.Option(
        300.0, help="Seconds after the last fault by which the campaign must be completed."
    ),
    worker_kill_every: float = typer.Option(10.0, help="Seconds between delivery worker kills."),
    router_kill_every: float = typer.Option(30.0, help="Seconds between router kills."),
    faults_until: float = typer.Option(
        0.8, min=0.0, max=1.0, help="Share of messages final at which faults stop."
    ),
) -> None:
    """Run the scenarios; one JSON line each on stdout; exit 1 if any target is missed."""
    configure_logging(logging.StreamHandler(sys.stderr))
    plan = FaultPlan(
        worker_kill_every=worker_kill_every,
        router_kill_every=router_kill_every,
        faults_until=faults_until,
        infra_faults=not no_infra_faults,
    )
    setups = []
    if scenario in (Scenario.FAULTS, Scenario.ALL):
        setups.append(
            ScenarioSetup(
                "faults",
                recipients,
                [SinkKind.BAD_REPLIES, SinkKind.PLAIN, SinkKind.FAULTY],
                (1.0, 2.0, 7.0),
                FAULTS_WAVES,
                plan,
            )
        )
    if scenario in (Scenario.BAD_REPLIES, Scenario.ALL):
        setups.append(
            ScenarioSetup(
                "bad-replies", bad_replies_recipients, [SinkKind.BAD_REPLIES], None, ONE_OF_EACH, None
            )
        )
    all_met = True
    for setup in setups:
        try:
            record = run_scenario(setup, seed=seed, keep=keep, final_within=final_within, rates=FaultRates())
        except KeyboardInterrupt:
            log.warning("interrupted")
            raise typer.Exit(130) from None
        except Exception as error:  # noqa: BLE001 - a scenario that cannot run still gets its JSON line
            log.exception("scenario %s could not run", setup.name)
            record = {
                "scenario": setup.name,
                "recipients": setup.recipients,
                "error": str(error),
                "targets_met": False,
            }
        print(json.dumps(record), flush=True)
        all_met = all_met and bool(record["targets_met"])
    if not all_met:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
