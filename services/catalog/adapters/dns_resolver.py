"""The DNS lookups of identity verification, through aiodns (c-ares), as the direct-to-MX sender makes its own.

All of one verification's lookups go out at once and share one deadline, so that a verification
takes about one lookup's time whatever the number of domains, and a slow or silent name server
holds a request for `timeout_seconds` at most. What answered in time is kept; what did not is
UNCHECKED ("timed out"), as are SERVFAIL and refusals: only NXDOMAIN and an empty answer say a
record is missing.
"""

import asyncio
import contextlib
from collections.abc import Sequence

import aiodns
import pycares
from aiodns.error import DNSError

from services.catalog.domain.identity_checks import DnsAnswer, DnsQuestion, LookupStatus, MailExchange

RECORD_TYPES = {"TXT": pycares.QUERY_TYPE_TXT, "MX": pycares.QUERY_TYPE_MX}
LOOKUPS_AT_ONCE = (
    64  # a verification of a hundred domains asks some 300 questions; the name server gets them in waves
)

# c-ares's codes for "the name exists but has no such record" and "the name does not exist".
_NO_RECORDS = {aiodns.error.ARES_ENODATA}
_NO_DOMAIN = {aiodns.error.ARES_ENOTFOUND}
_TIMED_OUT = {aiodns.error.ARES_ETIMEOUT}


class AiodnsLookup:
    def __init__(self, nameservers: Sequence[str], timeout_seconds: float) -> None:
        self._nameservers = list(nameservers)
        self._timeout = timeout_seconds

    async def answers(self, questions: Sequence[DnsQuestion]) -> dict[DnsQuestion, DnsAnswer]:
        # A resolver per verification: aiodns binds to the running loop, and verifications are rare.
        # c-ares retries within the deadline; the deadline itself is ours.
        resolver = aiodns.DNSResolver(
            nameservers=self._nameservers or None, timeout=self._timeout / 2, tries=2
        )
        found: dict[DnsQuestion, DnsAnswer] = {}
        wave = asyncio.Semaphore(LOOKUPS_AT_ONCE)

        async def ask(question: DnsQuestion) -> None:
            async with wave:
                try:
                    found[question] = await _lookup(resolver, question)
                except Exception as exc:  # one odd name must not lose the other answers
                    found[question] = DnsAnswer.unchecked(f"the lookup failed: {exc!r}")

        try:
            async with asyncio.timeout(self._timeout):
                async with asyncio.TaskGroup() as tasks:
                    for question in questions:
                        tasks.create_task(ask(question))
        except TimeoutError:
            pass  # the questions not answered yet are reported below
        finally:
            with contextlib.suppress(Exception):
                await resolver.close()
        late = DnsAnswer.unchecked(f"no answer within {self._timeout:g} s (timed out)")
        return {question: found.get(question, late) for question in questions}


async def _lookup(resolver: aiodns.DNSResolver, question: DnsQuestion) -> DnsAnswer:
    try:
        result = await resolver.query_dns(question.name, question.type)
    except DNSError as exc:
        code = exc.args[0] if exc.args else None
        if code in _NO_RECORDS:
            return DnsAnswer(LookupStatus.NO_RECORDS)
        if code in _NO_DOMAIN:
            return DnsAnswer(LookupStatus.NO_DOMAIN)
        if code in _TIMED_OUT:
            return DnsAnswer.unchecked("timed out")
        reason = exc.args[1] if len(exc.args) > 1 else repr(exc)
        return DnsAnswer.unchecked(str(reason))
    # An answer may carry the CNAME records that led to the ones asked for (delegated DKIM keys do).
    data = [record.data for record in result.answer if record.type == RECORD_TYPES[question.type]]
    exchanges = tuple(
        MailExchange(item.priority, str(item.exchange).lower().rstrip("."))
        for item in data
        if isinstance(item, pycares.MXRecordData)
    )
    texts = tuple(_text(item.data) for item in data if isinstance(item, pycares.TXTRecordData))
    if not exchanges and not texts:
        return DnsAnswer(LookupStatus.NO_RECORDS)
    return DnsAnswer(LookupStatus.ANSWERED, texts=texts, exchanges=exchanges)


def _text(data: bytes | str) -> str:
    """A TXT record's strings, joined (c-ares joins them), as text; bytes that are not UTF-8 are
    shown escaped rather than refused: they are the domain owner's to fix, and the check says so."""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="backslashreplace")
