"""What the SES webhook fetches from SNS over https: signing certificates (cached) and subscription confirmations.

Every fetch goes through the egress policy (`shared.egress`), with no redirect and no proxy, and
the URLs were checked against the allowed SNS hosts before they get here. A certificate is kept by
URL (SNS signs with few, and each message names one), bounded in count and in size.
"""

from collections import OrderedDict

import httpx

from services.bounces.app.ports import SnsFetchFailed
from shared.egress import EgressPolicy, EgressRefused, egress_http_client

CERTIFICATE_MAX_BYTES = 16 * 1024
"""SNS's certificates are about 2 KB; a larger answer is not one."""
CACHED_CERTIFICATES_MAX = 32
CONFIRMATION_MAX_BYTES = 64 * 1024


class SnsHttpClient:
    def __init__(
        self, egress: EgressPolicy, *, tls_ca_file: str | None, timeout_seconds: float = 10.0
    ) -> None:
        self._http = egress_http_client(
            egress,
            tls_ca_file=tls_ca_file,
            limits=httpx.Limits(max_connections=4),
            timeout=httpx.Timeout(timeout_seconds),
        )
        self._certificates: OrderedDict[str, bytes] = OrderedDict()

    async def certificate(self, url: str) -> bytes:
        if url in self._certificates:
            self._certificates.move_to_end(url)
            return self._certificates[url]
        certificate = await self._get(url, CERTIFICATE_MAX_BYTES, "the signing certificate")
        self._certificates[url] = certificate
        while len(self._certificates) > CACHED_CERTIFICATES_MAX:
            self._certificates.popitem(last=False)
        return certificate

    async def confirm_subscription(self, url: str) -> None:
        await self._get(url, CONFIRMATION_MAX_BYTES, "the subscription confirmation")

    async def close(self) -> None:
        await self._http.aclose()

    async def _get(self, url: str, max_bytes: int, what: str) -> bytes:
        try:
            async with self._http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise SnsFetchFailed(f"{what} answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise SnsFetchFailed(f"{what} is larger than {max_bytes} bytes")
                return bytes(body)
        except EgressRefused as exc:
            raise SnsFetchFailed(f"{what}: {exc}") from None
        except httpx.HTTPError as exc:
            raise SnsFetchFailed(f"{what} could not be fetched: {type(exc).__name__}: {exc}") from None
