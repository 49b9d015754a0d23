"""What every page of the console shares: templates, the signed-in session, the form check, answers.

Route modules (`pool_pages`, `server_pages`, `campaign_pages`, `tenant_pages`) are thin: they read
the request, call one function of `services.console.app`, and render a template with `page` (a whole
page) or `fragment` (the part an htmx request swaps in).
"""

import hmac
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from services.console.adapters.service_apis import HttpApis
from services.console.app.ports import Apis
from services.console.domain.session import Session
from services.console.domain.shares import format_percent, format_rate, percentages

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

templates = Jinja2Templates(directory=TEMPLATES)
templates.env.globals.update(percentages=percentages, format_percent=format_percent, format_rate=format_rate)
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True

MAX_FORM_FIELDS = 400
"""A form with more fields is refused before parsing (the largest, a server's, has a few dozen)."""
MAX_FORM_FIELD_BYTES = 64 * 1024
"""One field's value at most: a PEM private key for an identity fits easily."""


class SignInRequired(Exception):
    """No valid session: the user is sent to the sign-in page, then back where they were."""


class PageError(Exception):
    """A page cannot be shown to this user: `status` and a sentence saying why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def apis(request: Request) -> Apis:
    found: HttpApis = request.app.state.apis
    return found


def current_session(request: Request) -> Session:
    session: Session | None = getattr(request.state, "session", None)
    if session is None:
        raise SignInRequired()
    return session


def operator_session(session: Annotated[Session, Depends(current_session)]) -> Session:
    if not session.is_operator:
        raise PageError(403, "Only the operator may open this page; sign in with the operator token.")
    return session


def tenant_session(session: Annotated[Session, Depends(current_session)]) -> Session:
    if session.is_operator:
        raise PageError(403, "This page is a tenant's: sign in with a tenant token.")
    return session


async def checked_form(request: Request, session: Annotated[Session, Depends(current_session)]) -> FormData:
    """The submitted form, once its form key matches the session's (a form posted from another site
    cannot carry it). htmx sends the key as `X-CSRF-Token`; plain forms as the field `csrf`."""
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_FIELD_BYTES)
    given = str(form.get("csrf") or request.headers.get("X-CSRF-Token") or "")
    if not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise PageError(
            403, "This form has expired or did not come from this console; reload the page and try again."
        )
    return form


Services = Annotated[Apis, Depends(apis)]
CurrentSession = Annotated[Session, Depends(current_session)]
OperatorSession = Annotated[Session, Depends(operator_session)]
TenantSession = Annotated[Session, Depends(tenant_session)]
CheckedForm = Annotated[FormData, Depends(checked_form)]


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def page(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A whole page: `template` extends `base.html`, which shows the navigation of the session's role."""
    return templates.TemplateResponse(
        request,
        template,
        {"session": getattr(request.state, "session", None), **context},
        status_code=status_code,
    )


def fragment(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Part of a page, for htmx to swap in (templates under `partials/`)."""
    return page(request, template, status_code=status_code, **context)


def see_other(url: str) -> Response:
    """After a form's POST: the browser GETs `url` (303), so reloading does not post again."""
    return RedirectResponse(url, status_code=303)


def local_path(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this console, else `default`: the sign-in never sends anyone away."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    # Browsers drop tabs and newlines from URLs (`/\t/evil.example` is `//evil.example` to them).
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return default
    return target


def sign_in_url(request: Request, *, reason: str | None = None) -> str:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"/sign-in?next={quote(path, safe='')}"
    return url + (f"&reason={quote(reason)}" if reason else "")
