"""The DNS checks of a server's identity, from answers given by hand: every branch of each parser and
check, alignment relaxed and strict, DMARC's organizational fallback, and the enable rule built on them."""

import base64
from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from cryptography.hazmat.primitives import serialization

from services.catalog.domain.identity import Identity
from services.catalog.domain.identity_checks import (
    FOUND_MAX,
    DnsAnswer,
    DnsQuestion,
    LookupStatus,
    MailExchange,
    PublishedKey,
    VerificationPolicy,
    aligned,
    could_not_check,
    dmarc_records,
    evaluate,
    organizational_domain,
    parse_dkim_record,
    parse_dmarc_record,
    questions,
    same_public_key,
    spf_records,
    tag_list,
)
from services.catalog.domain.servers import (
    Edit,
    ProbeOutcome,
    edit,
    enable,
    new_server,
    record_test,
    record_verification,
    verification_refusal,
)
from shared.contracts import (
    CatalogEvent,
    CatalogEventKind,
    IdentityCheck,
    IdentityVerification,
    SendingLimits,
    ServerIdentity,
    ServerState,
)
from shared.dkim_keys import parse_dkim_key
from shared.errors import Conflict
from shared.limits import CATALOG_EVENT_MAX_BYTES, FROM_DOMAINS_MAX
from tests.unit.catalog.dkim_keys import ed25519_key, pem, rsa_key
from tests.unit.test_bounds_limits import largest_server_view

NOW = datetime(2026, 6, 1, tzinfo=UTC)
BOUNCE_HOST = "bounces.sendpool.example"
POLICY = VerificationPolicy(bounce_mx_hosts=(BOUNCE_HOST,))


def rsa_published() -> PublishedKey:
    key = parse_dkim_key(pem(rsa_key()))
    return PublishedKey(selector="s1", algorithm="rsa", public_key=key.public_key)


def ed25519_published() -> PublishedKey:
    key = parse_dkim_key(pem(ed25519_key()))
    return PublishedKey(selector="s1", algorithm="ed25519", public_key=key.public_key)


def identity(
    *from_domains: str, return_path: str | None = "bounces.example.com", selector: str | None = "s1"
):
    return ServerIdentity(
        from_domains=list(from_domains or ["example.com"]),
        dkim_selector=selector,
        return_path_domain=return_path,
    )


def txt(*texts: str) -> DnsAnswer:
    return DnsAnswer(LookupStatus.ANSWERED, texts=texts)


def mx(*hosts: str) -> DnsAnswer:
    return DnsAnswer(
        LookupStatus.ANSWERED, exchanges=tuple(MailExchange(10 * n, host) for n, host in enumerate(hosts, 1))
    )


NODATA = DnsAnswer(LookupStatus.NO_RECORDS)
NXDOMAIN = DnsAnswer(LookupStatus.NO_DOMAIN)
TIMEOUT = DnsAnswer.unchecked("timed out")


def good_answers(key: PublishedKey, domain: str = "example.com", envelope: str = "bounces.example.com"):
    """DNS as it should be for `domain` signing with `key` and bouncing to `envelope`."""
    return {
        DnsQuestion(f"{key.selector}._domainkey.{domain}", "TXT"): txt(key.record()),
        DnsQuestion(f"_dmarc.{domain}", "TXT"): txt("v=DMARC1; p=quarantine; rua=mailto:d@example.com"),
        DnsQuestion(envelope, "MX"): mx(BOUNCE_HOST),
        DnsQuestion(envelope, "TXT"): txt(
            "v=spf1 include:_spf.sendpool.example -all", "google-site-verification=x"
        ),
    }


def run(ident: ServerIdentity, answers: dict, key: PublishedKey | None = None, policy=POLICY):
    return evaluate(ident, key, answers, policy, NOW)


def check(verification: IdentityVerification, name: str, domain: str = "example.com") -> IdentityCheck:
    (found,) = [c for c in verification.checks if c.name.value == name and c.domain == domain]
    return found


# ------------------------------------------------------------------------------ what to ask


def test_questions_cover_every_record_once_with_the_organizational_dmarc_up_front():
    asked = questions(identity("example.com", "mail.example.com"))
    assert asked == [
        DnsQuestion("s1._domainkey.example.com", "TXT"),
        DnsQuestion("_dmarc.example.com", "TXT"),
        DnsQuestion("s1._domainkey.mail.example.com", "TXT"),
        DnsQuestion("_dmarc.mail.example.com", "TXT"),
        DnsQuestion("bounces.example.com", "MX"),
        DnsQuestion("bounces.example.com", "TXT"),
    ]


def test_without_a_return_path_domain_each_from_domain_is_its_own_envelope_and_without_a_selector_no_dkim():
    asked = set(questions(identity("a.example.org", return_path=None, selector=None)))
    assert asked == {
        DnsQuestion("_dmarc.a.example.org", "TXT"),
        DnsQuestion("_dmarc.example.org", "TXT"),
        DnsQuestion("a.example.org", "MX"),
        DnsQuestion("a.example.org", "TXT"),
    }


# ------------------------------------------------------------------------------ domains


@pytest.mark.parametrize(
    ("domain", "organizational"),
    [
        ("example.com", "example.com"),
        ("a.b.example.com", "example.com"),
        ("mail.example.co.uk", "example.co.uk"),
        ("project.github.io", "project.github.io"),  # the list's private section: github.io is a suffix
        ("co.uk", "co.uk"),  # a public suffix is its own
        ("Mail.Example.COM.", "example.com"),
    ],
)
def test_organizational_domains_come_from_the_bundled_public_suffix_list(domain, organizational):
    assert organizational_domain(domain) == organizational


@pytest.mark.parametrize(
    ("domain", "from_domain", "mode", "expected"),
    [
        ("bounces.example.com", "example.com", "r", True),
        ("bounces.example.com", "example.com", "s", False),
        ("example.com", "example.com", "s", True),
        ("EXAMPLE.com.", "example.com", "s", True),
        ("a.example.co.uk", "b.example.co.uk", "r", True),
        ("example.co.uk", "other.co.uk", "r", False),  # siblings under a public suffix are not one org
        ("one.github.io", "two.github.io", "r", False),
        ("example.net", "example.com", "r", False),
    ],
)
def test_alignment_is_the_same_name_strictly_and_the_same_organization_relaxed(
    domain, from_domain, mode, expected
):
    assert aligned(domain, from_domain, mode) is expected


# ------------------------------------------------------------------------------ parsers


def test_tag_lists_refuse_parts_without_equals_and_repeated_tags():
    assert tag_list("v=DKIM1; k=rsa; p=abc;") == {"v": "DKIM1", "k": "rsa", "p": "abc"}
    assert tag_list("v=DKIM1; garbage") is None
    assert tag_list("p=a; p=b") is None
    assert tag_list("=x") is None


def test_a_dkim_record_reads_its_key_type_defaulting_to_rsa_and_drops_whitespace_in_p():
    record = parse_dkim_record("p=MIIB IjAN\tBgkq")
    assert not isinstance(record, str)
    assert (record.algorithm, record.public_key) == ("rsa", "MIIBIjANBgkq")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("k=rsa; v=DKIM1; p=abc", "leading v=DKIM1"),
        ("v=DKIM2; p=abc", "leading v=DKIM1"),
        ("v=DKIM1; k=rsa", "no p="),
        ("v=DKIM1; h=sha1; p=abc", "h=sha1"),
        ("not a record", "tag=value"),
    ],
)
def test_malformed_dkim_records_say_what_is_wrong(text, problem):
    outcome = parse_dkim_record(text)
    assert isinstance(outcome, str) and problem in outcome


def test_an_rsa_key_published_in_pkcs1_form_is_the_same_key():
    key = rsa_key().public_key()
    spki = base64.b64encode(
        key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    pkcs1 = base64.b64encode(
        key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    ).decode()
    assert same_public_key("rsa", pkcs1, spki)
    assert not same_public_key("rsa", "not base64!", spki)
    assert not same_public_key(
        "ed25519", base64.b64encode(b"x" * 32).decode(), base64.b64encode(b"y" * 32).decode()
    )


def test_dmarc_records_are_the_txt_records_that_begin_with_the_v_dmarc1_tag():
    assert dmarc_records(
        ["v=DMARC1; p=none", "v=DMARC1", "v=DMARC10; p=none", "p=none; v=DMARC1", "v=dmarc1; p=none"]
    ) == [
        "v=DMARC1; p=none",
        "v=DMARC1",
    ]


def test_spf_records_are_the_txt_records_that_begin_v_spf1():
    assert spf_records(["v=spf1 -all", "V=SPF1 mx ~all", "v=spf10 -all", "spf1", "v=spf1"]) == [
        "v=spf1 -all",
        "V=SPF1 mx ~all",
        "v=spf1",
    ]


def test_a_dmarc_record_inherited_from_the_organizational_domain_applies_its_sp():
    record = parse_dmarc_record(
        "v=DMARC1; p=reject; sp=none; adkim=s", at="_dmarc.example.com", inherited=True
    )
    assert not isinstance(record, str)
    assert (record.policy, record.adkim, record.aspf) == ("none", "s", "r")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("v=DMARC1; rua=mailto:x@example.com", "p="),
        ("v=DMARC1; p=block", "p="),
        ("v=DMARC1; p=none; sp=maybe", "sp=maybe"),
        ("v=DMARC1; p=none; aspf=x", "aspf=x"),
        ("v=DMARC1; p=none; junk", "tag=value"),
    ],
)
def test_invalid_dmarc_records_say_what_is_wrong(text, problem):
    outcome = parse_dmarc_record(text, at="_dmarc.example.com", inherited=False)
    assert isinstance(outcome, str) and problem in outcome


# ------------------------------------------------------------------------------ the whole verification


def test_an_identity_whose_records_are_all_right_is_verified():
    key = rsa_published()
    verification = run(identity(), good_answers(key), key)
    assert verification.verified, [c for c in verification.checks if not c.ok]
    assert [c.name.value for c in verification.checks] == [
        "dkim",
        "return_path_mx",
        "spf",
        "dmarc",
        "alignment",
    ]
    assert all(c.publish is None for c in verification.checks)
    assert verification.checked_at == NOW
    assert (
        check(verification, "spf", "bounces.example.com").found == "v=spf1 include:_spf.sendpool.example -all"
    )


def test_an_ed25519_key_is_checked_as_ed25519():
    key = ed25519_published()
    assert run(identity(), good_answers(key), key).verified
    answers = good_answers(key) | {
        DnsQuestion("s1._domainkey.example.com", "TXT"): txt(f"v=DKIM1; p={key.public_key}")
    }
    dkim = check(run(identity(), answers, key), "dkim")
    assert not dkim.ok and "k=rsa" in dkim.detail  # k= defaults to rsa, and the key is not


# ------------------------------------------------------------------------------ dkim


def dkim_with(answer: DnsAnswer, key: PublishedKey | None = None) -> IdentityCheck:
    key = key or rsa_published()
    return check(
        run(identity(), good_answers(key) | {DnsQuestion("s1._domainkey.example.com", "TXT"): answer}, key),
        "dkim",
    )


def test_a_dkim_record_of_another_key_fails_with_the_record_to_publish():
    key = rsa_published()
    other = parse_dkim_key(pem(rsa_key(1024))).public_key
    failed = dkim_with(txt(f"v=DKIM1; k=rsa; p={other}"), key)
    assert not failed.ok
    assert "not the public half" in failed.detail
    assert failed.publish == f's1._domainkey.example.com TXT "{key.record()}"'
    assert other[:50] in failed.found


@pytest.mark.parametrize(
    ("answer", "found_says", "detail_says"),
    [
        (NODATA, "no TXT record at s1._domainkey.example.com", "not published"),
        (NXDOMAIN, "does not exist (NXDOMAIN)", "not published"),
        (TIMEOUT, "could not check", "could not check"),
        (txt("v=DKIM1; k=rsa; p="), "p=", "revoked"),
        (txt("v=DKIM1; p=a", "v=DKIM1; p=b"), " | ", "2 TXT records"),
        (txt("v=DKIM1; h=sha1; p=abc"), "h=sha1", "h=sha1"),
    ],
)
def test_every_way_a_dkim_record_can_be_wrong_is_told_with_what_to_publish(answer, found_says, detail_says):
    failed = dkim_with(answer)
    assert not failed.ok
    assert found_says in failed.found
    assert detail_says in failed.detail
    assert failed.publish.startswith('s1._domainkey.example.com TXT "v=DKIM1; k=rsa; p=')


def test_a_timeout_is_could_not_check_never_missing():
    failed = dkim_with(TIMEOUT)
    assert could_not_check(failed)
    assert "not published" not in failed.detail
    assert not could_not_check(dkim_with(NODATA))


def test_a_dkim_key_split_into_several_strings_and_published_in_pkcs1_form_passes():
    key = rsa_published()
    der = base64.b64decode(key.public_key)
    pkcs1 = base64.b64encode(
        serialization.load_der_public_key(der).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
    ).decode()
    assert dkim_with(txt(f"v=DKIM1; k=rsa; p={pkcs1[:100]} {pkcs1[100:]}"), key).ok


def test_an_identity_without_a_key_fails_dkim_but_may_still_align_through_spf():
    verification = run(identity(selector=None), good_answers(rsa_published()), None)
    dkim = check(verification, "dkim")
    assert not dkim.ok and "no DKIM key" in dkim.detail and dkim.publish is None
    alignment = check(verification, "alignment")
    assert alignment.ok and "SPF" in alignment.detail and "d=none" in alignment.found


# ------------------------------------------------------------------------------ return_path_mx


def mx_with(answer: DnsAnswer, policy=POLICY, ident=None) -> IdentityCheck:
    key = rsa_published()
    ident = ident or identity()
    envelope = ident.return_path_domain or ident.from_domains[0]
    answers = good_answers(key, envelope=envelope) | {DnsQuestion(envelope, "MX"): answer}
    return check(run(ident, answers, key, policy), "return_path_mx", envelope)


def test_mx_hosts_compare_without_case_or_trailing_dot():
    assert mx_with(mx("Bounces.SendPool.example")).ok
    assert mx_with(
        mx("bounces.sendpool.example."), VerificationPolicy(bounce_mx_hosts=("BOUNCES.sendpool.example.",))
    ).ok


@pytest.mark.parametrize(
    ("answer", "detail_says"),
    [
        (mx(BOUNCE_HOST, "mx.elsewhere.example"), "mx.elsewhere.example never reach"),
        (mx("mx.elsewhere.example"), "never reach"),
        (DnsAnswer(LookupStatus.ANSWERED, exchanges=(MailExchange(0, ""),)), "null MX"),
        (NODATA, "no MX record"),
        (NXDOMAIN, "no MX record"),
        (TIMEOUT, "could not check"),
    ],
)
def test_an_mx_that_does_not_reach_only_the_bounce_endpoint_fails_with_the_record_to_publish(
    answer, detail_says
):
    failed = mx_with(answer)
    assert not failed.ok
    assert detail_says in failed.detail
    assert failed.publish == f"bounces.example.com MX 10 {BOUNCE_HOST}"


def test_without_bounce_hosts_configured_the_mx_check_fails_naming_the_setting():
    failed = mx_with(mx(BOUNCE_HOST), VerificationPolicy())
    assert not failed.ok and "SENDPOOL_CATALOG_BOUNCE_MX_HOSTS" in failed.detail
    assert failed.publish is None and BOUNCE_HOST in failed.found


def test_without_a_return_path_domain_the_from_domain_mx_is_checked_and_a_subdomain_advised():
    failed = mx_with(mx("aspmx.l.google.com"), ident=identity(return_path=None))
    assert failed.domain == "example.com"
    assert "bounces.example.com as return_path_domain" in failed.detail


# ------------------------------------------------------------------------------ spf


def spf_with(answer: DnsAnswer, policy=POLICY) -> IdentityCheck:
    key = rsa_published()
    answers = good_answers(key) | {DnsQuestion("bounces.example.com", "TXT"): answer}
    return check(run(identity(), answers, key, policy), "spf", "bounces.example.com")


def test_two_spf_records_are_a_permanent_error():
    failed = spf_with(txt("v=spf1 mx -all", "v=spf1 include:_spf.example.net ~all"))
    assert not failed.ok and "RFC 7208" in failed.detail and "merges" in failed.publish
    assert failed.found == "v=spf1 mx -all | v=spf1 include:_spf.example.net ~all"


@pytest.mark.parametrize(
    ("answer", "detail_says"),
    [
        (NODATA, "no SPF record"),
        (txt("google-site-verification=abc"), "no SPF record"),
        (NXDOMAIN, "no SPF record"),
        (TIMEOUT, "could not check"),
        (txt("v=spf1 +all"), "every host"),
        (txt("v=spf1 all"), "every host"),
    ],
)
def test_missing_or_permissive_spf_fails(answer, detail_says):
    failed = spf_with(answer)
    assert not failed.ok and detail_says in failed.detail
    assert failed.publish.startswith('bounces.example.com TXT "v=spf1 ')


def test_a_required_include_is_checked_and_the_record_with_it_offered():
    policy = VerificationPolicy(bounce_mx_hosts=(BOUNCE_HOST,), spf_include="_spf.sendpool.example")
    assert spf_with(txt("v=spf1 +include:_spf.sendpool.example -all"), policy).ok
    failed = spf_with(txt("v=spf1 mx -all"), policy)
    assert not failed.ok
    assert failed.publish == 'bounces.example.com TXT "v=spf1 include:_spf.sendpool.example mx -all"'
    assert (
        spf_with(NODATA, policy).publish
        == 'bounces.example.com TXT "v=spf1 include:_spf.sendpool.example -all"'
    )


# ------------------------------------------------------------------------------ dmarc


def dmarc_world(domain: str, own: DnsAnswer, organizational: DnsAnswer | None = None, key=None):
    key = key or rsa_published()
    answers = good_answers(key, domain=domain) | {DnsQuestion(f"_dmarc.{domain}", "TXT"): own}
    if organizational is not None:
        answers[DnsQuestion(f"_dmarc.{organizational_domain(domain)}", "TXT")] = organizational
    return run(identity(domain), answers, key)


def test_a_subdomain_without_its_own_record_falls_back_to_the_organizational_domain():
    verification = dmarc_world("mail.example.com", NXDOMAIN, txt("v=DMARC1; p=reject; sp=quarantine"))
    dmarc = check(verification, "dmarc", "mail.example.com")
    assert dmarc.ok
    assert "organizational domain" in dmarc.detail and "quarantine" in dmarc.detail
    assert "(at _dmarc.example.com)" in dmarc.found


def test_no_dmarc_anywhere_fails_with_a_record_for_the_organizational_domain():
    dmarc = check(dmarc_world("mail.example.com", NXDOMAIN, NODATA), "dmarc", "mail.example.com")
    assert not dmarc.ok and "no DMARC record" in dmarc.detail
    assert dmarc.publish == '_dmarc.example.com TXT "v=DMARC1; p=none; adkim=r; aspf=r"'


def test_non_dmarc_txt_records_are_ignored_and_two_dmarc_records_mean_no_policy():
    ignored = check(dmarc_world("example.com", txt("hello", "v=DMARC1; p=none")), "dmarc")
    assert ignored.ok and "p=none" in ignored.detail
    two = check(dmarc_world("example.com", txt("v=DMARC1; p=none", "v=DMARC1; p=reject")), "dmarc")
    assert not two.ok and "2 DMARC records" in two.detail
    assert (
        two.publish == '_dmarc.example.com TXT "v=DMARC1; p=none; adkim=r; aspf=r" (instead of what is there)'
    )


def test_a_record_that_does_not_start_with_v_dmarc1_is_not_a_dmarc_record():
    dmarc = check(dmarc_world("example.com", txt("p=reject; v=DMARC1")), "dmarc")
    assert not dmarc.ok and "no DMARC record" in dmarc.detail


def test_an_invalid_dmarc_record_fails_with_its_problem():
    dmarc = check(dmarc_world("example.com", txt("v=DMARC1; p=sometimes")), "dmarc")
    assert not dmarc.ok and "p=" in dmarc.detail and dmarc.publish


def test_a_dmarc_lookup_timeout_is_could_not_check_even_where_the_fallback_answered():
    dmarc = check(
        dmarc_world("mail.example.com", TIMEOUT, txt("v=DMARC1; p=none")), "dmarc", "mail.example.com"
    )
    assert not dmarc.ok and could_not_check(dmarc) and dmarc.publish is None


# ------------------------------------------------------------------------------ alignment


def alignment_of(ident: ServerIdentity, dmarc: str | None, *, dkim_ok: bool = True) -> IdentityCheck:
    key = rsa_published()
    envelope = ident.return_path_domain or ident.from_domains[0]
    answers = good_answers(key, envelope=envelope)
    answers[DnsQuestion("_dmarc.example.com", "TXT")] = txt(dmarc) if dmarc else NXDOMAIN
    if not dkim_ok:
        answers[DnsQuestion("s1._domainkey.example.com", "TXT")] = NODATA
    return check(run(ident, answers, key if ident.dkim_selector else None), "alignment")


def test_a_return_path_subdomain_aligns_relaxed_but_not_strict():
    relaxed = alignment_of(identity(selector=None), "v=DMARC1; p=reject")
    assert relaxed.ok and "SPF" in relaxed.detail and "adkim=r aspf=r" in relaxed.found
    strict = alignment_of(identity(selector=None), "v=DMARC1; p=reject; aspf=s")
    assert not strict.ok
    assert "not aligned" in strict.detail and "aspf=s" in strict.detail
    assert "identity.return_path_domain example.com" in strict.publish


def test_strict_spf_misalignment_is_saved_by_an_aligned_dkim_signature():
    passed = alignment_of(identity(), "v=DMARC1; p=reject; aspf=s; adkim=s")
    assert passed.ok and passed.detail.startswith("DMARC can pass through DKIM")
    assert "subdomains of the From domain do not align" in passed.detail


def test_a_return_path_of_another_organization_needs_a_working_dkim_signature():
    ident = identity(return_path="bounces.mailer.example.net")
    assert alignment_of(ident, None).ok  # DKIM aligns
    failed = alignment_of(ident, None, dkim_ok=False)
    assert not failed.ok
    assert "not aligned" in failed.detail and "the DKIM record does not pass" in failed.detail
    assert "DMARC's defaults" in failed.found


def test_without_a_return_path_domain_spf_aligns_with_the_from_domain_itself():
    passed = alignment_of(identity(return_path=None, selector=None), "v=DMARC1; p=none; aspf=s")
    assert passed.ok and "Return-Path example.com" in passed.found


def test_alignment_under_an_unreadable_dmarc_record_is_judged_strictly_and_says_it_could_not_check():
    key = rsa_published()
    answers = good_answers(key) | {DnsQuestion("_dmarc.example.com", "TXT"): TIMEOUT}
    unsigned = check(run(identity(selector=None), answers, None), "alignment")
    assert not unsigned.ok and could_not_check(unsigned)
    signed = check(run(identity(), answers, key), "alignment")
    assert signed.ok  # DKIM d= is the From domain: aligned under either mode


# ------------------------------------------------------------------------------ bounds


def test_a_hostile_long_record_is_cut_and_the_largest_identity_fits_the_contract():
    key = rsa_published()
    failed = dkim_with(txt("v=DKIM1; p=" + "A" * 20_000), key)
    assert len(failed.found) == FOUND_MAX and failed.found.endswith("…")
    domains = [f"d{n}.example.com" for n in range(FROM_DOMAINS_MAX)]
    verification = run(identity(*domains, return_path=None), {}, key)
    assert len(verification.checks) == 5 * FROM_DOMAINS_MAX
    assert all(could_not_check(c) for c in verification.checks if c.name.value in ("dkim", "spf"))
    IdentityVerification.model_validate(verification.model_dump())


# ------------------------------------------------------------------------------ the enable rule


def server_tested_as(ident: ServerIdentity | None):
    server = new_server(
        tenant_id=uuid4(),
        name="s",
        type="smtp",
        vendor="smtp",
        settings={},
        sealed_secrets="sealed",
        limits=SendingLimits(),
        identity=Identity(public=ident) if ident else None,
        now=NOW,
    )
    return record_test(server, ProbeOutcome(ok=True, message="ok", tested_at=NOW), NOW)


def test_enable_requires_a_passing_verification_naming_the_failing_checks_and_what_to_publish():
    key = rsa_published()
    server = server_tested_as(identity())
    with pytest.raises(Conflict, match="never checked"):
        enable(server, NOW, verified_identity_required=True)
    failing = run(identity(), good_answers(key) | {DnsQuestion("bounces.example.com", "MX"): NODATA}, key)
    unverified = record_verification(server, failing, NOW)
    with pytest.raises(Conflict) as refused:
        enable(unverified, NOW, verified_identity_required=True)
    assert "return_path_mx for bounces.example.com" in str(refused.value)
    assert f"publish: bounces.example.com MX 10 {BOUNCE_HOST}" in str(refused.value)
    assert enable(unverified, NOW).state is ServerState.ACTIVE  # not required: not refused
    verified = record_verification(server, run(identity(), good_answers(key), key), NOW)
    assert enable(verified, NOW, verified_identity_required=True).state is ServerState.ACTIVE


def test_a_server_without_an_identity_is_not_held_back_by_the_requirement():
    server = server_tested_as(None)
    assert verification_refusal(server) is None
    assert enable(server, NOW, verified_identity_required=True).state is ServerState.ACTIVE


def test_the_refusal_lists_a_few_failing_checks_and_counts_the_rest():
    domains = [f"d{n}.example.com" for n in range(10)]
    server = record_verification(
        server_tested_as(identity(*domains)), run(identity(*domains), {}, rsa_published()), NOW
    )
    refusal = verification_refusal(server)
    assert refusal.count("; ") >= 5 and "more (GET /servers/" in refusal


def test_a_new_identity_clears_the_last_verification():
    key = rsa_published()
    server = record_verification(server_tested_as(identity()), run(identity(), good_answers(key), key), NOW)
    assert server.view().identity_verification.verified
    changed = edit(server, NOW, Edit(identity=(Identity(public=identity("example.org")), None)))
    assert changed.identity_verification is None and changed.view().identity_verification is None
    renamed = edit(server, NOW, Edit(name="renamed"))
    assert renamed.identity_verification == server.identity_verification
    assert replace(server, identity_verification=None).view().identity_verification is None


def test_the_largest_verification_hostile_dns_can_cause_keeps_the_servers_event_far_below_the_relays_cap():
    """A tenant writes its domains' DNS: every record as long as DNS allows, a hundred MX hosts, and the
    longest domain names, still make a server event the outbox relay publishes."""
    domains = [f"{'a' * 63}.{'b' * 63}.{'c' * 63}.{n:0>50}.com" for n in range(FROM_DOMAINS_MAX)]
    hosts = tuple(MailExchange(n, f"{'m' * 63}.{'x' * 63}.{'y' * 63}.{n:0>55}.net") for n in range(100))
    key = rsa_published()
    answers = {}
    for question in questions(identity(*domains, return_path=None)):
        if question.type == "MX":
            answers[question] = DnsAnswer(LookupStatus.ANSWERED, exchanges=hosts)
        else:
            long_text = "x" * 60_000
            answers[question] = txt(
                f"v=DKIM1; p={long_text}",
                f"v=spf1 {long_text}",
                f"v=spf1 a {long_text}",
                f"v=DMARC1; p=none; {long_text}",
            )
    verification = run(identity(*domains, return_path=None), answers, key)
    event = CatalogEvent(
        event_id=1,
        kind=CatalogEventKind.SERVER_CHANGED,
        server=largest_server_view().model_copy(update={"identity_verification": verification}),
    )
    size = len(event.model_dump_json().encode())
    assert size < CATALOG_EVENT_MAX_BYTES / 4, size


def test_a_record_too_long_to_show_is_not_offered_back_cut():
    policy = VerificationPolicy(bounce_mx_hosts=(BOUNCE_HOST,), spf_include="_spf.sendpool.example")
    failed = spf_with(txt("v=spf1 " + " ".join(f"ip4:10.0.{n}.0/24" for n in range(100)) + " -all"), policy)
    assert not failed.ok and "include:_spf.sendpool.example after v=spf1" in failed.publish
    assert len(failed.found) == FOUND_MAX
