"""A cap on HTTP request bodies, for every service's API: one request must not fill a process's memory.

FastAPI reads a whole JSON body before it validates a single field (and before it checks the
caller's token), so without a cap anyone who can reach the port can make a process hold as much as
they care to send. `BodySizeLimit` answers 413 at once when `Content-Length` announces more than
the cap, and counts the bytes of a body sent without one (chunked), answering 413 as soon as the
count passes the cap: the rest is never read.
"""

import json
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from fastapi import FastAPI

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    """Raised to the app that reads past the cap, so that it stops reading."""


class BodySizeLimit:
    """ASGI middleware refusing request bodies larger than `max_bytes` with 413.

    `larger` gives paths (regular expressions matched against the whole path) a cap of their own,
    for the few endpoints whose valid requests are larger than the rest (a recipient import)."""

    def __init__(self, app: AsgiApp, max_bytes: int, larger: Mapping[str, int] | None = None) -> None:
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
            await _refuse(send, limit)
            return

        received = 0
        exceeded = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(f"the request body is larger than {limit} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded:
                return  # the app's answer to a body it never got whole (a 400, a 500): the 413 replaces it
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not response_started:
            await _refuse(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before the app sees it
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps(
        {"detail": f"The request body is larger than this endpoint accepts ({limit} bytes)."}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is never read: the connection cannot carry another request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def install_body_limit(api: FastAPI, max_bytes: int, larger: Mapping[str, int] | None = None) -> None:
    """Cap `api`'s request bodies at `max_bytes` (and at `larger[pattern]` on paths matching a pattern)."""
    api.add_middleware(BodySizeLimit, max_bytes=max_bytes, larger=larger)
