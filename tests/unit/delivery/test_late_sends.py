"""Late messages: which ones ask the router, and how they wait for their server's capacity."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from services.delivery.app.late_sends import LONGEST_SLEEP_SECONDS, AdmissionUnavailable, LateSends
from shared.contracts import AdmissionReply, DeliveryRequested
from tests.unit.delivery.messages import delivery_requested

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


class ScriptedAdmissions:
    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.asked = []

    async def admit(self, request):
        self.asked.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def delivery(*, routed_seconds_ago: float, counted: bool = True) -> DeliveryRequested:
    return delivery_requested(uuid4(), routed_at=NOW - timedelta(seconds=routed_seconds_ago), counted=counted)


def pacer(admissions, clock) -> LateSends:
    return LateSends(admissions, late_after=timedelta(seconds=2), clock=clock, sleep=clock.sleep)


async def test_a_message_on_time_or_not_counted_goes_without_asking():
    clock, admissions = Clock(), ScriptedAdmissions()

    await pacer(admissions, clock).wait_for_capacity(delivery(routed_seconds_ago=1.5))
    await pacer(admissions, clock).wait_for_capacity(delivery(routed_seconds_ago=600, counted=False))

    assert admissions.asked == [] and clock.slept == []


async def test_a_late_message_waits_until_the_router_admits_it():
    clock = Clock()
    at_cap = AdmissionReply(
        admitted=False, retry_at=NOW + timedelta(seconds=4), reason="at cap (5 per second)"
    )
    later = AdmissionReply(admitted=False, retry_at=NOW + timedelta(seconds=100), reason="at cap")
    admissions = ScriptedAdmissions(at_cap, later, AdmissionReply(admitted=True))
    late = delivery(routed_seconds_ago=30)

    await pacer(admissions, clock).wait_for_capacity(late)

    # Until the first retry_at; then never longer than LONGEST_SLEEP_SECONDS before asking again.
    assert clock.slept == [4.0, LONGEST_SLEEP_SECONDS]
    first = admissions.asked[0]
    assert (first.server_id, first.recipient, first.routed_at) == (
        late.server_id,
        "ada@inbox.example",
        late.routed_at,
    )


async def test_a_late_message_keeps_asking_while_no_router_answers():
    clock = Clock()
    admissions = ScriptedAdmissions(
        AdmissionUnavailable("no router answered within 10s"), AdmissionReply(admitted=True)
    )

    await pacer(admissions, clock).wait_for_capacity(delivery(routed_seconds_ago=30))

    assert len(admissions.asked) == 2 and clock.slept == [1.0]
