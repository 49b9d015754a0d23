"""The one-click unsubscribe endpoint (RFC 8058) every message's `List-Unsubscribe` points at.

No authentication but the token in the path. `POST` (what a mailbox provider sends for its
"unsubscribe" button, body `List-Unsubscribe=One-Click`, and what the confirmation page's button
sends) unsubscribes; `GET` (a person opening the link, or a link scanner following it) only shows
a page with that button: a GET must never unsubscribe, or every scanner would.
"""

import html
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from services.bounces.app.unsubscribe import INVALID_LINK, OneClickUnsubscribe
from shared.errors import NotFound

router = APIRouter(tags=["unsubscribe"])

ONE_CLICK_BODY_MAX_BYTES = 8192
"""A one-click POST carries one short field; a larger body is refused unread."""

Token = Annotated[str, Path(description="The signed token of the recipient's link.")]

_HEADERS = {
    # The token is a credential: no caching, no Referer to third parties, no framing, no scripts.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
}


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status_code, headers=_HEADERS)


def _invalid() -> HTMLResponse:
    return _page("Unsubscribe", f"<p>{html.escape(INVALID_LINK).capitalize()}.</p>", status_code=404)


def _use_case(request: Request) -> OneClickUnsubscribe | None:
    use_case: OneClickUnsubscribe | None = request.app.state.use_cases.unsubscribe
    return use_case


def _is_one_click(body: bytes, content_type: str) -> bool:
    """RFC 8058's body: `List-Unsubscribe=One-Click`, form-urlencoded or as a multipart/form-data field."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return b'name="List-Unsubscribe"' in body and b"One-Click" in body
    try:
        fields = parse_qs(body.decode("ascii"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return False
    return "One-Click" in fields.get("List-Unsubscribe", [])


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_page(request: Request, token: Token) -> HTMLResponse:
    """A page with a button that unsubscribes (a form POST); opening it unsubscribes nobody."""
    use_case = _use_case(request)
    try:
        claim = use_case.claim(token) if use_case else None
    except NotFound:
        claim = None
    if claim is None:
        return _invalid()
    return _page(
        "Unsubscribe",
        f"<p>Stop sending email to <strong>{html.escape(claim.recipient)}</strong> from this sender?</p>"
        # A relative action: the token resolves against this page's own URL, behind any path prefix.
        f'<form method="post" action="{html.escape(token, quote=True)}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>',
    )


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def one_click_unsubscribe(request: Request, token: Token) -> HTMLResponse:
    """Unsubscribe the link's recipient from the tenant's mail (a permanent suppression, source
    `unsubscribe`, audited). The body must be `List-Unsubscribe=One-Click` (RFC 8058). Idempotent: 200
    again for a recipient already unsubscribed. A bad token is a 404 that says nothing more."""
    use_case = _use_case(request)
    if use_case is None:
        return _invalid()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > ONE_CLICK_BODY_MAX_BYTES:
            return _page("Unsubscribe", "<p>The request is too large.</p>", status_code=413)
    try:
        use_case.claim(token)
    except NotFound:
        return _invalid()
    if not _is_one_click(body, request.headers.get("content-type", "")):
        return _page(
            "Unsubscribe", "<p>The request must say List-Unsubscribe=One-Click.</p>", status_code=400
        )
    await use_case.unsubscribe(token)
    return _page("Unsubscribed", "<p>You will not receive these emails any more.</p>")
