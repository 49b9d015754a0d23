"""A local sendmail's exit status, row by row: 0 sent, EX_TEMPFAIL deferred, anything else failed."""

import pytest

from services.delivery.domain.outcomes import Deferred, Failed, Sent
from services.delivery.domain.sendmail_exits import outcome_of_exit


def test_exit_0_means_queued():
    assert outcome_of_exit(0, "") == Sent(None, None, "queued by the local sendmail")


def test_ex_tempfail_defers_with_what_sendmail_said():
    outcome = outcome_of_exit(75, "sendmail: fatal: queue file write error\n")

    assert outcome == Deferred(
        None,
        None,
        "sendmail exited with 75 (EX_TEMPFAIL: temporary failure, try again later): "
        "sendmail: fatal: queue file write error",
    )


@pytest.mark.parametrize(
    ("exit_code", "meaning"),
    [
        (64, "EX_USAGE"),
        (67, "EX_NOUSER"),
        (69, "EX_UNAVAILABLE"),
        (78, "EX_CONFIG"),
        (1, "an exit status sysexits.h does not define"),
        (-9, "killed by signal 9"),
    ],
)
def test_any_other_exit_fails_naming_the_status_and_the_error_output(exit_code, meaning):
    outcome = outcome_of_exit(exit_code, "something broke")

    assert isinstance(outcome, Failed)
    assert meaning in outcome.reply_text
    assert outcome.reply_text.endswith(": something broke")


def test_a_silent_failure_says_so():
    assert outcome_of_exit(71, "  ").reply_text.endswith("nothing on stderr")
