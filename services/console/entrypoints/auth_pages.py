"""Sign in with an API token, sign out."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from services.console.adapters.session_cookie import COOKIE_NAME, SessionCookies
from services.console.app.sign_in import TokenNotAccepted, sign_in
from services.console.entrypoints.web import CheckedForm, Services, local_path, page, see_other
from shared.auth import MAX_TOKEN_LENGTH

router = APIRouter()

REASONS = {
    "expired": "Your sign-in has expired, or its token was revoked. Sign in again.",
    "signed-out": "You are signed out.",
}


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str | None = None, reason: str | None = None) -> Response:
    return page(request, "sign_in.html", next=local_path(next), notice=REASONS.get(reason or ""))


@router.post("/sign-in")
async def sign_in_submit(
    request: Request,
    apis: Services,
    token: Annotated[str, Form(max_length=MAX_TOKEN_LENGTH * 2)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    token = token.strip()
    if not token:
        return page(
            request, "sign_in.html", status_code=422, next=local_path(next), error="Enter an API token."
        )
    try:
        session = await sign_in(apis, token)
    except TokenNotAccepted as refused:
        return page(
            request,
            "sign_in.html",
            status_code=401,
            next=local_path(next),
            error=f"The token was refused: {refused}.",
        )
    cookies: SessionCookies = request.app.state.cookies
    response = see_other(local_path(next))
    response.set_cookie(
        COOKIE_NAME,
        cookies.seal(session),
        max_age=cookies.max_age_seconds,
        httponly=True,
        secure=request.app.state.settings.secure_cookies,
        samesite="strict",
        path="/",
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request, _: CheckedForm) -> Response:
    response = see_other("/sign-in?reason=signed-out")
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
