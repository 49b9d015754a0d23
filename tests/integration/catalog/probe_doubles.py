"""smtp.gmail.com for the probe tests: STARTTLS, then XOAUTH2 with an access token the (fake) Google
token endpoint issued. It runs in a thread of its own, so worker processes reach it over a real socket."""

import base64
import re
from collections.abc import Callable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.support.infra import free_port
from tests.support.smtp import RecordingHandler

_XOAUTH2 = re.compile("user=(?P<user>[^\x01]+)\x01auth=Bearer (?P<token>[^\x01]+)\x01\x01")


class XOAuth2Handler(RecordingHandler):
    def __init__(self, email: str, is_valid_token: Callable[[str], bool]) -> None:
        super().__init__()
        self._email = email
        self._is_valid_token = is_valid_token

    async def auth_XOAUTH2(self, server, args):  # noqa: N802 - aiosmtpd finds mechanisms by this name
        given = _XOAUTH2.fullmatch(base64.b64decode(args[1]).decode()) if len(args) > 1 else None
        ok = given is not None and given["user"] == self._email and self._is_valid_token(given["token"])
        return AuthResult(success=ok, handled=False)


class GmailDouble:
    def __init__(self, tls_context, email: str, is_valid_token: Callable[[str], bool]) -> None:
        self.port = free_port()
        self.controller = Controller(
            XOAuth2Handler(email, is_valid_token),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=tls_context,
            require_starttls=True,
            auth_require_tls=True,
            authenticator=lambda *_: AuthResult(success=False, handled=False),  # PLAIN and LOGIN never pass
        )

    def __enter__(self) -> "GmailDouble":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
