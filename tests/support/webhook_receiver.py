"""A local https receiver of webhooks (uvicorn in a thread, the test CA's certificate): it records every
request and answers each path as the test says (a run of failures first, a delay)."""

import asyncio
import threading
import time
from dataclasses import dataclass, field

import uvicorn

from tests.support.infra import free_port
from tests.support.tls import server_certificate


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float = field(default_factory=time.monotonic)


class WebhookReceiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.lock = threading.Lock()
        self.requests: list[Received] = []
        self.failures_first: dict[str, int] = {}
        self.delay_seconds: dict[str, float] = {}
        certificate = server_certificate()
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=self.port,
            interface="asgi3",
            lifespan="off",
            timeout_graceful_shutdown=1,  # the service keeps its connections alive
            log_level="warning",
            ssl_certfile=certificate.certificate_file,
            ssl_keyfile=certificate.key_file,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def received(self, path: str, *, accepted_only: bool = False) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path == path and (r.status == 200 or not accepted_only)]

    async def _app(self, scope, receive, send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if delay := self.delay_seconds.get(path):
            await asyncio.sleep(delay)
        with self.lock:
            left = self.failures_first.get(path, 0)
            status = 500 if left > 0 else 200
            if left:
                self.failures_first[path] = left - 1
            headers = {key.decode(): value.decode() for key, value in scope["headers"]}
            self.requests.append(Received(path, headers, body, status))
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b"try later"})

    def start(self) -> "WebhookReceiver":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join()

    def __enter__(self) -> "WebhookReceiver":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
