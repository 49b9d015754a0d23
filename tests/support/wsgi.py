"""A WSGI app served over https on a free local port from a thread, with HTTP/1.1 keep-alive,
counting the TCP connections its clients open.

https, with a certificate of the test CA (`tests.support.tls`): delivery talks to vendors over
https only and verifies their certificates, and the fakes stand in for them.

Served by uvicorn (through its WSGI bridge) rather than werkzeug's development server, which
closes every connection after one response: a test of connection reuse needs a server that
keeps them open, as the vendors' servers do.
"""

import threading
import time

import uvicorn
from uvicorn.middleware.wsgi import WSGIMiddleware

from tests.support.infra import free_port
from tests.support.tls import server_certificate


class CountingWsgiServer:
    def __init__(self, app) -> None:
        self.port = free_port()
        self.lock = threading.Lock()
        self._clients: set[tuple[str, int]] = set()
        self._wsgi = WSGIMiddleware(app)
        certificate = server_certificate()
        config = uvicorn.Config(
            self._asgi,
            host="127.0.0.1",
            port=self.port,
            interface="asgi3",
            lifespan="off",
            log_level="warning",
            ssl_certfile=certificate.certificate_file,
            ssl_keyfile=certificate.key_file,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        """TCP connections seen since the last `forget_connections` (one client address and port each)."""
        with self.lock:
            return len(self._clients)

    def forget_connections(self) -> None:
        with self.lock:
            self._clients.clear()

    async def _asgi(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope.get("client"):
            with self.lock:
                self._clients.add(tuple(scope["client"]))
        await self._wsgi(scope, receive, send)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the test HTTP server on port {self.port} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join()
