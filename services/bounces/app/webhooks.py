"""Taking a vendor's event webhook: the server its URL names, the request's credentials, its events.

A request is processed only once its credentials hold for the server its URL names (whose vendor
must be the URL's); its events are mapped by the vendor's table (`domain/webhooks/<vendor>.py`)
and handed to `FeedbackIntake.take`, which returns once they are durable: only then is the vendor
answered 2xx, so an event is never acknowledged and lost. A refused request is logged (vendor,
server, remote address, why) and nothing of it is kept.
"""

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl
from uuid import UUID

import structlog

from services.bounces.app.ports import (
    FeedbackIntake,
    SnsClient,
    SnsFetchFailed,
    WebhookServers,
    WebhookServersUnavailable,
)
from services.bounces.domain.feedback import Feedback
from services.bounces.domain.webhooks import elasticemail, mailgun, sendgrid, ses, sparkpost
from services.bounces.domain.webhooks.common import Malformed, Refused, SeenTokens, WebhookServer
from shared.contracts import utcnow

log = structlog.get_logger("bounces.webhooks")

VENDORS = ("ses", "sendgrid", "mailgun", "sparkpost", "elasticemail")
"""The vendors whose webhooks are taken, by the catalog's vendor names (the URL's `{vendor}`)."""
FIELDS_MAX = 50
"""An Elastic Email notification has about a dozen fields; more is not Elastic Email."""


@dataclass(frozen=True)
class WebhookRequest:
    vendor: str
    server_id: UUID
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    """Header names lower-cased."""
    query: Mapping[str, str] = field(default_factory=dict)
    content_type: str = ""
    remote: str = ""
    """The client's address, for the log of a refusal."""


@dataclass(frozen=True)
class Taken:
    """Verified; `count` pieces of feedback are durable (0: nothing in it was feedback)."""

    count: int
    note: str = ""


@dataclass(frozen=True)
class UnknownServer:
    reason: str


@dataclass(frozen=True)
class Invalid:
    """Verified, but the body is not what the vendor sends: `field` says where."""

    field: str
    problem: str


@dataclass(frozen=True)
class Unavailable:
    """Not decided now (the catalog or SNS did not answer): the vendor should send it again."""

    reason: str


WebhookResult = Taken | Refused | UnknownServer | Invalid | Unavailable


class ReceiveWebhook:
    def __init__(
        self,
        servers: WebhookServers,
        sns: SnsClient,
        *,
        sns_cert_hosts: Sequence[str],
        tolerance_seconds: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._servers = servers
        self._sns = sns
        self._sns_cert_hosts = tuple(sns_cert_hosts)
        self._tolerance = tolerance_seconds
        self._clock = clock
        self._mailgun_tokens = SeenTokens(tolerance_seconds)

    async def __call__(self, request: WebhookRequest, intake: FeedbackIntake) -> WebhookResult:
        """`intake`: where the feedback goes (the HTTP app's `feedback_intake`)."""
        if request.vendor not in VENDORS:
            return UnknownServer(
                f"no webhook for vendor {request.vendor[:64]!r}; one of {', '.join(VENDORS)}"
            )
        try:
            server = await self._servers.get(request.server_id)
        except WebhookServersUnavailable as exc:
            log.warning("webhook not taken: the catalog did not answer", vendor=request.vendor, why=str(exc))
            return Unavailable("the server's webhook keys could not be read now; send it again later")
        # The same answer whether the server is missing or another vendor's: the URL says nothing more.
        if server is None or server.vendor != request.vendor:
            return UnknownServer(f"no {request.vendor} server {request.server_id}")
        try:
            verdict = await self._verify_and_map(request, server)
        except Malformed as exc:
            return Invalid(exc.field, exc.problem)
        if isinstance(verdict, Refused):
            log.warning(
                "webhook refused",
                vendor=request.vendor,
                server_id=str(request.server_id),
                remote=request.remote,
                reason=verdict.reason,
            )
            return verdict
        if isinstance(verdict, Taken | Unavailable):
            return verdict
        if verdict:
            await intake.take(verdict)
        if request.vendor == "mailgun":
            # Only now: had `take` failed, Mailgun would send the same request again, to be taken then.
            self._mailgun_tokens.remember(mailgun.token_of(request.body), self._clock())
        return Taken(len(verdict))

    async def _verify_and_map(
        self, request: WebhookRequest, server: WebhookServer
    ) -> list[Feedback] | Refused | Taken | Unavailable:
        now = self._clock()
        match request.vendor:
            case "sendgrid":
                refused = sendgrid.verify(server, request.headers, request.body, now, self._tolerance)
                return refused or sendgrid.feedback_of(server, request.body)
            case "mailgun":
                refused = mailgun.verify(server, request.body, now, self._tolerance, self._mailgun_tokens)
                return refused or mailgun.feedback_of(server, request.body)
            case "sparkpost":
                return sparkpost.verify(server, request.headers) or sparkpost.feedback_of(
                    server, request.body
                )
            case "elasticemail":
                refused = elasticemail.verify(server, request.query)
                return refused or elasticemail.feedback_of(server, _notification_fields(request))
            case _:
                return await self._ses(request, server, now)

    async def _ses(
        self, request: WebhookRequest, server: WebhookServer, now: datetime
    ) -> list[Feedback] | Refused | Taken | Unavailable:
        message = ses.sns_message_of(request.body)
        if isinstance(message, Refused):
            return message
        why = ses.certificate_url_refusal(message.signing_cert_url, self._sns_cert_hosts)
        if why is not None:
            return Refused(why)
        refused = ses.topic_refusal(server, message)
        if refused is not None:
            return refused
        try:
            certificate = await self._sns.certificate(message.signing_cert_url)
        except SnsFetchFailed as exc:
            log.warning("SNS signing certificate not fetched", server_id=str(server.server_id), why=str(exc))
            return Unavailable("the SNS signing certificate could not be fetched; send it again later")
        refused = ses.verify_signature(message, certificate, now)
        if refused is not None:
            return refused
        if message.type == "Notification":
            return ses.feedback_of(server, message, request.body)
        if message.type == "UnsubscribeConfirmation":
            return Taken(0, "unsubscribe confirmation noted")
        why = ses.url_refusal(message.subscribe_url, "SubscribeURL", self._sns_cert_hosts)
        if why is not None:
            return Refused(why)
        try:
            await self._sns.confirm_subscription(message.subscribe_url)
        except SnsFetchFailed as exc:
            log.warning("SNS subscription not confirmed", server_id=str(server.server_id), why=str(exc))
            return Unavailable("the SNS subscription could not be confirmed; send it again later")
        log.info("SNS subscription confirmed", server_id=str(server.server_id), topic=message.topic_arn)
        return Taken(0, "subscription confirmed")


def _notification_fields(request: WebhookRequest) -> dict[str, str]:
    """An Elastic Email notification's fields: its query parameters, and those of a form or JSON body."""
    fields = dict(request.query)
    if request.body:
        if request.content_type.startswith("application/json"):
            try:
                document = json.loads(request.body)
            except (UnicodeDecodeError, ValueError):
                raise Malformed("body", "is not JSON") from None
            if not isinstance(document, dict):
                raise Malformed("body", "must be a JSON object of the notification's fields")
            fields.update(
                {name: str(value) for name, value in document.items() if isinstance(value, str | int)}
            )
        else:
            try:
                fields.update(parse_qsl(request.body.decode(), max_num_fields=FIELDS_MAX))
            except (UnicodeDecodeError, ValueError):
                raise Malformed("body", f"is not a form of at most {FIELDS_MAX} fields") from None
    if len(fields) > FIELDS_MAX:
        raise Malformed("query", f"has more than {FIELDS_MAX} parameters")
    return fields
