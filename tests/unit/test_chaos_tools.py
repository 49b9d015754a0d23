"""The pure parts of `make chaos`: fault decisions, the sinks' records, and the verdict and its JSON line."""

import json
import random

from tools.chaos import DEAD_REASON_HEADER, Verdict, dead_letter_reason, judge, summary_line, targets_met
from tools.fault_sinks import (
    FaultRates,
    Outcome,
    SinkKind,
    SinkRecords,
    SinksConfig,
    SinkSpec,
    choose_outcome,
    message_id_of,
    read_records,
    recipient_of,
)

RATES = FaultRates(temporary=0.02, permanent=0.01, dropped=0.005)


def test_each_fault_takes_its_own_slice_of_the_draws():
    assert choose_outcome(0.0, RATES) is Outcome.REFUSED_TEMPORARY
    assert choose_outcome(0.0199, RATES) is Outcome.REFUSED_TEMPORARY
    assert choose_outcome(0.02, RATES) is Outcome.REFUSED_PERMANENT
    assert choose_outcome(0.0299, RATES) is Outcome.REFUSED_PERMANENT
    assert choose_outcome(0.03, RATES) is Outcome.DROPPED
    assert choose_outcome(0.035, RATES) is Outcome.ACCEPTED
    assert choose_outcome(0.999, RATES) is Outcome.ACCEPTED


def test_fault_shares_come_out_near_their_rates():
    draws = random.Random(7)
    outcomes = [choose_outcome(draws.random(), RATES) for _ in range(200_000)]
    share = {outcome: outcomes.count(outcome) / len(outcomes) for outcome in Outcome}
    assert abs(share[Outcome.REFUSED_TEMPORARY] - 0.02) < 0.002
    assert abs(share[Outcome.REFUSED_PERMANENT] - 0.01) < 0.0015
    assert abs(share[Outcome.DROPPED] - 0.005) < 0.001


def test_no_faults_when_every_rate_is_zero():
    assert {choose_outcome(d / 100, FaultRates(0, 0, 0)) for d in range(100)} == {Outcome.ACCEPTED}


def test_the_sink_reads_the_recipient_and_the_sendpool_message_id():
    assert recipient_of(b"TO:<User1@Example.com> NOTIFY=NEVER") == "user1@example.com"
    assert recipient_of(b"TO:plain@example.com") == "plain@example.com"
    content = b"From: a@b\r\nX-Sendpool-Message-Id: 1234-abcd\r\n\r\nX-Sendpool-Message-Id: in-body\r\n"
    assert message_id_of(content) == "1234-abcd"
    assert message_id_of(b"Subject: probe\r\n\r\nbody\r\n") == ""


def test_records_count_acceptances_per_recipient_and_keep_permanent_refusals(tmp_path):
    first, second = tmp_path / "a.records", tmp_path / "b.records"
    first.write_text("accepted\tx@e.com\tm1\nrefused_permanent\ty@e.com\tm2\ndropped\tz@e.com\tm3\n")
    second.write_text(
        "accepted\tx@e.com\tm1\naccepted\tz@e.com\tm3\nrefused_temporary\tw@e.com\tm4\naccepted\tcut"
    )
    records = read_records([first, second, tmp_path / "never-written.records"])
    assert records.accepted == {"x@e.com": 2, "z@e.com": 1}
    assert records.accepted_message_ids == {"m1": 2, "m3": 1}
    assert records.refused_permanent == {"y@e.com"}
    assert records.duplicates() == {"x@e.com"}
    assert records.accepted_per_sink == {0: 1, 1: 2}
    assert records.outcomes["dropped"] == 1
    assert records.outcomes["refused_temporary"] == 1


def test_the_sinks_config_survives_its_trip_to_the_child_process():
    config = SinksConfig([SinkSpec(SinkKind.FAULTY, 2525, "/tmp/x")], seed=3, rates=RATES)
    assert SinksConfig.from_json(config.to_json()) == config


def _records(accepted: dict[str, int], refused_permanent: set[str] = frozenset()) -> SinkRecords:
    records = SinkRecords()
    for recipient, times in accepted.items():
        records.accepted[recipient] = times
    records.refused_permanent |= set(refused_permanent)
    return records


def test_a_recipient_never_received_is_lost_unless_its_permanent_refusal_failed_it():
    addresses = ["a@e.com", "b@e.com", "c@e.com", "d@e.com", "e@e.com"]
    records = _records({"a@e.com": 1}, refused_permanent={"b@e.com", "e@e.com"})
    states = {
        "a@e.com": "sent",
        "b@e.com": "failed",
        "c@e.com": "unknown",
        "d@e.com": "failed",
        "e@e.com": "sent",
    }
    verdict = judge(addresses, records, states, [])
    assert verdict.received_once == 1
    assert verdict.failed_legitimately == 1  # b: refused with 550 and failed
    # c: unknown and never arrived; d: failed though nobody refused it; e: refused, yet reported sent.
    assert verdict.lost == 3
    assert verdict.lost_by_state == {"unknown": 1, "failed": 1, "sent": 1}


def test_duplicates_are_flagged_only_when_reported_unknown():
    addresses = ["a@e.com", "b@e.com", "c@e.com"]
    records = _records({"a@e.com": 2, "b@e.com": 3, "c@e.com": 1})
    verdict = judge(addresses, records, {"a@e.com": "unknown", "b@e.com": "sent", "c@e.com": "sent"}, [])
    assert verdict.duplicates == 2
    assert verdict.duplicates_flagged_unknown == 1
    assert verdict.duplicates_by_state == {"unknown": 1, "sent": 1}


def test_dead_letters_count_against_the_run_unless_malformed():
    reasons = [
        dead_letter_reason({DEAD_REASON_HEADER: b"malformed message: 1 validation error"}),
        dead_letter_reason({DEAD_REASON_HEADER: "failed 10 times, last error: DataError()"}),
        dead_letter_reason({"x-death": [{"reason": "delivery_limit", "queue": "router.send-requested"}]}),
        dead_letter_reason({}),
    ]
    verdict = judge(["a@e.com"], _records({"a@e.com": 1}), {"a@e.com": "sent"}, reasons)
    assert verdict.dead_letters == 4
    assert verdict.dead_letters_not_malformed == 3
    assert "rabbitmq x-death: delivery_limit from router.send-requested" in verdict.dead_letter_reasons


def _clean_verdict(recipients: int = 10_000, **changes: object) -> Verdict:
    fields: dict[str, object] = {
        "recipients": recipients,
        "received_once": recipients,
        "lost": 0,
        "lost_by_state": {},
        "duplicates": 0,
        "duplicates_flagged_unknown": 0,
        "duplicates_by_state": {},
        "failed_legitimately": 0,
        "states": {"sent": recipients},
        "dead_letters": 0,
        "dead_letters_not_malformed": 0,
        "dead_letter_reasons": {},
    }
    return Verdict(**(fields | changes))  # type: ignore[arg-type]


def test_targets():
    assert targets_met(_clean_verdict(), "completed", 12.0, 300)
    assert not targets_met(_clean_verdict(lost=1), "completed", 12.0, 300)
    assert targets_met(_clean_verdict(duplicates=10, duplicates_flagged_unknown=10), "completed", 12.0, 300)
    assert not targets_met(
        _clean_verdict(duplicates=11, duplicates_flagged_unknown=11), "completed", 12.0, 300
    )
    assert not targets_met(_clean_verdict(duplicates=2, duplicates_flagged_unknown=1), "completed", 12.0, 300)
    assert targets_met(_clean_verdict(dead_letters=3), "completed", 12.0, 300)  # malformed only
    assert not targets_met(_clean_verdict(dead_letters_not_malformed=1), "completed", 12.0, 300)
    assert not targets_met(_clean_verdict(), "running", None, 300)
    assert not targets_met(_clean_verdict(), "completed", 301.0, 300)


def test_the_summary_is_one_json_line_with_the_agreed_keys_first():
    record = summary_line(
        "faults",
        _clean_verdict(100),
        campaign_state="completed",
        seconds_to_final=4.26,
        final_within=300,
        faults={"delivery_kills": 3},
        elapsed_seconds=61.04,
        settings={"SENDPOOL_DELIVERY_RETRY_BASE_SECONDS": "1"},
        extra={"logs": "var/x"},
    )
    line = json.dumps(record)
    assert "\n" not in line
    agreed = [
        "scenario", "recipients", "received_once", "lost", "duplicates", "duplicates_flagged_unknown",
        "dead_letters", "dead_letters_not_malformed", "campaign_state", "seconds_from_last_fault_to_final",
        "faults", "elapsed_seconds", "targets_met", "settings",
    ]  # fmt: skip
    assert list(record)[: len(agreed)] == agreed
    assert record["seconds_from_last_fault_to_final"] == 4.3
    assert record["targets_met"] is True
    assert record["logs"] == "var/x"
