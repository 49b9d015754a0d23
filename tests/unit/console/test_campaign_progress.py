"""A campaign's progress as the page shows it, and when it stops being polled."""

from services.console.domain.progress import available_actions, describe_seconds, progress_of


def test_counts_come_in_pipeline_order_with_done_and_per_server_shares():
    progress = progress_of(
        {
            "state": "running",
            "total": 100,
            "counts": {"sent": 60, "queued": 30, "failed": 5, "bounced": 2, "routed": 5, "held": 0},
            "per_server": {"s1": 6, "s2": 12, "s3": 42},
        },
        {"s1": "one", "s2": "two"},
    )
    assert progress.counts == [("queued", 30), ("routed", 5), ("sent", 60), ("failed", 5)]
    assert progress.after_sending == [("bounced", 2)]
    assert progress.done == 65
    assert progress.percent_done == 65.0
    assert [(s.name, s.sent, s.share) for s in progress.servers] == [
        ("s3", 42, 70.0),
        ("two", 12, 20.0),
        ("one", 6, 10.0),
    ]
    assert progress.polling and not progress.final


def test_a_final_campaign_is_not_polled_and_a_draft_neither():
    assert not progress_of({"state": "completed", "total": 1, "counts": {"sent": 1}}, {}).polling
    assert progress_of({"state": "completed"}, {}).final
    assert not progress_of({"state": "draft"}, {}).polling
    assert progress_of({"state": "stopped"}, {}).polling


def test_the_actions_follow_the_schedulers_states():
    assert available_actions("draft") == ["launch"]
    assert available_actions("running") == ["pause", "cancel"]
    assert available_actions("stopped") == ["resume", "cancel"]
    assert available_actions("completed") == []


def test_time_to_send_in_words():
    assert describe_seconds(None).startswith("not bounded")
    assert describe_seconds(-1) == "more than a year at the current caps"
    assert describe_seconds(30) == "about 30 s"
    assert describe_seconds(600) == "about 10 min"
    assert describe_seconds(7200) == "about 2.0 h"
