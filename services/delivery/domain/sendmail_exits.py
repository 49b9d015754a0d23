"""A local `sendmail` binary's exit status mapped to an outcome.

Sendmail-compatible programs (Postfix, Exim, sendmail, msmtp) exit with the codes of BSD
`sysexits.h`: 0 when the message was queued, EX_TEMPFAIL when it may work later, anything
else when it will not. The names are kept so that a failure reads as more than a number.

Two refinements, for a relay-only program such as msmtp (the image's `/usr/sbin/sendmail`), which
hands the message to the operator's smarthost while we wait instead of queueing it:

- An exit that says the program or its relay cannot be used (no configuration file, the
  smarthost's name unknown, an I/O or OS error) is the sending host's trouble, not the message's:
  the message is deferred as a connection failure, so the server's circuit opens and no
  recipient's message fails for good because of the operator's configuration.
- msmtp reports the smarthost's refusal on stderr ("server message: 451 4.3.0 ...") but exits
  EX_UNAVAILABLE for a 4xx as for a 5xx: the reply's code decides then (4xx deferred, 5xx failed).
"""

import re

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

LOCAL_TROUBLE = frozenset({68, 71, 72, 73, 74, 77, 78})
"""EX_NOHOST (a relay-only program's smarthost), EX_OSERR, EX_OSFILE, EX_CANTCREAT, EX_IOERR (msmtp
without its configuration file), EX_NOPERM, EX_CONFIG: the program or its relay cannot be used."""

RELAYED_REPLY = re.compile(r"server message: ([45])(\d\d)[ -](?:([245]\.\d{1,3}\.\d{1,3}) )?")
"""msmtp's report of the smarthost's reply, e.g. `msmtp: server message: 550 5.1.1 no such user`."""


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
    if exit_code in LOCAL_TROUBLE:
        return Deferred(None, None, text, connection_failure=True)
    if relayed := RELAYED_REPLY.search(stderr):
        reply_code = int(relayed.group(1) + relayed.group(2))
        if relayed.group(1) == "4":
            return Deferred(reply_code, relayed.group(3), text)
        return Failed(reply_code, relayed.group(3), text)
    return Failed(None, None, text)
