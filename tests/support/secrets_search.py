"""Looking for secrets where they must not be: in clear, and in the forms they take when encoded.

A secret copied into a message, a log line or a row is often encoded on the way: base64 (SMTP AUTH,
HTTP Basic, a JWT or a Fernet token's payload, a JSON `bytes` field) or URL-safe base64. Each form
is searched for as it would appear inside a longer encoded text, whatever the alignment.
"""

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

MIN_ENCODED = 8
"""Shorter fragments of an encoding would turn up by chance."""


def forms_of(secret: str) -> dict[str, str]:
    """The secret as searched for: in clear, and the part of its base64 (standard and URL-safe)
    that does not depend on the bytes around it, at each of the three alignments."""
    raw = secret.encode()
    forms = {"in clear": secret}
    encoders: dict[str, Callable[[bytes], bytes]] = {
        "base64": base64.b64encode,
        "url-safe base64": base64.urlsafe_b64encode,
    }
    for name, encode in encoders.items():
        for offset in range(3):
            encoded = encode(b"\0" * offset + raw).decode()
            # The first group holds bytes before the secret (unless aligned), the last one bytes after it.
            core = encoded[4 if offset else 0 : -4]
            if len(core) >= MIN_ENCODED:
                forms[f"{name} (offset {offset})"] = core
    return forms


@dataclass(frozen=True)
class Finding:
    secret: str
    """The secret's name, never its value."""
    form: str
    where: str

    def __str__(self) -> str:
        return f"{self.secret} ({self.form}) in {self.where}"


def search(secrets: Mapping[str, str], places: Iterable[tuple[str, str]]) -> list[Finding]:
    """Every (secret, form, place) where one of `secrets` (name → value) appears; `places` are
    (description, text) pairs."""
    forms = {name: forms_of(value) for name, value in secrets.items()}
    findings = []
    for where, text in places:
        for name, by_form in forms.items():
            for form, needle in by_form.items():
                if needle in text:
                    findings.append(Finding(name, form, where))
                    break
    return findings
