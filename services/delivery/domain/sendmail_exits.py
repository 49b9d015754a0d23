"""A local `sendmail` binary's exit status mapped to an outcome.

Sendmail-compatible programs (Postfix, Exim, sendmail, msmtp) exit with the codes of BSD
`sysexits.h`: 0 when the message was queued, EX_TEMPFAIL when it may work later, anything
else when it will not. The names are kept so that a failure reads as more than a number.
"""

from services.delivery.domain.outcomes import Deferred, Failed, SendOutcome, Sent

EX_OK = 0
EX_TEMPFAIL = 75

SYSEXITS = {
    64: "EX_USAGE: command line usage error",
    65: "EX_DATAERR: data format error",
    66: "EX_NOINPUT: cannot open input",
    67: "EX_NOUSER: addressee unknown",
    68: "EX_NOHOST: host name unknown",
    69: "EX_UNAVAILABLE: service unavailable",
    70: "EX_SOFTWARE: internal software error",
    71: "EX_OSERR: system error",
    72: "EX_OSFILE: critical OS file missing",
    73: "EX_CANTCREAT: cannot create output file",
    74: "EX_IOERR: input/output error",
    EX_TEMPFAIL: "EX_TEMPFAIL: temporary failure, try again later",
    76: "EX_PROTOCOL: remote error in protocol",
    77: "EX_NOPERM: permission denied",
    78: "EX_CONFIG: configuration error",
}


def outcome_of_exit(exit_code: int, stderr: str) -> SendOutcome:
    """What the exit of `sendmail` means; a process killed by a signal has a negative code."""
    if exit_code == EX_OK:
        return Sent(None, None, "queued by the local sendmail")
    meaning = SYSEXITS.get(exit_code) or (
        f"killed by signal {-exit_code}" if exit_code < 0 else "an exit status sysexits.h does not define"
    )
    said = stderr.strip() or "nothing on stderr"
    text = f"sendmail exited with {exit_code} ({meaning}): {said}"
    if exit_code == EX_TEMPFAIL:
        return Deferred(None, None, text)
    return Failed(None, None, text)
