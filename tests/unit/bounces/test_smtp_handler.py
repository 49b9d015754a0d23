"""The bounce mail endpoint's handler with a fake intake: which recipients it takes, what it hands on."""

from types import SimpleNamespace
from uuid import uuid4

from services.bounces.entrypoints.smtp import BounceMailHandler
from shared.verp import verp_address

SECRET = "a-verp-secret-for-unit-tests"


class RecordingIntake:
    def __init__(self, fail: bool = False) -> None:
        self.taken: list = []
        self.fail = fail

    async def take(self, feedback) -> None:
        if self.fail:
            raise ConnectionRefusedError("PostgreSQL is down")
        self.taken.extend(feedback)


def envelope(*recipients: str, content: bytes = b"Subject: x\r\n\r\nbody\r\n") -> SimpleNamespace:
    return SimpleNamespace(rcpt_tos=list(recipients), mail_from="", original_content=content)


SESSION = SimpleNamespace(peer=("192.0.2.1", 25000))


async def test_only_verp_addresses_are_taken_and_only_so_many():
    handler = BounceMailHandler(RecordingIntake(), verp_secret=SECRET, max_recipients=2)
    mail = envelope()

    assert (await handler.handle_RCPT(None, SESSION, mail, "postmaster@r.example", []))[:3] == "550"
    assert (await handler.handle_RCPT(None, SESSION, mail, "bounces@r.example", []))[:3] == "550"
    assert (await handler.handle_RCPT(None, SESSION, mail, "Bounces+anything@r.example", []))[:3] == "250"
    assert (await handler.handle_RCPT(None, SESSION, mail, "bounces+other@r.example", []))[:3] == "250"
    assert (await handler.handle_RCPT(None, SESSION, mail, "bounces+third@r.example", []))[:3] == "452"


async def test_a_verified_token_names_the_message_and_a_forged_one_names_nothing():
    intake = RecordingIntake()
    handler = BounceMailHandler(intake, verp_secret=SECRET, max_recipients=5)
    message_id = uuid4()
    good = verp_address(message_id, "r.example", SECRET)
    forged = verp_address(uuid4(), "r.example", "another-secret-entirely")

    assert (await handler.handle_DATA(None, SESSION, envelope(good, forged)))[:3] == "250"

    verified, unverified = intake.taken
    assert (verified.message_id, verified.details["verp"]) == (message_id, "verified")
    assert (unverified.message_id, unverified.details["verp"]) == (None, "forged")
    assert unverified.classification.original_message_id is None
    assert verified.source == "smtp" and verified.raw == b"Subject: x\r\n\r\nbody\r\n"


async def test_a_mail_that_cannot_be_stored_is_answered_451():
    handler = BounceMailHandler(RecordingIntake(fail=True), verp_secret=SECRET, max_recipients=5)
    answer = await handler.handle_DATA(None, SESSION, envelope(verp_address(uuid4(), "r.example", SECRET)))
    assert answer.startswith("451")
