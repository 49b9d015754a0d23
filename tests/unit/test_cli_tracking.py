"""`sendpool campaigns progress`, `events tail` filters and `messages timeline`, without a network."""

import json
from datetime import UTC, datetime
from uuid import uuid4

import httpx
import pytest
import typer
from typer.testing import CliRunner

from ops import cli_tracking
from ops.cli import app
from shared.events import Event, EventType

TENANT, CAMPAIGN = str(uuid4()), str(uuid4())
runner = CliRunner()


# --------------------------------------------------------------------------- routing keys of the filters


def test_no_filter_binds_the_whole_stream():
    assert cli_tracking.binding_keys(None, None, []) == ["#"]


def test_each_type_is_one_binding_under_the_tenant_and_campaign():
    assert cli_tracking.binding_keys(TENANT, CAMPAIGN, ["sent", "bounced", "sent"]) == [
        f"{TENANT}.{CAMPAIGN}.sent",
        f"{TENANT}.{CAMPAIGN}.bounced",
    ]


def test_an_absent_filter_is_a_one_word_wildcard():
    assert cli_tracking.binding_keys(TENANT, None, []) == [f"{TENANT}.*.*"]
    assert cli_tracking.binding_keys(None, CAMPAIGN, ["campaign_progress"]) == [
        f"*.{CAMPAIGN}.campaign_progress"
    ]
    assert cli_tracking.binding_keys(None, None, ["bounced"]) == ["*.*.bounced"]


@pytest.mark.parametrize("hostile", ["#", "*", f"{TENANT}.#", "a.b", "", "x" * 10_000])
def test_a_tenant_or_campaign_that_is_not_an_id_cannot_widen_the_binding(hostile):
    with pytest.raises(typer.BadParameter, match="not an id"):
        cli_tracking.binding_keys(hostile, None, [])
    with pytest.raises(typer.BadParameter, match="not an id"):
        cli_tracking.binding_keys(None, hostile, [])


@pytest.mark.parametrize("hostile", ["#", "sent.#", "*", "SENT", "nope"])
def test_a_type_must_be_one_of_the_streams_types(hostile):
    with pytest.raises(typer.BadParameter, match="not an event type"):
        cli_tracking.binding_keys(TENANT, CAMPAIGN, [hostile])


def test_the_command_refuses_a_wildcard_filter_before_connecting():
    result = runner.invoke(app, ["events", "tail", "--tenant", "#", "--amqp-url", "amqp://nowhere.invalid/"])
    assert result.exit_code == 2
    assert "not an id" in result.output


# --------------------------------------------------------------------------- printing events


def _event(**overrides) -> Event:
    fields = {
        "event_id": uuid4(),
        "type": EventType("sent"),
        "occurred_at": datetime(2026, 12, 6, 10, 0, 1, 250_000, tzinfo=UTC),
        "tenant_id": TENANT,
        "campaign_id": CAMPAIGN,
        "message_id": uuid4(),
        "recipient": "ann@example.com",
        "server_id": uuid4(),
        "attempt": 1,
        "details": {"reply_code": 250, "enhanced_code": "2.0.0", "reply_text": "OK queued"},
    }
    return Event.model_validate({**fields, **overrides})


def test_an_event_line_has_time_type_recipient_server_and_short_details():
    event = _event()
    line = cli_tracking.event_line(event)
    assert line.startswith("2026-12-06 10:00:01.250Z  sent")
    assert "ann@example.com" in line and str(event.server_id) in line
    assert line.endswith("250 2.0.0 OK queued")


def test_escape_sequences_from_a_servers_reply_never_reach_the_terminal():
    event = _event(
        recipient="evil\x1b]0;pwned\x07@example.com",
        details={"reply_code": 550, "reply_text": "no\x1b[2J\x1b[31mred\r\nForged: line"},
    )
    line = cli_tracking.event_line(event)
    assert "\x1b" not in line and "\x07" not in line and "\n" not in line and "\r" not in line
    assert "Forged: line" in line


def test_a_huge_reply_is_cut_short():
    line = cli_tracking.event_line(_event(details={"reply_text": "x" * 100_000}))
    assert len(line) < 300


def test_a_progress_event_shows_rate_and_eta():
    event = _event(
        type=EventType("campaign_progress"),
        message_id=None,
        recipient=None,
        server_id=None,
        details={"progress": {"total": 100, "counts": {"sent": 40}, "send_rate_per_minute": 12.5}},
    )
    assert "40 counted of 100, 12.5/min" in cli_tracking.event_line(event)


# --------------------------------------------------------------------------- campaigns progress


def _progress(state: str, sent: int) -> dict:
    return {
        "campaign_id": CAMPAIGN,
        "state": state,
        "total": 1000,
        "expanded": 1000,
        "counts": {"sent": sent, "routed": 1000 - sent},
        "per_server": {"server-a": sent},
        "send_rate_per_minute": 120.0,
        "estimated_completion_at": "2026-12-06T10:05:00+00:00",
    }


@pytest.fixture
def api(monkeypatch):
    """The API the commands talk to: a list of answers, served in turn; the requests, kept."""
    answers: list[httpx.Response] = []
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return answers.pop(0)

    def client(url: str, token: str | None) -> httpx.Client:
        return httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, transport=httpx.MockTransport(handle)
        )

    monkeypatch.setattr(cli_tracking, "_http_client", client)
    return answers, requests


def test_progress_shows_counts_servers_rate_and_eta(api):
    answers, requests = api
    answers.append(httpx.Response(200, json=_progress("running", 400)))
    result = runner.invoke(app, ["campaigns", "progress", CAMPAIGN, "--token", "t0k", "--url", "http://s"])
    assert result.exit_code == 0, result.output
    assert requests[0].url.path == f"/campaigns/{CAMPAIGN}/progress"
    assert requests[0].headers["Authorization"] == "Bearer t0k"
    assert "400 of 1,000 final (40.0 %)" in result.output
    assert "rate 120.0 messages/min" in result.output
    assert "2026-12-06 10:05:00 UTC" in result.output
    assert "server-a" in result.output and "routed" in result.output


def test_follow_refreshes_until_the_campaign_completes(api):
    answers, requests = api
    answers += [
        httpx.Response(200, json=_progress("running", 100)),
        httpx.Response(503, json={"detail": "database unreachable"}),
        httpx.Response(200, json=_progress("running", 700)),
        httpx.Response(200, json=_progress("completed", 1000)),
    ]
    result = runner.invoke(
        app,
        [
            "campaigns",
            "progress",
            CAMPAIGN,
            "--follow",
            "--interval",
            "0.2",
            "--token",
            "t",
            "--url",
            "http://s",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(requests) == 4 and not answers
    assert "1,000 of 1,000 final" in result.output


def test_another_tenants_campaign_is_an_error_naming_the_answer(api):
    answers, _ = api
    answers.append(httpx.Response(404, json={"detail": f"campaign {CAMPAIGN} not found"}))
    result = runner.invoke(app, ["campaigns", "progress", CAMPAIGN, "--token", "t", "--url", "http://s"])
    assert result.exit_code == 1
    assert "404" in result.output and "not found" in result.output


def test_a_campaign_id_must_be_an_id_so_no_other_path_is_asked(api):
    _, requests = api
    result = runner.invoke(app, ["campaigns", "progress", "../lists", "--token", "t", "--url", "http://s"])
    assert result.exit_code == 2 and not requests


# --------------------------------------------------------------------------- messages timeline


def test_a_recipients_timeline_reads_every_page(api):
    answers, requests = api
    first, second = _event(type=EventType("routed"), details={}), _event()
    answers += [
        httpx.Response(
            200, json={"campaign_id": CAMPAIGN, "events": [first.model_dump(mode="json")], "next": "c1"}
        ),
        httpx.Response(
            200, json={"campaign_id": CAMPAIGN, "events": [second.model_dump(mode="json")], "next": None}
        ),
    ]
    result = runner.invoke(
        app,
        [
            "messages",
            "timeline",
            "--campaign",
            CAMPAIGN,
            "--recipient",
            "Ann@Example.com",
            "--json",
            "--token",
            "t",
        ],
    )
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["type"] for line in result.stdout.splitlines()] == ["routed", "sent"]
    assert requests[0].url.params["recipient"] == "Ann@Example.com"
    assert requests[1].url.params["after"] == "c1"


def test_a_message_timeline_by_id(api):
    answers, requests = api
    event = _event()
    answers.append(
        httpx.Response(
            200, json={"message_id": str(event.message_id), "events": [event.model_dump(mode="json")]}
        )
    )
    result = runner.invoke(app, ["messages", "timeline", str(event.message_id), "--token", "t"])
    assert result.exit_code == 0, result.output
    assert requests[0].url.path == f"/messages/{event.message_id}/events"
    assert "sent" in result.stdout and "ann@example.com" in result.stdout


def test_timeline_needs_a_message_or_a_campaign_and_recipient(api):
    _, requests = api
    assert runner.invoke(app, ["messages", "timeline", "--campaign", CAMPAIGN, "--token", "t"]).exit_code == 2
    assert not requests
