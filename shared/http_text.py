"""NUL characters are refused in every service's requests, before they can reach PostgreSQL.

PostgreSQL stores no NUL (U+0000) in text or JSONB: a list name or a search term holding one failed
at the database, and the caller got a 500 (the API fuzzing found it). JSON can spell one
(`"\\u0000"`), a query string too (`%00`), and no field of any API has a use for it. Refusing it
here covers every field, today's and tomorrow's, with the 422 a validation error gets, naming the field.
"""

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http_limits import Refusal, serve_checking_body

NUL = "\x00"
_ESCAPED_NUL = b"\\u0000"  # how JSON writes it; a raw NUL byte is not JSON at all, and refused as such

Location = list[str | int]


class RefuseNulCharacters:
    """ASGI middleware answering 422 to a request whose query string or JSON body holds a NUL.

    The body is checked as the app reads it (so a body-size cap in front still applies first); a
    body without `\\u0000` in it is never parsed a second time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        in_query = _nul_in_query(scope.get("query_string", b""))
        if in_query is not None:
            await _nul_refusal(in_query).answer(send)
            return
        if not _may_be_json(scope):
            # Not read as JSON by any route (FastAPI parses JSON only without a content type or with a
            # JSON one), and possibly huge: a CSV import is streamed, and checks its own values.
            await self.app(scope, receive, send)
            return

        chunks: list[bytes] = []

        def check_whole_body(message: Message) -> None:
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            chunks.clear()
            refused_at = _nul_in_json(body) if _ESCAPED_NUL in body else None
            if refused_at is not None:
                raise _nul_refusal(refused_at)

        await serve_checking_body(self.app, scope, receive, send, check_whole_body)


def _may_be_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.partition(b";")[0].lower()
    return True


def _nul_in_query(query_string: bytes) -> Location | None:
    if b"%00" not in query_string:
        return None
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if NUL in name or NUL in value:
            return ["query", name.replace(NUL, "")]
    return None


def _nul_in_json(body: bytes) -> Location | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None  # not JSON: the app refuses it as it is
    return next(_nul_locations(document, ["body"]), None)


def _nul_locations(value: Any, location: Location) -> Iterator[Location]:
    if isinstance(value, str):
        if NUL in value:
            yield location
    elif isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                yield [*location, key.replace(NUL, "")]
            yield from _nul_locations(item, [*location, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_locations(item, [*location, index])


def _nul_refusal(location: Location) -> Refusal:
    return Refusal(
        422, [{"loc": location, "msg": "must not contain NUL characters (U+0000)", "type": "value_error"}]
    )


def install_nul_refusal(api: FastAPI) -> None:
    api.add_middleware(RefuseNulCharacters)
