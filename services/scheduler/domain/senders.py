"""Whether a campaign's From may go out through the servers it may use.

A server's identity lists the domains it may send From (`ServerIdentity.from_domains`). The rule:
the From domain must be one of the domains the campaign's servers declare, or a subdomain of one
(the delivery workers sign such a From with the listed domain's DKIM key, which DMARC's relaxed
alignment accepts). A server that declares no domain adds none. Only when none of the campaign's
servers declares any domain (servers set up before identities existed, or a campaign with no
server at all, which routing stops) is there nothing to hold the From to, and it passes.
"""

from collections.abc import Iterable

from shared.errors import FieldError, InvalidInput


def from_domain(address: str) -> str:
    return address.rpartition("@")[2].strip().rstrip(".").lower()


def allowed_for(domain: str, declared: Iterable[str]) -> bool:
    return any(domain == listed or domain.endswith(f".{listed}") for listed in declared)


def check_from_address(from_address: str, declared_domains: Iterable[str]) -> None:
    """Raises a 422 naming `content.from_address` with the allowed domains, if the From's domain
    is not among `declared_domains` (every from_domain of the campaign's servers)."""
    declared = sorted({domain.strip().rstrip(".").lower() for domain in declared_domains if domain.strip()})
    if not declared:
        return
    domain = from_domain(from_address)
    if not allowed_for(domain, declared):
        raise InvalidInput(
            FieldError(
                ("content", "from_address"),
                f"{from_address!r}: the campaign's servers may send From {', '.join(declared)} (or their "
                f"subdomains) only, not {domain}; change the From, or the servers' identity.from_domains",
            )
        )
