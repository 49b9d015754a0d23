"""The real bounce and feedback corpora (`<repo>/../shared/data/bounces{,-extra}/`, each with an
`expected.csv` read from the messages' own DSN/ARF fields) through `sendpool bounces classify`'s
code path: prints the share of messages whose class and recipients come out right, lists the
wrong ones, and asserts at least 95 % and that no auto-reply or non-bounce counts as a bounce.

Expected class per message, from expected.csv (see the corpus's SOURCES.md):
- feedback-report → complaint; `feedback-type: opt-out` → unsubscribe; `feedback-type:
  auth-failure` → not-bounce (our decision, `services/bounces/domain/parsing/arf.py`); no
  Feedback-Type stated (JMRP, a mail client's unsubscribe) → complaint or unsubscribe (both
  suppress at once, for good).
- dsn → hard when Status is 5.x.x, or Action failed with no Status; soft when Action is delayed;
  Status 4.x.x with Action failed is either (RFC 3464 says the MTA gave up, RFC 3463 that the
  cause was transient; we say soft).
- bounce-nonstandard → hard or soft. auto-reply → auto-reply. not-bounce → not-bounce.
Recipients: every expected recipient (case-insensitive) is among those found; none expected means
any will do.
"""

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from ops.cli import classify_file

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
CORPORA = ("bounces", "bounces-extra")
REQUIRED_SHARE = 0.95
BOUNCES = {"hard", "soft", "complaint"}
HARD, SOFT = "hard", "soft"


@dataclass(frozen=True)
class Outcome:
    file: str
    kind: str
    right: bool
    counted_as_bounce_wrongly: bool
    why: str


def expected_classes(rows: list[dict[str, str]]) -> set[str]:
    kind = rows[0]["kind"]
    if kind == "feedback-report":
        reason = rows[0]["reason"].lower()
        if "opt-out" in reason:
            return {"unsubscribe"}
        if "auth-failure" in reason:
            return {"not-bounce"}
        return {"complaint"} if reason else {"complaint", "unsubscribe"}
    if kind == "dsn":
        per_row = [_dsn_row_classes(row["status"], row["action"].lower()) for row in rows]
        return {HARD} if {HARD} in per_row else set().union(*per_row)
    if kind == "bounce-nonstandard":
        return {HARD, SOFT}
    return {kind}


def _dsn_row_classes(status: str, action: str) -> set[str]:
    if action == "delayed":
        return {SOFT}
    if status.startswith("5"):
        return {HARD}
    if status.startswith("4"):
        return {SOFT, HARD}
    return {HARD} if action == "failed" else {HARD, SOFT}


def judge(folder: Path, name: str, rows: list[dict[str, str]]) -> Outcome:
    line = classify_file(folder / name)
    kind = rows[0]["kind"]
    wanted = expected_classes(rows)
    expected_recipients = {row["recipient"].strip().lower() for row in rows if row["recipient"].strip()}
    reports = line["recipients"]
    assert isinstance(reports, list)
    found = {str(report["address"]).lower() for report in reports}
    missing = expected_recipients - found
    problems = []
    if line["class"] not in wanted:
        problems.append(f"class {line['class']} (rule {line['rule']}), expected {'/'.join(sorted(wanted))}")
    if missing:
        problems.append(f"recipients {sorted(found)}, missing {sorted(missing)}")
    wrongly_a_bounce = kind in ("auto-reply", "not-bounce") and line["class"] in BOUNCES
    return Outcome(name, kind, not problems, wrongly_a_bounce, "; ".join(problems))


def run_corpus(folder: Path) -> list[Outcome]:
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    with (folder / "expected.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows[row["file"]].append(row)
    return [judge(folder, name, file_rows) for name, file_rows in sorted(rows.items())]


@pytest.mark.parametrize("corpus", CORPORA)
def test_corpus_classification(corpus: str) -> None:
    folder = DATA / corpus
    if not (folder / "expected.csv").is_file():
        pytest.skip(f"corpus not found at {folder} (CI and developers have shared/ beside the clone)")
    outcomes = run_corpus(folder)
    right = sum(outcome.right for outcome in outcomes)
    share = right / len(outcomes)
    print(f"\n{corpus}: {right}/{len(outcomes)} right ({share:.1%})")
    for outcome in outcomes:
        if not outcome.right:
            print(f"  wrong: {outcome.file} ({outcome.kind}): {outcome.why}")
    assert not [outcome.file for outcome in outcomes if outcome.counted_as_bounce_wrongly]
    assert share >= REQUIRED_SHARE
