"""How every HTTP API answers a refusal or a malformed request: one mapping for all three APIs."""

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from shared.errors import Conflict, DependencyUnavailable, Forbidden, InvalidInput, NotFound, Refusal
from shared.http_text import install_nul_refusal

STATUS_OF: dict[type[Refusal], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    InvalidInput: 422,
    DependencyUnavailable: 503,
}


def status_of(refusal: Refusal) -> int:
    for kind in type(refusal).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return 400


async def _refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refusal)
    if isinstance(exc, InvalidInput):
        detail = [
            {"loc": [exc.location, *error.loc], "msg": error.message, "type": "value_error"}
            for error in exc.errors
        ]
        return JSONResponse({"detail": detail}, status_code=422)
    return JSONResponse({"detail": str(exc)}, status_code=status_of(exc))


async def _request_invalid(_: Request, exc: Exception) -> JSONResponse:
    # FastAPI echoes the offending input by default; that input may hold a password or a key.
    assert isinstance(exc, RequestValidationError)
    errors = [
        {key: value for key, value in error.items() if key not in {"input", "ctx"}} for error in exc.errors()
    ]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


def install_error_handlers(api: FastAPI) -> None:
    """Refusals become 400/403/404/409/422/503 with a `detail` a person can act on; bad requests never
    echo what was sent."""
    api.add_exception_handler(Refusal, _refused)
    api.add_exception_handler(RequestValidationError, _request_invalid)
    # PostgreSQL stores no NUL: refused up front (422 naming the field), not failed on at the database.
    install_nul_refusal(api)
