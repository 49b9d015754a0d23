"""Vendor event webhooks: `POST /webhooks/{vendor}/{server_id}` (and `GET`, for Elastic Email's notifications).

Thin: the request as it came (raw body, headers, query, remote address) goes to `ReceiveWebhook`
(`app.state.receive_webhook`) with the app's `FeedbackIntake` (`app.state.feedback_intake`), and
its result becomes the answer. The body is bounded by the app's body limit (`shared.http_limits`).
"""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from services.bounces.app.ports import FeedbackIntake
from services.bounces.app.webhooks import (
    Invalid,
    ReceiveWebhook,
    Taken,
    Unavailable,
    UnknownServer,
    WebhookRequest,
    WebhookResult,
)
from services.bounces.domain.webhooks.common import Refused

RETRY_AFTER_SECONDS = 60

router = APIRouter(tags=["webhooks"])


PATH = "/webhooks/{vendor}/{server_id}"
Vendor = Annotated[
    str, Path(max_length=32, description="`ses`, `sendgrid`, `mailgun`, `sparkpost` or `elasticemail`.")
]
ServerId = Annotated[str, Path(max_length=64, description="The server the vendor's events are about.")]
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Verified; its bounces and complaints are stored (`taken` of them)."},
    400: {"description": "Verified, but the body is not what the vendor sends; `field` names where."},
    401: {"description": "No signature or token: nothing was processed."},
    403: {"description": "A wrong signature or token, or none configured for the server."},
    404: {"description": "No server of this vendor with this id."},
    503: {"description": "The server's keys or SNS's certificate could not be read now: send it again."},
}


@router.post(
    PATH,
    summary="A vendor's event webhook (SES through SNS, SendGrid, Mailgun, SparkPost, Elastic Email)",
    responses=RESPONSES,
)
async def vendor_webhook(request: Request, vendor: Vendor, server_id: ServerId) -> JSONResponse:
    return await _receive(request, vendor, server_id)


@router.get(
    PATH,
    summary="Elastic Email's notifications, which come as GET with their fields as query parameters",
    responses={**RESPONSES, 405: {"description": "Only Elastic Email's notifications come as GET."}},
)
async def vendor_notification(request: Request, vendor: Vendor, server_id: ServerId) -> JSONResponse:
    if vendor != "elasticemail":
        return JSONResponse(
            {"detail": "use POST: only Elastic Email's notifications come as GET"}, status_code=405
        )
    return await _receive(request, vendor, server_id)


async def _receive(request: Request, vendor: str, server_id: str) -> JSONResponse:
    try:
        server = UUID(server_id)
    except ValueError:
        return JSONResponse({"detail": f"no {vendor} server {server_id}"}, status_code=404)
    receive: ReceiveWebhook = request.app.state.receive_webhook
    intake: FeedbackIntake = request.app.state.feedback_intake
    result = await receive(
        WebhookRequest(
            vendor=vendor,
            server_id=server,
            body=await request.body(),
            headers={name.lower(): value for name, value in request.headers.items()},
            query=dict(request.query_params),
            content_type=request.headers.get("content-type", ""),
            remote=request.client.host if request.client else "",
        ),
        intake,
    )
    return _answer(result)


def _answer(result: WebhookResult) -> JSONResponse:
    match result:
        case Taken(count=count, note=note):
            return JSONResponse({"taken": count, **({"note": note} if note else {})})
        case Refused(reason=reason, missing=True):
            return JSONResponse({"detail": reason}, status_code=401)
        case Refused(reason=reason):
            return JSONResponse({"detail": reason}, status_code=403)
        case UnknownServer(reason=reason):
            return JSONResponse({"detail": reason}, status_code=404)
        case Invalid(field=field, problem=problem):
            return JSONResponse({"detail": f"{field}: {problem}", "field": field}, status_code=400)
        case Unavailable(reason=reason):
            return JSONResponse(
                {"detail": reason}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            )
