"""Signing in: the token is asked what it is by the catalog itself, so the console never judges one."""

from services.console.app.ports import ApiRefused, Apis
from services.console.domain.session import Role, Session


class TokenNotAccepted(Exception):
    """The catalog refused the token; the message says why (`token revoked`, `invalid token`, ...)."""


async def sign_in(apis: Apis, token: str) -> Session:
    """The session of `token`: the operator's if the catalog shows it the whole pool (operator only),
    a tenant's if it refuses that with 403 but answers the tenant's own summary."""
    role: Role
    try:
        await apis.catalog.get("/pool", token)
        role = "operator"
    except ApiRefused as refused:
        if refused.status != 403:
            raise TokenNotAccepted(refused.detail) from None
        try:
            await apis.catalog.get("/servers/summary", token)
        except ApiRefused as again:
            raise TokenNotAccepted(again.detail) from None
        role = "tenant"
    return Session.signed_in(token, role)
