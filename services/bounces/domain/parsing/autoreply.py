"""Auto-replies (RFC 3834, vacation and out-of-office answers): never bounces.

The signs, strongest first: `Auto-Submitted: auto-replied` (RFC 3834), the `X-Autoreply` family
that vacation programs add, `Precedence: auto_reply`, and a subject in the form auto-responders use.
Bounces often carry `Auto-Submitted: auto-replied` too (Exim, Postfix, Gmail set it on theirs), so
the classifier asks this module only after the DSN and feedback readers found nothing, and a mail
with the marks of a mailer-daemon bounce (`nonstandard.BounceSigns.strong`) is not taken for one.
"""

import re

from services.bounces.domain.parsing.mime import Mail

_AUTO_REPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-auto-reply", "x-vacation")
_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?[ _-]?(?:reply|response|answer)|auto:|autoreply|autoresponse"
    r"|out of (?:the )?office|ooo\b|away from (?:the |my )?office|on vacation|vacation (?:reply|notice|message)"
    r"|abwesenheit|automatische antwort|r[ée]ponse automatique|absence|respuesta autom[áa]tica"
    r"|fuera de la oficina|risposta automatica|fuori sede|automatisch antwoord|afwezig|resposta autom[áa]tica"
    r"|自動返信|自动回复|不在)",
    re.IGNORECASE,
)
_SUBJECT_ANYWHERE = re.compile(
    r"out of (?:the )?office|on vacation|\bvacation\b|auto(?:matic)?[ -]?reply", re.I
)


_BODY = re.compile(
    r"\b(?:I am|I'm|I will be) (?:currently )?(?:out of (?:the )?office|away|on (?:vacation|holiday|leave|annual leave))"
    r"|out of (?:the )?office (?:until|from|and|with)|(?:limited|no) access to (?:my )?e-?mail"
    r"|will (?:respond|reply|get back to you) (?:to your (?:e-?mail|message) )?(?:when|upon|on) (?:I|my) return"
    r"|je suis absent|ich bin (?:bis|vom|ab|derzeit|zurzeit|momentan)? ?.{0,40}?(?:abwesend|nicht im b[üu]ro|im urlaub)"
    r"|estar[ée] fuera de la oficina|sono fuori (?:sede|ufficio)|不在にしております|休暇",
    re.IGNORECASE,
)


def auto_reply_rule(mail: Mail) -> str | None:
    """The rule that marks the mail as an auto-reply, None when nothing does."""
    if mail.headers.get("auto-submitted").strip().lower().startswith("auto-replied"):
        return "autoreply.rfc3834"
    if any(name in mail.headers for name in _AUTO_REPLY_HEADERS):
        return "autoreply.x-autoreply"
    if mail.headers.get("precedence").strip().lower() in ("auto_reply", "auto-reply"):
        return "autoreply.precedence"
    if mail.headers.get("x-precedence").strip().lower() in ("auto_reply", "auto-reply"):
        return "autoreply.precedence"
    subject = mail.headers.get("subject")
    if _SUBJECT.search(subject) or _SUBJECT_ANYWHERE.search(subject):
        return "autoreply.subject"
    return None


def auto_reply_text_rule(mail: Mail) -> str | None:
    """An out-of-office answer with no mark but its words. Asked only of mail that is no bounce."""
    text = "\n".join(mail.readable_texts())[:4096]
    return "autoreply.body" if _BODY.search(text) else None
