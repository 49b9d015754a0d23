"""A cap on HTTP request bodies, for every service's API: one request must not fill a process's memory.

FastAPI reads a whole JSON body before it validates a single field (and before it checks the
caller's token), so without a cap anyone who can reach the port can make a process hold as much as
they care to send. `BodySizeLimit` answers 413 at once when `Content-Length` announces more than
the cap, and counts the bytes of a body sent without one (chunked), answering 413 as soon as the
count passes the cap: the rest is never read.
"""

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Refusal(Exception):
    """A request answered by a middleware instead of the app: `status` and a JSON `{"detail": ...}`.
    Raised from a body check, it also stops the app reading the body."""

    def __init__(self, status: int, detail: Any, *, close_connection: bool = False) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.close_connection = close_connection

    async def answer(self, send: Send) -> None:
        body = json.dumps({"detail": self.detail}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if self.close_connection:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


BodyCheck = Callable[[Message], None]
"""Called with each `http.request` message the app receives; raises `Refusal` to refuse the request."""


async def serve_checking_body(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, check: BodyCheck
) -> None:
    """Run `app`, passing each part of the request body through `check` as the app reads it. On a
    `Refusal` the app stops reading, and its own answer (a 400 or 500 to a body it never got whole)
    is replaced by the refusal's."""
    refusal: Refusal | None = None
    response_started = False

    async def checking_receive() -> Message:
        nonlocal refusal
        message = await receive()
        if message["type"] == "http.request":
            try:
                check(message)
            except Refusal as refused:
                refusal = refused
                raise
        return message

    async def guarded_send(message: Message) -> None:
        nonlocal response_started
        if refusal is not None:
            return
        response_started = response_started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, checking_receive, guarded_send)
    except Exception:
        if refusal is None:
            raise
    if refusal is not None and not response_started:
        await refusal.answer(send)


class BodySizeLimit:
    """ASGI middleware refusing request bodies larger than `max_bytes` with 413.

    `larger` gives paths (regular expressions matched against the whole path) a cap of their own,
    for the few endpoints whose valid requests are larger than the rest (a recipient import)."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._larger = [(re.compile(pattern), cap) for pattern, cap in (larger or {}).items()]

    def limit_for(self, path: str) -> int:
        for pattern, cap in self._larger:
            if pattern.fullmatch(path):
                return cap
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit).answer(send)
            return

        received = 0

        def count(message: Message) -> None:
            nonlocal received
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit)

        await serve_checking_body(self.app, scope, receive, send, count)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before the app sees it
    return None


def _too_large(limit: int) -> Refusal:
    # The rest of the body is never read: the connection cannot carry another request.
    return Refusal(
        413, f"The request body is larger than this endpoint accepts ({limit} bytes).", close_connection=True
    )


def install_body_limit(api: FastAPI, max_bytes: int, larger: Mapping[str, int] | None = None) -> None:
    """Cap `api`'s request bodies at `max_bytes` (and at `larger[pattern]` on paths matching a pattern)."""
    api.add_middleware(BodySizeLimit, max_bytes=max_bytes, larger=larger)
