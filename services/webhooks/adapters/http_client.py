"""Webhook requests over https, only where the platform's egress policy allows.

The client resolves the endpoint's host at every connection and connects to a checked address
(`shared.egress`), so a name that resolved to a public address at registration and to an internal
one now (DNS rebinding) is refused. No redirect is followed (a 3xx is a failure), no proxy from the
environment is used, at most `response_max_bytes` of the answer are read, and the whole request,
connection included, is bounded by `timeout_seconds`.
"""

import asyncio
from time import monotonic

import httpx

from services.webhooks.app.ports import Response
from shared.egress import EgressPolicy, EgressRefused, UnknownHost, egress_http_client

ERROR_MAX_LENGTH = 500


class HttpWebhookClient:
    def __init__(
        self,
        policy: EgressPolicy,
        *,
        tls_ca_file: str | None,
        timeout_seconds: float,
        response_max_bytes: int,
        max_connections: int,
    ) -> None:
        self._timeout = timeout_seconds
        self._response_max_bytes = response_max_bytes
        self._client = egress_http_client(
            policy,
            tls_ca_file=tls_ca_file,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            timeout=httpx.Timeout(timeout_seconds),
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Response:
        started = monotonic()

        def took() -> int:
            return round((monotonic() - started) * 1000)

        try:
            async with asyncio.timeout(self._timeout):
                async with self._client.stream("POST", url, content=body, headers=headers) as response:
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read >= self._response_max_bytes:
                            break
                    return Response(response.status_code, None, took())
        except TimeoutError:
            error = f"no answer within {self._timeout:g} s"
        except EgressRefused as refused:
            error = f"refused by the egress policy: {refused}"
        except UnknownHost as unknown:
            error = str(unknown)
        except httpx.TimeoutException:
            error = f"no answer within {self._timeout:g} s"
        except (httpx.HTTPError, OSError) as failure:
            error = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
        return Response(None, error[:ERROR_MAX_LENGTH], took())

    async def close(self) -> None:
        await self._client.aclose()
