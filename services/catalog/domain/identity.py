"""A server's sending identity: the domains it may send From, its DKIM key, its Return-Path domain.

The DKIM private key is a secret like a password: validated here, then encrypted at rest and
given to nobody but the delivery worker that signs with it. What may be shown of it is the
public half, as the TXT record the domain owner publishes.
"""

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from services.catalog.domain.names import DkimSelector, DomainName
from shared.contracts import ServerIdentity
from shared.dkim_keys import parse_dkim_key
from shared.errors import FieldError, InvalidInput
from shared.limits import FROM_DOMAINS_MAX, PEM_MAX


class IdentityForm(BaseModel):
    """A server's identity as a caller gives it; the key is write-only."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    from_domains: list[DomainName] = Field(
        min_length=1,
        max_length=FROM_DOMAINS_MAX,
        description="Domains the server may send From (at least one).",
    )
    dkim_selector: DkimSelector | None = Field(
        None, description="Selector of the DKIM key: the record is `<selector>._domainkey.<domain>`."
    )
    dkim_private_key: SecretStr | None = Field(
        None,
        max_length=PEM_MAX,
        description="PEM private key, RSA (at least 1024 bits) or Ed25519, unencrypted. Write-only; "
        "give it together with dkim_selector.",
    )
    return_path_domain: DomainName | None = Field(
        None, description="Domain of the envelope sender (Return-Path), where bounces go."
    )

    @field_validator("from_domains")
    @classmethod
    def _each_once(cls, domains: list[str] | None) -> list[str] | None:
        if domains is None:  # a partial change leaves them as they are
            return domains
        repeated = sorted({domain for domain in domains if domains.count(domain) > 1})
        if repeated:
            raise ValueError(f"lists {', '.join(repeated)} more than once")
        return domains

    @field_validator("dkim_private_key")
    @classmethod
    def _a_signing_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None:
            parse_dkim_key(key.get_secret_value())
        return key


def dkim_record(algorithm: str, public_key: str) -> str:
    """The TXT value of a DKIM key record (RFC 6376 §3.6.1) for the public key, base64."""
    return f"v=DKIM1; k={algorithm}; p={public_key}"


@dataclass(frozen=True)
class Identity:
    """A validated identity as stored in clear: the key itself is sealed apart, like other secrets."""

    public: ServerIdentity
    dkim_algorithm: Literal["rsa", "ed25519"] | None = None
    dkim_public_key: str | None = None

    def dns_records(self) -> list[tuple[str, str]]:
        """(name, TXT value) for every from-domain, to publish before messages are signed."""
        if self.dkim_public_key is None or self.dkim_algorithm is None:
            return []
        value = dkim_record(self.dkim_algorithm, self.dkim_public_key)
        return [
            (f"{self.public.dkim_selector}._domainkey.{domain}", value) for domain in self.public.from_domains
        ]

    def values(self, dkim_private_key: str | None) -> dict[str, Any]:
        """Every field as a caller gives it, the key included: the base a partial change is merged over,
        and what the delivery worker needs to sign and to set the Return-Path."""
        return {**self.public.model_dump(), "dkim_private_key": dkim_private_key}


def validate_identity(raw: dict[str, Any]) -> tuple[Identity, str | None]:
    """Validate an identity: the identity and its DKIM private key (canonical PEM) or None.

    Each error names its field under `identity` and never echoes the key."""
    try:
        form = IdentityForm.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(
            *(FieldError(("identity", *error["loc"]), error["msg"]) for error in exc.errors())
        ) from None
    if (form.dkim_selector is None) != (form.dkim_private_key is None):
        missing = "dkim_private_key" if form.dkim_private_key is None else "dkim_selector"
        raise InvalidInput(
            FieldError(
                ("identity", missing),
                "dkim_selector and dkim_private_key go together: give both to sign messages, or neither",
            )
        )
    public = ServerIdentity(
        from_domains=form.from_domains,
        dkim_selector=form.dkim_selector,
        return_path_domain=form.return_path_domain,
    )
    if form.dkim_private_key is None:
        return Identity(public=public), None
    key = parse_dkim_key(form.dkim_private_key.get_secret_value())
    return Identity(public=public, dkim_algorithm=key.algorithm, dkim_public_key=key.public_key), key.pem
