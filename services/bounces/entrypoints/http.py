"""The bounces service's HTTP API: suppression lists, feedback, its re-classification, the audit log.

Each route checks the caller, calls one use case and shapes the answer. A tenant manages its own
suppression list and sees the feedback about its own messages; the operator names a tenant's list
(`?tenant_id=`) or the global one (`?scope=global`), sees all feedback and alone re-classifies.
The vendor webhooks (`services.bounces.entrypoints.webhooks`) are served by the same app.
"""

from dataclasses import dataclass
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response, status
from pydantic import TypeAdapter, ValidationError

from services.bounces.app.feedback import ReclassifyFeedback
from services.bounces.app.ports import FeedbackIntake
from services.bounces.app.review import FeedbackReview
from services.bounces.app.suppressions import SuppressionLists
from services.bounces.app.unsubscribe import OneClickUnsubscribe
from services.bounces.app.webhooks import ReceiveWebhook
from services.bounces.domain.suppressions import ImportRefused, ImportRow, csv_rows
from services.bounces.entrypoints import unsubscribe, webhooks
from services.bounces.entrypoints.schemas import (
    AuditOut,
    AuditPage,
    FeedbackDetailOut,
    FeedbackOut,
    FeedbackPage,
    ImportEntryIn,
    ImportOut,
    ReclassifyIn,
    RefusedOut,
    SuppressionIn,
    SuppressionOut,
    SuppressionPage,
)
from services.bounces.settings import BouncesSettings
from shared.auth import Principal, RevokedTokens, app_token_secrets, principal_dependency
from shared.contracts import FeedbackClass
from shared.errors import Forbidden, InvalidInput
from shared.http_errors import install_error_handlers
from shared.http_limits import install_body_limit
from shared.limits import EMAIL_ADDRESS_MAX

ROW_ID_MAX = 2**63 - 1
"""Feedback and audit ids are PostgreSQL bigints: a larger id or `before` failed there, a 500, until
bounded here."""
FeedbackId = Annotated[int, Path(ge=1, le=ROW_ID_MAX)]
Before = Annotated[int | None, Query(ge=1, le=ROW_ID_MAX, description="The `next` of the last page.")]


@dataclass(frozen=True)
class BouncesUseCases:
    suppressions: SuppressionLists
    review: FeedbackReview
    reclassify: ReclassifyFeedback
    feedback_intake: FeedbackIntake
    """For the webhook routes (`app.state.feedback_intake`)."""
    receive_webhook: ReceiveWebhook
    """The vendor webhooks' checks and tables (`app.state.receive_webhook`)."""
    unsubscribe: OneClickUnsubscribe | None = None
    """The one-click unsubscribe endpoint's (`services.bounces.entrypoints.unsubscribe`)."""


Caller = Annotated[Principal, Depends(principal_dependency(app_token_secrets))]


def _use_cases(request: Request) -> BouncesUseCases:
    use_cases: BouncesUseCases = request.app.state.use_cases
    return use_cases


UseCases = Annotated[BouncesUseCases, Depends(_use_cases)]


def _operator(caller: Caller) -> Principal:
    if not caller.is_operator:
        raise Forbidden("only the operator may do this")
    return caller


Operator = Annotated[Principal, Depends(_operator)]


def _actor(caller: Principal) -> str:
    return "operator" if caller.is_operator else f"tenant:{caller.tenant_id}"


def _list_of(
    caller: Caller,
    tenant_id: Annotated[UUID | None, Query(description="The operator's: whose list.")] = None,
    scope: Annotated[
        Literal["tenant", "global"] | None, Query(description="The operator's: `global` for the global list.")
    ] = None,
) -> UUID | None:
    """The list a request is about: a tenant's (its own only), or the global one (None, the operator's)."""
    if not caller.is_operator:
        if scope == "global" or tenant_id not in (None, caller.tenant_id):
            raise Forbidden("a tenant manages its own suppression list only")
        return caller.tenant_id
    if scope == "global":
        if tenant_id is not None:
            raise InvalidInput.field("tenant_id", "not with scope=global", location="query")
        return None
    if tenant_id is None:
        raise InvalidInput.field(
            "tenant_id", "name a tenant, or the global list with scope=global", location="query"
        )
    return tenant_id


ListOf = Annotated[UUID | None, Depends(_list_of)]

router = APIRouter()


@router.get("/suppressions", tags=["suppressions"])
async def list_suppressions(
    list_of: ListOf,
    use: UseCases,
    q: Annotated[str | None, Query(max_length=EMAIL_ADDRESS_MAX, description="Part of the address.")] = None,
    source: Annotated[
        Literal["bounce", "complaint", "unsubscribe", "manual", "import"] | None, Query()
    ] = None,
    after: Annotated[
        str | None, Query(max_length=EMAIL_ADDRESS_MAX, description="The `next` of the last page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SuppressionPage:
    """The list's active suppressions, by address."""
    rows = await use.suppressions.page(list_of, contains=q, source=source, after=after, limit=limit)
    items = [SuppressionOut(**row) for row in rows]
    return SuppressionPage(items=items, next=items[-1].address if len(items) == limit else None)


@router.post("/suppressions", tags=["suppressions"], status_code=status.HTTP_201_CREATED)
async def add_suppression(
    body: SuppressionIn, list_of: ListOf, caller: Caller, use: UseCases, response: Response
) -> SuppressionOut:
    """Suppress an address (source `manual`). An address already suppressed more strongly stays so (200)."""
    found, changed = await use.suppressions.add(
        list_of, body.address, body.reason, body.expires_at, actor=_actor(caller)
    )
    if not changed:
        response.status_code = status.HTTP_200_OK
    return SuppressionOut(**found)


_IMPORT_ENTRIES: TypeAdapter[list[str | ImportEntryIn]] = TypeAdapter(list[str | ImportEntryIn])


@router.post(
    "/suppressions/import",
    tags=["suppressions"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, ImportEntryIn.model_json_schema()]},
                    }
                },
                "text/csv": {"schema": {"type": "string", "description": "address[,reason] per line"}},
            },
        }
    },
)
async def import_suppressions(request: Request, list_of: ListOf, caller: Caller, use: UseCases) -> ImportOut:
    """Suppress many addresses (source `import`): a JSON list (addresses, or `{address, reason}`) or a
    `text/csv` body (`address[,reason]` per line). Says which were added, which were there already,
    and which were refused and why."""
    settings: BouncesSettings = request.app.state.settings
    rows = _import_rows(await request.body(), request.headers.get("content-type", ""), settings)
    report = await use.suppressions.import_rows(list_of, rows, actor=_actor(caller))
    return ImportOut(
        added=report.added,
        already_there=report.already_there,
        refused=[RefusedOut(row=r.row, address=r.address, why=r.why) for r in report.refused],
    )


def _import_rows(body: bytes, content_type: str, settings: BouncesSettings) -> list[ImportRow]:
    max_rows = settings.suppression_import_max_rows
    try:
        if content_type.split(";")[0].strip().lower() == "text/csv":
            text = body.decode("utf-8")
            # PostgreSQL stores no NUL: a reason holding one failed there, a 500 (JSON bodies are
            # refused by `shared.http_text`, which reads no CSV).
            if "\x00" in text:
                raise InvalidInput.field("body", "must not contain NUL characters (U+0000)")
            return csv_rows(text, max_rows=max_rows)
        # Pydantic's own JSON parser, not `json.loads`: it refuses a lone surrogate (`"\udb9d"`),
        # which no answer can echo and no database can store (both failed, a 500).
        entries = _IMPORT_ENTRIES.validate_json(body)
    except UnicodeDecodeError:
        raise InvalidInput.field("body", "a JSON list, or text/csv in UTF-8") from None
    except ValidationError as invalid:
        if any(error["type"] == "json_invalid" for error in invalid.errors()):
            raise InvalidInput.field("body", "a JSON list, or text/csv in UTF-8") from None
        raise InvalidInput.field(
            "body", f"a list of addresses or {{address, reason}}: {invalid.error_count()} errors"
        ) from None
    except ImportRefused as refused:
        raise InvalidInput.field("body", str(refused)) from None
    if len(entries) > max_rows:
        raise InvalidInput.field("body", f"at most {max_rows} addresses in one import")
    return [
        ImportRow(entry) if isinstance(entry, str) else ImportRow(entry.address, entry.reason)
        for entry in entries
    ]


@router.delete("/suppressions/{address}", tags=["suppressions"], status_code=status.HTTP_204_NO_CONTENT)
async def remove_suppression(address: str, list_of: ListOf, caller: Caller, use: UseCases) -> None:
    """Lift a suppression."""
    if len(address) > EMAIL_ADDRESS_MAX:
        raise InvalidInput.field("address", f"at most {EMAIL_ADDRESS_MAX} characters", location="path")
    await use.suppressions.remove(list_of, address, actor=_actor(caller))


@router.get("/feedback", tags=["feedback"])
async def list_feedback(
    caller: Caller,
    use: UseCases,
    feedback_class: Annotated[FeedbackClass | None, Query(alias="class")] = None,
    campaign_id: UUID | None = None,
    server_id: UUID | None = None,
    tenant_id: Annotated[UUID | None, Query(description="The operator's: one tenant's feedback.")] = None,
    matched: bool | None = None,
    before: Before = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> FeedbackPage:
    """Newest first. A tenant sees the feedback matched to its messages; the operator all of it."""
    rows = await use.review.page(
        None if caller.is_operator else caller.tenant_id,
        tenant_id=tenant_id,
        feedback_class=feedback_class.value if feedback_class else None,
        campaign_id=campaign_id,
        server_id=server_id,
        matched=matched,
        before=before,
        limit=limit,
    )
    items = [FeedbackOut.of(row) for row in rows]
    return FeedbackPage(items=items, next=items[-1].id if len(items) == limit else None)


@router.get("/feedback/{feedback_id}", tags=["feedback"], response_model_by_alias=True)
async def get_feedback(feedback_id: FeedbackId, caller: Caller, use: UseCases) -> FeedbackDetailOut:
    """One report, with what the intake kept of it; the raw source to the operator only."""
    row = await use.review.get(None if caller.is_operator else caller.tenant_id, feedback_id)
    return FeedbackDetailOut.detail(row, with_raw=caller.is_operator)


@router.post("/feedback/{feedback_id}/reclassify", tags=["feedback"])
async def reclassify_feedback(
    feedback_id: FeedbackId, body: ReclassifyIn, operator: Operator, use: UseCases
) -> FeedbackDetailOut:
    """Correct a report's class (the operator's); undoes what the old class caused and does what the
    new one warrants (suppression, status event, outcome counters). Audited."""
    await use.reclassify(feedback_id, body.feedback_class, by=_actor(operator), note=body.note)
    return FeedbackDetailOut.detail(await use.review.get(None, feedback_id), with_raw=False)


@router.get("/audit", tags=["audit"])
async def list_audit(
    operator: Operator,
    use: UseCases,
    before: Before = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Every suppression change and re-classification, newest first (the operator's)."""
    items = [AuditOut(**row) for row in await use.review.audit(before=before, limit=limit)]
    return AuditPage(items=items, next=items[-1].id if len(items) == limit else None)


def create_http_api(
    settings: BouncesSettings, use_cases: BouncesUseCases, revoked_tokens: RevokedTokens
) -> FastAPI:
    """The API; tenant tokens in `revoked_tokens` are refused."""
    api = FastAPI(
        title="sendpool bounces", summary="Suppression lists, bounces and complaints, vendor webhooks"
    )
    api.state.settings = settings
    api.state.revoked_tokens = revoked_tokens
    api.state.use_cases = use_cases
    api.state.feedback_intake = use_cases.feedback_intake
    api.state.receive_webhook = use_cases.receive_webhook
    api.include_router(router)
    api.include_router(webhooks.router)
    api.include_router(unsubscribe.router)
    install_error_handlers(api)
    install_body_limit(
        api,
        settings.http_max_body_bytes,
        larger={r"/suppressions/import": settings.suppression_import_max_bytes},
    )
    return api
