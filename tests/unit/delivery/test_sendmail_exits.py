"""A local sendmail's exit status, row by row: 0 sent, EX_TEMPFAIL deferred, the program or its relay
unusable deferred as a connection failure, a relayed reply by its code, anything else failed."""

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


# What msmtp 1.8.23 (Debian's msmtp-mta, the image's /usr/sbin/sendmail) said and exited with,
# run against a refusing port, an unknown host, no configuration file and a scripted smarthost.
@pytest.mark.parametrize(
    ("exit_code", "stderr"),
    [
        (74, "msmtp: /etc/msmtprc: No such file or directory"),
        (68, "msmtp: cannot locate host smtp-relay.sendpool.example: Name or service not known"),
        (78, "sendmail: fatal: bad configuration"),
    ],
)
def test_a_program_or_relay_that_cannot_be_used_defers_as_a_connection_failure(exit_code, stderr):
    outcome = outcome_of_exit(exit_code, stderr)

    assert isinstance(outcome, Deferred) and outcome.connection_failure, outcome
    assert outcome.reply_text.endswith(stderr)


def test_a_temporary_refusal_the_smarthost_relayed_defers_with_its_code():
    stderr = (
        "msmtp: recipient address a@example.com not accepted by the server\n"
        "msmtp: server message: 451 4.3.0 try later\n"
        "msmtp: could not send mail (account default from /etc/msmtprc)\n"
    )

    outcome = outcome_of_exit(69, stderr)

    assert isinstance(outcome, Deferred) and not outcome.connection_failure, outcome
    assert (outcome.reply_code, outcome.enhanced_code) == (451, "4.3.0")


def test_a_permanent_refusal_the_smarthost_relayed_fails_with_its_code():
    outcome = outcome_of_exit(65, "msmtp: server message: 550 5.1.1 no such user\n")

    assert isinstance(outcome, Failed)
    assert (outcome.reply_code, outcome.enhanced_code) == (550, "5.1.1")
