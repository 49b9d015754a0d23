"""The delivery use case with its ports faked: what is recorded, published and retried, in which order."""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.delivery.app.deliver import DeliverMessage
from services.delivery.app.ports import ServerSender, UnusableServer
from services.delivery.domain.attempts import AttemptRecord, AttemptState, Claimed, ClaimResult
from services.delivery.domain.identity import SenderIdentity
from services.delivery.domain.mime import OutgoingMessage
from services.delivery.domain.outcomes import Deferred, Failed, SendOutcome, Sent, Unknown
from services.delivery.domain.retry import RetryPolicy
from shared.contracts import DeliveryRequested, SendRequested
from shared.verp import parse_verp
from tests.unit.delivery.messages import CONTENT, delivery_requested, send_requested

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SERVER = uuid4()
VERP_SECRET = "unit-test-verp-secret"
UNREACHABLE = Deferred(None, None, "could not open a connection: refused", connection_failure=True)


@dataclass
class Journal:
    """Every effect the use case has, in order."""

    entries: list[tuple[str, object]] = field(default_factory=list)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.entries]

    def of(self, kind: str) -> list:
        return [item for entry_kind, item in self.entries if entry_kind == kind]


@dataclass
class MemoryAttempts:
    journal: Journal
    records: dict[UUID, AttemptRecord] = field(default_factory=dict)

    async def claim(self, message_id: UUID, server_id: UUID, attempt: int) -> ClaimResult:
        current = self.records.get(message_id)
        if current is None or (current.state is AttemptState.DEFERRED and current.attempt <= attempt):
            maybe_delivered = current is not None and current.maybe_delivered
            claimed = AttemptRecord.claim(message_id, server_id, attempt, maybe_delivered=maybe_delivered)
            self.records[message_id] = claimed
            self.journal.entries.append(("claim", message_id))
            return Claimed(claimed)
        return current

    async def record(self, record: AttemptRecord) -> None:
        self.records[record.message_id] = record
        self.journal.entries.append(("record", record))


@dataclass
class MemoryOutbound:
    journal: Journal

    async def publish_status(self, event) -> None:
        self.journal.entries.append(("status", event))

    async def retry_later(self, send: SendRequested, wait_seconds: float) -> float:
        self.journal.entries.append(("retry", send))
        return 60.0

    async def hand_back(self, send: SendRequested) -> None:
        self.journal.entries.append(("hand_back", send))


@dataclass
class ScriptedSender:
    journal: Journal
    outcome: SendOutcome
    release: asyncio.Event | None = None
    """When set, a send waits for it: to hold sends under way."""

    async def send(self, message: OutgoingMessage) -> SendOutcome:
        self.journal.entries.append(("send", message))
        if self.release is not None:
            await self.release.wait()
        return self.outcome

    async def probe(self): ...

    async def close(self) -> None: ...


@dataclass
class Senders:
    sender: ScriptedSender | None = None
    unusable: str | None = None
    identity: SenderIdentity | None = None

    async def sender_for(self, server_id: UUID) -> ServerSender:
        if self.unusable:
            raise UnusableServer(self.unusable)
        return ServerSender(self.sender, self.identity)


@dataclass
class Gate:
    refusals: dict[UUID, str] = field(default_factory=dict)

    def refusal(self, server_id: UUID) -> str | None:
        return self.refusals.get(server_id)


@dataclass
class Capacity:
    """Records what the use case had done by the time it asked to wait for capacity."""

    journal: Journal
    asked: list[tuple[UUID, list[str]]] = field(default_factory=list)
    waits: bool = False
    """Whether the message had to wait (it was late and its server at its cap)."""

    async def wait_for_capacity(self, request: DeliveryRequested) -> bool:
        self.asked.append((request.send.message_id, self.journal.kinds()))
        return self.waits


@dataclass
class Suppression:
    """The bounces service: `addresses` suppressed (address → why); every question asked, in order."""

    addresses: dict[str, str] = field(default_factory=dict)
    asked: list[list[str]] = field(default_factory=list)

    async def suppressed(self, tenant_id: UUID, addresses) -> dict[str, str]:
        self.asked.append(list(addresses))
        return {address: self.addresses[address] for address in addresses if address in self.addresses}


@dataclass
class Health:
    observed: list[tuple[UUID, SendOutcome]] = field(default_factory=list)

    def observe(self, server_id: UUID, outcome: SendOutcome) -> None:
        self.observed.append((server_id, outcome))


@dataclass
class Metrics:
    outcomes: list[tuple[str, UUID, str]] = field(default_factory=list)
    send_seconds: list[tuple[str, float]] = field(default_factory=list)

    def send_took(self, vendor: str, seconds: float) -> None:
        self.send_seconds.append((vendor, seconds))

    def concluded(self, vendor: str, server_id: UUID, status) -> None:
        self.outcomes.append((vendor, server_id, status.value))


def request(attempt: int = 1, first_attempt_at: datetime = NOW, **content) -> DeliveryRequested:
    send = send_requested(
        content=CONTENT.model_copy(update=content), attempt=attempt, first_attempt_at=first_attempt_at
    )
    return delivery_requested(SERVER, send)


@dataclass
class UseCase:
    deliver: DeliverMessage
    journal: Journal
    attempts: MemoryAttempts
    gate: Gate
    health: Health
    sender: ScriptedSender
    metrics: Metrics
    capacity: Capacity
    suppression: Suppression


def use_case(
    outcome: SendOutcome = Sent("Q1", 250, "2.0.0 Ok"),
    *,
    unusable: str | None = None,
    identity: SenderIdentity | None = None,
    sends_per_server: int = 8,
) -> UseCase:
    journal = Journal()
    attempts = MemoryAttempts(journal)
    gate, health, metrics, capacity = Gate(), Health(), Metrics(), Capacity(journal)
    suppression = Suppression()
    sender = ScriptedSender(journal, outcome)
    deliver = DeliverMessage(
        attempts=attempts,
        senders=Senders(sender, unusable, identity),
        outbound=MemoryOutbound(journal),
        retry_policy=RetryPolicy(max_attempts=3, base_seconds=30, max_age_seconds=3600),
        gate=gate,
        capacity=capacity,
        health=health,
        metrics=metrics,
        suppression=suppression,
        verp_secret=VERP_SECRET,
        sends_per_server=sends_per_server,
        clock=lambda: NOW,
    )
    return UseCase(deliver, journal, attempts, gate, health, sender, metrics, capacity, suppression)


async def test_a_sent_message_is_claimed_sent_recorded_then_published():
    case = use_case(Sent("Q1", 250, "2.0.0 Ok: queued as Q1"))
    message = request()

    await case.deliver(message, redelivered=False)

    assert case.journal.kinds() == ["claim", "send", "record", "status"]
    [status] = case.journal.of("status")
    assert (status.status, status.vendor_message_id, status.reply_code) == ("sent", "Q1", 250)
    assert status.routing_key == f"{message.send.tenant_id}.{message.send.campaign_id}.sent"
    assert case.health.observed == [(SERVER, Sent("Q1", 250, "2.0.0 Ok: queued as Q1"))]


async def test_the_server_capacity_is_awaited_before_the_claim():
    """A late message waits for its server's capacity unclaimed: a worker dying meanwhile leaves
    nothing in doubt."""
    case = use_case()
    message = request()

    await case.deliver(message, redelivered=False)

    assert case.capacity.asked == [(message.send.message_id, [])]
    assert case.journal.kinds() == ["claim", "send", "record", "status"]


async def test_the_envelope_sender_is_a_verp_address_naming_the_message():
    case = use_case()
    message = request()

    await case.deliver(message, redelivered=False)

    [sent] = case.journal.of("send")
    assert sent.envelope_from.startswith("bounces+") and sent.envelope_from.endswith("@shop.example")
    assert parse_verp(sent.envelope_from, VERP_SECRET) == message.send.message_id
    assert sent.dkim_signature == b"", "no identity, no signature"


async def test_the_identitys_return_path_domain_carries_the_bounces():
    case = use_case(
        identity=SenderIdentity(from_domains=("shop.example",), return_path_domain="bounce.shop.example")
    )

    await case.deliver(request(), redelivered=False)

    [sent] = case.journal.of("send")
    assert sent.envelope_from.endswith("@bounce.shop.example")


async def test_a_deferral_is_recorded_before_the_retry_is_published():
    case = use_case(Deferred(451, "4.7.1", "4.7.1 Greylisted"))

    await case.deliver(request(), redelivered=False)

    assert case.journal.kinds() == ["claim", "send", "record", "retry", "status"]
    [retry] = case.journal.of("retry")
    assert (retry.attempt, retry.avoid_server_ids) == (2, [SERVER])
    [status] = case.journal.of("status")
    assert status.status == "deferred" and status.retry_at == NOW.replace(minute=1)


async def test_a_deferral_on_the_last_attempt_fails_without_a_retry():
    case = use_case(Deferred(451, "4.7.1", "4.7.1 Greylisted"))

    await case.deliver(request(attempt=3), redelivered=False)

    assert "retry" not in case.journal.kinds()
    [status] = case.journal.of("status")
    assert status.status == "failed"
    assert status.reply_text == "4.7.1 Greylisted (gave up: deferred on each of 3 attempts (at most 3))"


async def test_an_unreachable_server_sends_the_message_back_to_routing_at_once_without_using_an_attempt():
    case = use_case(UNREACHABLE)

    await case.deliver(request(attempt=3), redelivered=False)

    assert case.journal.kinds() == ["claim", "send", "record", "hand_back", "status"]
    [rerouted] = case.journal.of("hand_back")
    assert (rerouted.attempt, rerouted.avoid_server_ids) == (3, [SERVER])
    [status] = case.journal.of("status")
    assert (status.status, status.retry_at) == ("deferred", NOW)
    assert status.reply_text == "could not open a connection: refused"
    assert case.health.observed == [(SERVER, UNREACHABLE)]


async def test_an_unreachable_server_fails_a_message_that_is_too_old():
    case = use_case(UNREACHABLE)

    await case.deliver(request(first_attempt_at=NOW - timedelta(hours=2)), redelivered=False)

    assert "hand_back" not in case.journal.kinds()
    [status] = case.journal.of("status")
    assert status.status == "failed"
    assert status.reply_text == (
        "could not open a connection: refused (gave up: not delivered 7200s after the first attempt (at most 3600s))"
    )


async def test_a_message_for_a_server_that_may_not_send_is_handed_back_unsent_and_unclaimed():
    case = use_case()
    case.gate.refusals[SERVER] = "the server is disabled"
    message = request(attempt=2)

    await case.deliver(message, redelivered=False)

    assert case.journal.kinds() == ["hand_back"]
    [rerouted] = case.journal.of("hand_back")
    assert rerouted.message_id == message.send.message_id
    assert (rerouted.attempt, rerouted.avoid_server_ids) == (2, [SERVER])
    assert message.send.message_id not in case.attempts.records


async def test_an_unusable_server_defers_the_message_without_sending():
    case = use_case(unusable="invalid SMTP settings: host: Field required")

    await case.deliver(request(), redelivered=False)

    assert case.journal.kinds() == ["claim", "record", "retry", "status"]
    [status] = case.journal.of("status")
    assert status.status == "deferred"
    assert status.reply_text.endswith("cannot send: invalid SMTP settings: host: Field required")
    assert case.health.observed == [], "nothing reached the server, nor tried to"


async def test_a_message_that_cannot_be_composed_fails_without_sending():
    case = use_case()
    message = request()
    message = message.model_copy(update={"send": message.send.model_copy(update={"recipient": "no-at-sign"})})

    await case.deliver(message, redelivered=False)

    assert "send" not in case.journal.kinds()
    [status] = case.journal.of("status")
    assert status.status == "failed"
    assert status.reply_text.startswith("message refused before sending: To address 'no-at-sign'")


@pytest.mark.parametrize("recorded", [AttemptState.SENT, AttemptState.FAILED, AttemptState.UNKNOWN])
async def test_a_copy_of_a_settled_message_republishes_without_sending(recorded):
    case = use_case()
    message = request()
    case.attempts.records[message.send.message_id] = AttemptRecord(
        message.send.message_id, SERVER, 1, recorded, reply_code=250, reply_text="recorded reply"
    )

    await case.deliver(message, redelivered=True)

    assert case.journal.kinds() == ["status"]
    assert case.journal.of("status")[0].status == recorded.value
    assert case.journal.of("status")[0].reply_text == "recorded reply"


async def test_a_redelivered_message_left_sending_is_sent_again_and_reported_unknown():
    case = use_case(Sent("Q2", 250, "2.0.0 Ok"))
    message = request()
    case.attempts.records[message.send.message_id] = AttemptRecord(
        message.send.message_id, SERVER, 1, AttemptState.SENDING
    )

    await case.deliver(message, redelivered=True)

    assert case.journal.kinds() == ["send", "record", "status"]
    recorded = case.attempts.records[message.send.message_id]
    assert recorded.state is AttemptState.UNKNOWN
    assert "the recipient may have it twice" in recorded.reply_text
    assert case.journal.of("status")[0].status == "unknown"


@pytest.mark.parametrize("refused_for_now", [Deferred(421, "4.3.0", "4.3.0 try later"), UNREACHABLE])
async def test_a_message_taken_over_from_a_stopped_worker_and_refused_for_now_is_retried_not_given_up(
    refused_for_now,
):
    """Reporting it `unknown` here would leave the recipient without it if the stopped worker
    never got it out: it is retried, and remembered as maybe delivered for the attempt that ends it."""
    case = use_case(refused_for_now)
    message = request()
    case.attempts.records[message.send.message_id] = AttemptRecord(
        message.send.message_id, SERVER, 1, AttemptState.SENDING
    )

    await case.deliver(message, redelivered=True)

    recorded = case.attempts.records[message.send.message_id]
    assert (recorded.state, recorded.maybe_delivered) == (AttemptState.DEFERRED, True)
    assert [status.status for status in case.journal.of("status")] == ["deferred"]
    assert case.journal.of("retry") or case.journal.of("hand_back")


async def test_a_fresh_copy_of_a_message_being_sent_elsewhere_is_left_to_that_copy():
    case = use_case()
    message = request()
    case.attempts.records[message.send.message_id] = AttemptRecord(
        message.send.message_id, SERVER, 1, AttemptState.SENDING
    )

    await case.deliver(message, redelivered=False)

    assert case.journal.kinds() == []


async def test_a_copy_redelivered_before_routing_handed_it_here_takes_over_a_dead_workers_claim():
    """A worker died holding the message for a server that then stopped sending: the message
    came back through routing as a fresh delivery, but it was redelivered on its way."""
    case = use_case(Sent("Q3", 250, "2.0.0 Ok"))
    message = request()
    other_server = uuid4()
    case.attempts.records[message.send.message_id] = AttemptRecord(
        message.send.message_id, other_server, 1, AttemptState.SENDING
    )
    handed_back = message.model_copy(update={"send": message.send.avoiding(other_server, redelivered=True)})

    await case.deliver(handed_back, redelivered=False)

    assert case.journal.kinds() == ["send", "record", "status"]
    assert case.journal.of("status")[0].status == "unknown"


async def test_a_message_handed_back_after_a_redelivery_says_so():
    case = use_case()
    case.gate.refusals[SERVER] = "the server is paused"

    await case.deliver(request(), redelivered=True)

    [rerouted] = case.journal.of("hand_back")
    assert rerouted.redelivered, "the next worker must know a stopped worker may hold a claim on it"


async def test_a_redelivered_copy_of_a_message_this_worker_is_sending_is_not_sent_again():
    case = use_case()
    case.sender.release = asyncio.Event()
    message = request()
    first = asyncio.create_task(case.deliver(message, redelivered=False))
    await asyncio.sleep(0.01)

    await case.deliver(message, redelivered=True)
    case.sender.release.set()
    await first

    assert case.journal.kinds() == ["claim", "send", "record", "status"]


async def test_messages_are_claimed_only_as_the_server_can_take_them():
    case = use_case(sends_per_server=2)
    case.sender.release = asyncio.Event()
    deliveries = [asyncio.create_task(case.deliver(request(), redelivered=False)) for _ in range(5)]
    await asyncio.sleep(0.01)

    claimed_while_held = case.journal.kinds().count("claim")
    case.sender.release.set()
    await asyncio.gather(*deliveries)

    assert claimed_while_held == 2
    assert case.journal.kinds().count("status") == 5


async def test_a_retry_of_a_deferred_message_is_sent_again():
    case = use_case()
    message = request(attempt=2)
    case.attempts.records[message.send.message_id] = AttemptRecord(
        message.send.message_id, uuid4(), 1, AttemptState.DEFERRED
    )

    await case.deliver(message, redelivered=False)

    assert case.journal.kinds() == ["claim", "send", "record", "status"]


async def test_an_unknown_outcome_is_recorded_and_published_as_such():
    case = use_case(Unknown("connection lost while the message was being transmitted"))
    message = request()

    await case.deliver(message, redelivered=False)

    recorded = case.attempts.records[message.send.message_id]
    assert recorded.state is AttemptState.UNKNOWN
    assert recorded.reply_text == "connection lost while the message was being transmitted"
    assert case.journal.of("status")[0].status == "unknown"


async def test_a_permanent_refusal_is_published_failed_with_the_servers_codes():
    case = use_case(Failed(550, "5.1.1", "5.1.1 No such user"))

    await case.deliver(request(), redelivered=False)

    [status] = case.journal.of("status")
    assert (status.status, status.reply_code, status.enhanced_code) == ("failed", 550, "5.1.1")


async def test_a_server_that_stops_being_able_to_send_while_a_message_waits_its_turn_gets_it_back():
    case = use_case(sends_per_server=1)
    case.sender.release = asyncio.Event()
    under_way, waiting = request(), request()
    first = asyncio.create_task(case.deliver(under_way, redelivered=False))
    second = asyncio.create_task(case.deliver(waiting, redelivered=False))
    await asyncio.sleep(0.01)

    case.gate.refusals[SERVER] = "the server's circuit breaker is open: unreachable"
    case.sender.release.set()
    await asyncio.gather(first, second)

    [handed_back] = case.journal.of("hand_back")
    assert handed_back.message_id == waiting.send.message_id
    assert case.journal.of("status")[0].message_id == under_way.send.message_id
    assert waiting.send.message_id not in case.attempts.records


@pytest.mark.parametrize(
    ("outcome", "counted"),
    [
        (Sent("Q1", 250, "2.0.0 Ok"), "sent"),
        (Deferred(451, "4.7.1", "4.7.1 Greylisted"), "deferred"),
        (UNREACHABLE, "deferred"),
        (Failed(550, "5.1.1", "5.1.1 No such user"), "failed"),
        (Unknown("connection lost after DATA"), "unknown"),
    ],
)
async def test_each_outcome_is_counted_once_by_vendor_server_and_status(outcome, counted):
    case = use_case(outcome)

    await case.deliver(request(), redelivered=False)

    assert case.metrics.outcomes == [("smtp", SERVER, counted)]
    [(vendor, seconds)] = case.metrics.send_seconds
    assert vendor == "smtp" and seconds >= 0


async def test_the_send_time_is_that_of_the_send_itself():
    release = asyncio.Event()
    case = use_case()
    case.sender.release = release
    delivering = asyncio.create_task(case.deliver(request(), redelivered=False))
    await asyncio.sleep(0.05)
    release.set()
    await delivering

    [(_, seconds)] = case.metrics.send_seconds
    assert seconds >= 0.05


async def test_a_message_given_up_after_deferrals_is_counted_failed():
    case = use_case(Deferred(451, "4.7.1", "4.7.1 Greylisted"))

    await case.deliver(request(attempt=3), redelivered=False)

    assert case.metrics.outcomes == [("smtp", SERVER, "failed")]


async def test_a_message_settled_without_a_send_is_counted_but_not_timed():
    case = use_case(unusable="the catalog has no connection settings for it")

    await case.deliver(request(), redelivered=False)

    assert case.metrics.outcomes == [("smtp", SERVER, "deferred")]
    assert case.metrics.send_seconds == []


async def test_a_republished_outcome_and_a_hand_back_are_not_counted():
    case = use_case()
    settled, refused = request(), request()
    case.attempts.records[settled.send.message_id] = AttemptRecord(
        settled.send.message_id, SERVER, 1, AttemptState.SENT, reply_code=250
    )
    await case.deliver(settled, redelivered=True)
    case.gate.refusals[SERVER] = "server paused"
    await case.deliver(refused, redelivered=False)

    assert case.journal.kinds() == ["status", "hand_back"]
    assert case.metrics.outcomes == [] and case.metrics.send_seconds == []


LOST_AFTER_DATA = Deferred(
    None, None, "connection lost after the message was transmitted", maybe_delivered=True
)


async def test_a_connection_lost_after_data_is_deferred_and_the_record_remembers_it_may_have_arrived():
    case = use_case(LOST_AFTER_DATA)
    message = request()

    await case.deliver(message, redelivered=False)

    recorded = case.attempts.records[message.send.message_id]
    assert (recorded.state, recorded.maybe_delivered) == (AttemptState.DEFERRED, True)
    assert [status.status for status in case.journal.of("status")] == ["deferred"]
    [retry] = case.journal.of("retry")
    assert retry.attempt == 2


@pytest.mark.parametrize(
    ("later", "reported"),
    [(Sent("Q2", 250, "2.0.0 Ok"), "unknown"), (Failed(550, "5.1.1", "5.1.1 No such user"), "failed")],
)
async def test_a_later_attempt_after_one_that_may_have_arrived_is_unknown_only_if_it_may_be_there_twice(
    later, reported
):
    case = use_case(later)
    message = request(attempt=2)
    case.attempts.records[message.send.message_id] = AttemptRecord(
        message.send.message_id, SERVER, 1, AttemptState.DEFERRED, maybe_delivered=True
    )

    await case.deliver(message, redelivered=False)

    [status] = case.journal.of("status")
    assert status.status == reported and status.attempt == 2
    assert "may have arrived then" in status.reply_text
    assert case.attempts.records[message.send.message_id].state == reported


async def test_a_message_lost_after_data_on_its_last_attempt_is_failed_saying_it_may_have_arrived():
    case = use_case(LOST_AFTER_DATA)
    message = request(attempt=3)

    await case.deliver(message, redelivered=False)

    [status] = case.journal.of("status")
    assert status.status == "failed"
    assert "gave up: deferred on each of 3 attempts" in status.reply_text
    assert "so it may have arrived then" in status.reply_text
