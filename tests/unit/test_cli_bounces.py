"""`sendpool bounces classify FILE...`: one JSON line per file, exit 1 when a file could not be read."""

import json
from pathlib import Path

from typer.testing import CliRunner

from ops.cli import app

DSN = (
    "From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
    "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
    "Final-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
    "--B\r\nContent-Type: text/rfc822-headers\r\n\r\nTo: gone@example.com\r\n"
    "X-Sendpool-Message-Id: 6f1c2d3e-0000-4000-8000-000000000001\r\n\r\n--B--\r\n"
)
VACATION = (
    "From: reader@example.com\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nAway.\r\n"
)


def run(*args: str) -> tuple[int, list[dict[str, object]]]:
    result = CliRunner().invoke(app, ["bounces", "classify", *args])
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_one_json_line_per_file(tmp_path: Path) -> None:
    (tmp_path / "dsn.eml").write_text(DSN)
    (tmp_path / "vacation.eml").write_text(VACATION)
    code, lines = run(str(tmp_path / "dsn.eml"), str(tmp_path / "vacation.eml"))
    assert code == 0
    assert lines == [
        {
            "file": str(tmp_path / "dsn.eml"),
            "class": "hard",
            "rule": "dsn.status-5xx",
            "recipients": [
                {
                    "address": "gone@example.com",
                    "status": "5.1.1",
                    "action": "failed",
                    "diagnostic": "550 5.1.1 User unknown",
                }
            ],
            "feedback_type": "",
            "original_message_id": "6f1c2d3e-0000-4000-8000-000000000001",
        },
        {
            "file": str(tmp_path / "vacation.eml"),
            "class": "auto-reply",
            "rule": "autoreply.rfc3834",
            "recipients": [],
            "feedback_type": "",
            "original_message_id": None,
        },
    ]


def test_an_unreadable_file_is_unknown_with_an_error_and_the_exit_code_says_so(tmp_path: Path) -> None:
    (tmp_path / "dsn.eml").write_text(DSN)
    code, lines = run(str(tmp_path / "missing.eml"), str(tmp_path / "dsn.eml"), str(tmp_path))
    assert code == 1
    assert [(line["class"], "error" in line) for line in lines] == [
        ("unknown", True),
        ("hard", False),
        ("unknown", True),
    ]


def test_no_file_is_a_usage_error() -> None:
    assert CliRunner().invoke(app, ["bounces", "classify"]).exit_code == 2
