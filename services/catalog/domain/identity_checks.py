"""DNS checks of a server's sending identity: DKIM, the Return-Path's MX, SPF, DMARC and alignment.

Pure: `questions` says what to ask DNS, `evaluate` reads the answers (however they were obtained)
into one `IdentityCheck` per check and domain, each saying what was found and, when it failed, what
to publish. A lookup that could not be made (a timeout, SERVFAIL) is reported as "could not check",
never as a missing record: telling a domain owner to publish what is already there sends them
chasing a problem they do not have.

DKIM `d=` is the From domain itself: the delivery worker signs with `d=` the listed From domain a
message's From belongs to (`services/delivery/domain/identity.py: signing_domain`), so the key record
is looked up under each listed From domain. The envelope domain is the Return-Path domain, or each
From domain when the identity has none (the worker then puts the From domain in the Return-Path).

Organizational domains (DMARC's relaxed alignment and its policy fallback, RFC 7489 §3.2) come from
the Public Suffix List the `publicsuffixlist` package bundles, so no lookup leaves the machine for them.
"""

import base64
import binascii
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from cryptography.hazmat.primitives.serialization import load_der_public_key
from publicsuffixlist import PublicSuffixList

from services.catalog.domain.identity import dkim_record
from shared.contracts import IdentityCheck, IdentityCheckName, IdentityVerification, ServerIdentity

RecordType = Literal["TXT", "MX"]
AlignmentMode = Literal["r", "s"]

FOUND_MAX = 500
"""Characters of what DNS answered, shown as found: the domain's owner writes its DNS, and a server
with a hundred From domains carries 500 checks in every view and event of it (an RSA-2048 DKIM
record fits; a longer one is cut, and the detail says whether its key matched)."""

COULD_NOT_CHECK = "could not check"
"""How the detail of a check that got no answer from DNS begins."""

DMARC_STARTER = "v=DMARC1; p=none; adkim=r; aspf=r"
"""The record offered where there is none: it only asks for reports, so it blocks no mail while the
owner sees what fails, and its relaxed modes let a Return-Path subdomain align."""

SPF_PLACEHOLDER = "v=spf1 include:<your sending service's SPF domain> -all"


class LookupStatus(StrEnum):
    ANSWERED = "answered"
    NO_RECORDS = "no records"  # the name exists, without records of the type asked (NODATA)
    NO_DOMAIN = "no such domain"  # NXDOMAIN
    UNCHECKED = "unchecked"  # no usable answer: timeout, SERVFAIL, refused


@dataclass(frozen=True)
class DnsQuestion:
    name: str
    type: RecordType


@dataclass(frozen=True)
class MailExchange:
    preference: int
    host: str  # lower-case, without the trailing dot; "" for a null MX (RFC 7505)


@dataclass(frozen=True)
class DnsAnswer:
    status: LookupStatus
    texts: tuple[str, ...] = ()  # TXT: each record's strings joined, as RFC 7208 §3.3 and RFC 6376 read them
    exchanges: tuple[MailExchange, ...] = ()  # MX
    problem: str = ""  # why an UNCHECKED lookup gave no answer

    @classmethod
    def unchecked(cls, problem: str) -> "DnsAnswer":
        return cls(LookupStatus.UNCHECKED, problem=problem)


NOT_ASKED = DnsAnswer.unchecked("not looked up")


@dataclass(frozen=True)
class PublishedKey:
    """What the server signs with, as its DKIM record must say: the selector, `k=` and `p=`."""

    selector: str
    algorithm: Literal["rsa", "ed25519"]
    public_key: str  # base64, as `shared.dkim_keys.DkimKey.public_key`

    def record(self) -> str:
        return dkim_record(self.algorithm, self.public_key)


@dataclass(frozen=True)
class VerificationPolicy:
    """The operator's side of the checks."""

    bounce_mx_hosts: tuple[str, ...] = ()  # where Return-Path domains' MX must point; empty: not configured
    spf_include: str | None = None  # a domain every SPF record must include; None: any SPF record does


# ---------------------------------------------------------------------------------------- domains


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the bundled list, read once


def organizational_domain(domain: str) -> str:
    """The registered domain under its public suffix (mail.example.co.uk → example.co.uk); a public
    suffix itself is its own organizational domain."""
    name = _plain(domain)
    return _public_suffixes().privatesuffix(name) or name


def aligned(domain: str, from_domain: str, mode: AlignmentMode) -> bool:
    """RFC 7489 §3.1: strict is the same name, relaxed the same organizational domain."""
    if mode == "s":
        return _plain(domain) == _plain(from_domain)
    return organizational_domain(domain) == organizational_domain(from_domain)


def _plain(domain: str) -> str:
    return domain.lower().rstrip(".")


def envelope_domains(identity: ServerIdentity) -> list[str]:
    """The domains in the Return-Path: the Return-Path domain, or each From domain when none is set."""
    return [identity.return_path_domain] if identity.return_path_domain else list(identity.from_domains)


def dkim_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}"


def dmarc_name(domain: str) -> str:
    return f"_dmarc.{domain}"


def questions(identity: ServerIdentity) -> list[DnsQuestion]:
    """Every lookup `evaluate` reads, each once; the organizational domain's DMARC record is asked up
    front with the From domain's, so that the whole check is one round of lookups."""
    wanted: dict[DnsQuestion, None] = {}
    for domain in identity.from_domains:
        if identity.dkim_selector:
            wanted[DnsQuestion(dkim_name(identity.dkim_selector, domain), "TXT")] = None
        wanted[DnsQuestion(dmarc_name(domain), "TXT")] = None
        wanted[DnsQuestion(dmarc_name(organizational_domain(domain)), "TXT")] = None
    for domain in envelope_domains(identity):
        wanted[DnsQuestion(domain, "MX")] = None
        wanted[DnsQuestion(domain, "TXT")] = None
    return list(wanted)


# ---------------------------------------------------------------------------------------- records


def tag_list(record: str) -> dict[str, str] | None:
    """A `tag=value; ...` list (RFC 6376 §3.2, which DMARC shares), tag names as written; None when
    malformed (a part without `=`, an empty or repeated tag)."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        if not part.strip():
            continue
        name, equals, value = part.partition("=")
        name = name.strip()
        if not equals or not name or name in tags:
            return None
        tags[name] = value.strip()
    return tags


@dataclass(frozen=True)
class DkimRecord:
    algorithm: str
    public_key: str  # `p=` without its whitespace; "" for a revoked key


def parse_dkim_record(text: str) -> DkimRecord | str:
    """The key record, or what is wrong with it (completing "the record ...")."""
    tags = tag_list(text)
    if tags is None:
        return "is not a tag=value list"
    if "v" in tags and (next(iter(tags)) != "v" or tags["v"] != "DKIM1"):
        return "has a v= other than a leading v=DKIM1"
    if "p" not in tags:
        return "has no p= (the public key)"
    if "h" in tags and "sha256" not in {value.strip().lower() for value in tags["h"].split(":")}:
        return f"allows only h={tags['h']}, and the signatures use sha256"
    return DkimRecord(algorithm=tags.get("k", "rsa").strip().lower(), public_key="".join(tags["p"].split()))


def same_public_key(algorithm: str, published: str, expected: str) -> bool:
    """Whether `p=` is the key: byte for byte, or for RSA the same key in the other DER form
    (PKCS#1 RSAPublicKey rather than SubjectPublicKeyInfo; verifiers accept both)."""
    try:
        published_der = base64.b64decode(published, validate=True)
    except (binascii.Error, ValueError):
        return False
    expected_der = base64.b64decode(expected)
    if published_der == expected_der:
        return True
    if algorithm != "rsa":
        return False
    try:
        published_key, expected_key = load_der_public_key(published_der), load_der_public_key(expected_der)
    except (ValueError, TypeError):
        return False
    return published_key == expected_key


def spf_records(texts: Sequence[str]) -> list[str]:
    """The SPF records among a name's TXT records (RFC 7208 §4.5: those that begin `v=spf1`)."""
    return [text for text in texts if text.lower() == "v=spf1" or text.lower().startswith("v=spf1 ")]


def spf_includes(record: str, domain: str) -> bool:
    wanted = f"include:{_plain(domain)}"
    return any(term.lower().lstrip("+").rstrip(".") == wanted for term in record.split())


def spf_passes_everyone(record: str) -> bool:
    return any(term.lower() in ("all", "+all") for term in record.split())


@dataclass(frozen=True)
class DmarcRecord:
    text: str
    at: str  # the name it was found at
    policy: str  # p=, or sp= when the record is the organizational domain's and has one
    adkim: AlignmentMode
    aspf: AlignmentMode
    inherited: bool  # found at the organizational domain, for a From domain below it


def dmarc_records(texts: Sequence[str]) -> list[str]:
    """RFC 7489 §6.6.3: records that do not begin with `v=DMARC1` are discarded."""
    return [text for text in texts if re.match(r"v=DMARC1\s*(;|$)", text)]


def parse_dmarc_record(text: str, at: str, inherited: bool) -> DmarcRecord | str:
    """The policy record, or what is wrong with it (completing "the record ...")."""
    listed = tag_list(text)
    if listed is None:
        return "is not a tag=value list"
    tags = {name.lower(): value for name, value in listed.items()}
    policy = tags.get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        return "has no valid p= (none, quarantine or reject)"
    subdomain_policy = tags.get("sp", "").lower()
    if subdomain_policy and subdomain_policy not in ("none", "quarantine", "reject"):
        return f"has an invalid sp={tags['sp']}"
    modes = {}
    for tag in ("adkim", "aspf"):
        mode = tags.get(tag, "r").lower()
        if mode not in ("r", "s"):
            return f"has an invalid {tag}={tags[tag]} (r or s)"
        modes[tag] = mode
    return DmarcRecord(
        text=text,
        at=at,
        policy=(subdomain_policy or policy) if inherited else policy,
        adkim="s" if modes["adkim"] == "s" else "r",
        aspf="s" if modes["aspf"] == "s" else "r",
        inherited=inherited,
    )


# ---------------------------------------------------------------------------------------- checks


def evaluate(
    identity: ServerIdentity,
    key: PublishedKey | None,
    answers: Mapping[DnsQuestion, DnsAnswer],
    policy: VerificationPolicy,
    checked_at: datetime,
) -> IdentityVerification:
    """Every check of the identity from DNS's answers (a question without an answer counts as
    unchecked); verified when every check passed."""

    def answer(name: str, type_: RecordType) -> DnsAnswer:
        return answers.get(DnsQuestion(name, type_), NOT_ASKED)

    dkim = {domain: _dkim_check(domain, key, answer) for domain in identity.from_domains}
    envelopes = envelope_domains(identity)
    mx = [_mx_check(domain, identity, answer(domain, "MX"), policy) for domain in envelopes]
    spf = {domain: _spf_check(domain, answer(domain, "TXT"), policy) for domain in envelopes}
    dmarc = {domain: _discover_dmarc(domain, answer) for domain in identity.from_domains}
    checks = [
        *dkim.values(),
        *mx,
        *spf.values(),
        *(_dmarc_check(domain, found) for domain, found in dmarc.items()),
        *(
            _alignment_check(
                domain, identity, dmarc[domain], dkim[domain], spf[identity.return_path_domain or domain]
            )
            for domain in identity.from_domains
        ),
    ]
    return IdentityVerification(
        verified=all(check.ok for check in checks), checked_at=checked_at, checks=checks
    )


def _some(names: Sequence[str], shown: int) -> str:
    """A few of `names`, and how many more: DNS may list many, and the check is read, not parsed."""
    listed = ", ".join(names[:shown])
    return listed + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _cut(text: str) -> str:
    return text if len(text) <= FOUND_MAX else text[: FOUND_MAX - 1] + "…"


def _nothing_found(name: str, type_: RecordType, found: DnsAnswer) -> str:
    """`found` for an answer without records."""
    if found.status is LookupStatus.NO_DOMAIN:
        return f"{name} does not exist (NXDOMAIN)"
    if found.status is LookupStatus.UNCHECKED:
        return f"{COULD_NOT_CHECK}: the {type_} lookup of {name} failed: {found.problem}"
    return f"no {type_} record at {name}"


def _could_not_check(found: DnsAnswer) -> bool:
    return found.status is LookupStatus.UNCHECKED


def could_not_check(check: IdentityCheck) -> bool:
    """Whether the check failed for want of an answer rather than for what DNS said."""
    return not check.ok and check.detail.startswith(COULD_NOT_CHECK)


def _failed(
    name: IdentityCheckName, domain: str, found: str | None, publish: str | None, detail: str
) -> IdentityCheck:
    return IdentityCheck(
        name=name,
        domain=domain,
        ok=False,
        found=_cut(found) if found else None,
        publish=publish,
        detail=detail,
    )


def _passed(name: IdentityCheckName, domain: str, found: str, detail: str) -> IdentityCheck:
    return IdentityCheck(name=name, domain=domain, ok=True, found=_cut(found), detail=detail)


def _no_record(
    name: IdentityCheckName, domain: str, asked: str, found: DnsAnswer, publish: str, what: str, missing: str
) -> IdentityCheck:
    """The check of a TXT record DNS gave none of: missing, or not known to be (a failed lookup)."""
    detail = (
        f"{COULD_NOT_CHECK} the {what} record; verify again later" if _could_not_check(found) else missing
    )
    return _failed(name, domain, _nothing_found(asked, "TXT", found), publish, detail)


def _dkim_check(
    domain: str, key: PublishedKey | None, answer: Callable[[str, RecordType], DnsAnswer]
) -> IdentityCheck:
    name = IdentityCheckName.DKIM
    if key is None:
        return _failed(
            name,
            domain,
            None,
            None,
            "the identity has no DKIM key, so messages go unsigned: give it dkim_selector and "
            "dkim_private_key, then publish the record they show",
        )
    record_name = dkim_name(key.selector, domain)
    publish = f'{record_name} TXT "{key.record()}"'
    found = answer(record_name, "TXT")
    if not found.texts:
        return _no_record(
            name, domain, record_name, found, publish, "DKIM", "the DKIM record is not published"
        )
    if len(found.texts) > 1:
        return _failed(
            name,
            domain,
            " | ".join(found.texts),
            publish,
            f"{record_name} has {len(found.texts)} TXT records; verifiers may read any of them: keep one",
        )
    text = found.texts[0]
    record = parse_dkim_record(text)
    if isinstance(record, str):
        return _failed(name, domain, text, publish, f"the record at {record_name} {record}")
    if not record.public_key:
        return _failed(name, domain, text, publish, "the record has an empty p=: the key is revoked")
    if record.algorithm != key.algorithm:
        return _failed(
            name, domain, text, publish, f"the record says k={record.algorithm}, the key is {key.algorithm}"
        )
    if not same_public_key(key.algorithm, record.public_key, key.public_key):
        return _failed(
            name,
            domain,
            text,
            publish,
            "the record's p= is not the public half of the server's key: signatures will fail",
        )
    return _passed(name, domain, text, f"{record_name} publishes the server's {key.algorithm} key")


def _mx_check(
    domain: str, identity: ServerIdentity, found: DnsAnswer, policy: VerificationPolicy
) -> IdentityCheck:
    name = IdentityCheckName.RETURN_PATH_MX
    hosts = [_plain(exchange.host) for exchange in sorted(found.exchanges, key=lambda mx: mx.preference)]
    shown = (
        ", ".join(
            f"{mx.preference} {mx.host or '.'}"
            for mx in sorted(found.exchanges, key=lambda mx: mx.preference)
        )
        if found.exchanges
        else _nothing_found(domain, "MX", found)
    )
    advice = (
        ""
        if identity.return_path_domain
        else "; the identity has no return_path_domain, so bounces go to the From domain itself: a "
        f"subdomain such as bounces.{domain} as return_path_domain keeps them apart from its own mail"
    )
    if not policy.bounce_mx_hosts:
        return _failed(
            name,
            domain,
            shown,
            None,
            "not checked: the operator has not set SENDPOOL_CATALOG_BOUNCE_MX_HOSTS, the host names of "
            "the bounce endpoint",
        )
    bounce_hosts = {_plain(host) for host in policy.bounce_mx_hosts}
    publish = "; ".join(
        f"{domain} MX {10 * n} {host}" for n, host in enumerate(policy.bounce_mx_hosts, start=1)
    )
    if _could_not_check(found) and not found.exchanges:
        return _failed(name, domain, shown, publish, f"{COULD_NOT_CHECK} the MX records; verify again later")
    if not hosts:
        return _failed(
            name, domain, shown, publish, "no MX record points bounces at the bounce endpoint" + advice
        )
    if "" in hosts:
        return _failed(
            name, domain, shown, publish, "a null MX says the domain takes no mail, bounces included"
        )
    elsewhere = [host for host in hosts if host not in bounce_hosts]
    if elsewhere:
        return _failed(
            name,
            domain,
            shown,
            publish,
            f"bounces sent to {_some(elsewhere, shown=1)} never reach the bounce endpoint: every MX host must be "
            f"one of {', '.join(sorted(bounce_hosts))}" + advice,
        )
    return _passed(name, domain, shown, "bounces reach the bounce endpoint")


def _spf_check(domain: str, found: DnsAnswer, policy: VerificationPolicy) -> IdentityCheck:
    name = IdentityCheckName.SPF
    wanted = f"v=spf1 include:{policy.spf_include} -all" if policy.spf_include else SPF_PLACEHOLDER
    publish = f'{domain} TXT "{wanted}"'
    records = spf_records(found.texts)
    if not records:
        if found.texts:
            return _failed(
                name,
                domain,
                "no v=spf1 record among its TXT records",
                publish,
                "the envelope domain has no SPF record",
            )
        return _no_record(
            name, domain, domain, found, publish, "SPF", "the envelope domain has no SPF record"
        )
    if len(records) > 1:
        return _failed(
            name,
            domain,
            " | ".join(records),
            f"{domain} TXT: one record that merges them",
            f"{len(records)} SPF records: receivers treat that as a permanent error (RFC 7208 §4.5), "
            "so SPF fails for every message",
        )
    record = records[0]
    if spf_passes_everyone(record):
        return _failed(
            name, domain, record, publish, "the record's +all authorises every host on the internet"
        )
    if policy.spf_include and not spf_includes(record, policy.spf_include):
        terms = record.split()
        merged = " ".join([terms[0], f"include:{policy.spf_include}", *terms[1:]])
        # A record too long to show whole is not offered back cut: publishing that would break it.
        offered = (
            f'{domain} TXT "{merged}"'
            if len(merged) <= FOUND_MAX
            else f"{domain} TXT: the record with include:{policy.spf_include} after v=spf1"
        )
        return _failed(
            name,
            domain,
            record,
            offered,
            f"the record does not include:{policy.spf_include}, so the platform's hosts are not authorised",
        )
    return _passed(name, domain, record, "one SPF record")


@dataclass(frozen=True)
class _DmarcDiscovery:
    record: DmarcRecord | None
    problem: str  # why there is none ("" when found)
    found: str | None  # what DNS answered, for the check
    unchecked: bool = False
    broken_at: str | None = None  # the name whose records are wrong (several, or invalid), to replace there


def _discover_dmarc(domain: str, answer: Callable[[str, RecordType], DnsAnswer]) -> _DmarcDiscovery:
    """RFC 7489 §6.6.3: the From domain's record, else (if none) its organizational domain's."""
    names = [dmarc_name(domain)]
    organizational = organizational_domain(domain)
    if organizational != _plain(domain):
        names.append(dmarc_name(organizational))
    seen: list[str] = []
    for position, name in enumerate(names):
        found = answer(name, "TXT")
        if _could_not_check(found):
            return _DmarcDiscovery(
                None,
                f"{COULD_NOT_CHECK} the DMARC record; verify again later",
                _nothing_found(name, "TXT", found),
                unchecked=True,
            )
        records = dmarc_records(found.texts)
        if not records:
            seen.append(
                _nothing_found(name, "TXT", found) if not found.texts else f"no v=DMARC1 record at {name}"
            )
            continue
        if len(records) > 1:
            return _DmarcDiscovery(
                None,
                f"{name} has {len(records)} DMARC records: receivers then apply no policy at all",
                " | ".join(records),
                broken_at=name,
            )
        record = parse_dmarc_record(records[0], at=name, inherited=position > 0)
        if isinstance(record, str):
            return _DmarcDiscovery(None, f"the record at {name} {record}", records[0], broken_at=name)
        return _DmarcDiscovery(record, "", f"{records[0]} (at {name})")
    return _DmarcDiscovery(
        None, "no DMARC record for the domain or its organizational domain", "; ".join(seen)
    )


def _dmarc_check(domain: str, discovery: _DmarcDiscovery) -> IdentityCheck:
    name = IdentityCheckName.DMARC
    # Published at the organizational domain, one record covers its subdomains too (RFC 7489 §6.6.3).
    at = discovery.broken_at or dmarc_name(organizational_domain(domain))
    publish = f'{at} TXT "{DMARC_STARTER}"' + (" (instead of what is there)" if discovery.broken_at else "")
    record = discovery.record
    if record is None:
        return _failed(
            name, domain, discovery.found, None if discovery.unchecked else publish, discovery.problem
        )
    where = f"the organizational domain's record at {record.at}" if record.inherited else record.at
    enforcement = (
        "receivers only report failures (p=none)"
        if record.policy == "none"
        else f"receivers {record.policy} failures"
    )
    return _passed(name, domain, discovery.found or record.text, f"{where} applies: {enforcement}")


def _alignment_check(
    domain: str,
    identity: ServerIdentity,
    dmarc: _DmarcDiscovery,
    dkim: IdentityCheck,
    spf: IdentityCheck,
) -> IdentityCheck:
    """DMARC passes when SPF or DKIM passes for a domain aligned with From (RFC 7489 §3.1, §4.2).
    DNS shows whether each can pass as far as records go (SPF's sending addresses are the vendor's).
    DKIM's `d=` is the From domain itself, so a signature aligns under either mode; SPF's domain is
    the Return-Path domain, which relaxed alignment lets be a subdomain of From's organization."""
    name = IdentityCheckName.ALIGNMENT
    record = dmarc.record
    # Without a readable record the modes are unknown: judge strictly, which relaxed would also pass.
    aspf: AlignmentMode = record.aspf if record else ("s" if dmarc.unchecked else "r")
    adkim: AlignmentMode = record.adkim if record else ("s" if dmarc.unchecked else "r")
    envelope = identity.return_path_domain or domain
    signs = identity.dkim_selector is not None
    spf_aligned = aligned(envelope, domain, aspf)
    if record:
        modes = f"adkim={adkim} aspf={aspf} from {record.at}"
    elif dmarc.unchecked:
        modes = f"adkim={adkim} aspf={aspf} (assumed: the DMARC record could not be read)"
    else:
        modes = f"adkim={adkim} aspf={aspf} (DMARC's defaults)"
    # The check's domain is the From domain: named once there, not again in every text.
    found = (
        f"Return-Path {envelope} (SPF {'aligned' if spf_aligned else 'not aligned'}); "
        f"DKIM d={'the From domain (aligned)' if signs else 'none'}; {modes}"
    )
    passing = [
        mechanism for mechanism, ok in (("SPF", spf_aligned and spf.ok), ("DKIM", signs and dkim.ok)) if ok
    ]
    if passing:
        detail = f"DMARC can pass through {' and '.join(passing)}"
        if adkim == "s" and "DKIM" in passing:
            detail += "; under adkim=s, From addresses at subdomains of the From domain do not align"
        return _passed(name, domain, found, detail)
    reasons = [
        f"the Return-Path domain is not aligned (aspf={aspf})"
        if not spf_aligned
        else "SPF for the Return-Path domain does not pass its check",
        "the DKIM record does not pass its check" if signs else "messages are not signed with DKIM",
    ]
    suggested_return_path = domain if aspf == "s" else f"bounces.{domain}"
    publish = (
        f"identity.return_path_domain {suggested_return_path} (with its MX and SPF records), "
        "or a DKIM key for the From domain with its record"
    )
    could_not = dmarc.unchecked or could_not_check(dkim) or could_not_check(spf)
    detail = (f"{COULD_NOT_CHECK} all of it: " if could_not else "") + "DMARC fails: " + "; ".join(reasons)
    return _failed(name, domain, found, publish, detail)
