"""Server pages: the type picker, the generated form, the detail page and its actions.

Everything is asked of the catalog with the signed-in token: a tenant sees only what the catalog
shows its token (another tenant's server is the catalog's 404, which the error page shows).
"""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from services.console.app.ports import ApiRefused, Apis
from services.console.domain.enablement import Enablement, enablement
from services.console.domain.forms import (
    LIMIT_PERIODS,
    WARMUP_KINDS,
    FormField,
    FormInvalid,
    changed_settings,
    errors_by_field,
    identity_from_form,
    limit_fields,
    limits_from_form,
    settings_fields,
    settings_from_form,
    warmup_from_form,
)
from services.console.domain.session import Session
from shared.contracts import WarmupSchedule

OPERATOR_ONLY_REASON = (
    "Only the operator adds this type: it sends from the platform's own machines or IP addresses "
    "(the operator can grant such a pool server to your plan)."
)
ACTIONS = ("test", "test-send", "enable", "disable", "pause", "resume", "verify")
REDIRECT_ON_SUCCESS = frozenset({"enable", "disable", "pause", "resume", "verify"})


class NoSuchPage(Exception):
    """The path names no server or type this console can show (a malformed id, an unknown type)."""


def server_uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise NoSuchPage(f"{text!r} is not a server id") from None


def form_values(form: Mapping[str, Any]) -> dict[str, str]:
    """A submitted form's text fields (the last value of each)."""
    return {key: value for key, value in form.items() if isinstance(value, str)}


@dataclass(frozen=True)
class Notice:
    kind: str
    """`ok`, `error` or `warn` (the CSS classes of `.notice`)."""
    text: str


@dataclass(frozen=True)
class TypeCard:
    name: str
    label: str
    title: str
    vendor: str
    integration: str
    available: bool
    reason: str = ""


async def type_cards(apis: Apis, session: Session) -> list[TypeCard]:
    """One card per server type; an operator-only one is shown unavailable to a tenant, with why."""
    types = await apis.catalog.get("/server-types", session.token)
    return [
        TypeCard(
            name=item["name"],
            label=item["label"],
            title=item["title"],
            vendor=item["vendor"],
            integration=item["integration"],
            available=session.is_operator or not item["operator_only"],
            reason="" if session.is_operator or not item["operator_only"] else OPERATOR_ONLY_REASON,
        )
        for item in types
    ]


def _type_named(types: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The catalog's `ServerTypeOut` of `name` among `types`; None if it has no such type."""
    return next((item for item in types if item["name"] == name), None)


async def _server_type(apis: Apis, session: Session, name: str) -> dict[str, Any]:
    found = _type_named(await apis.catalog.get("/server-types", session.token), name)
    if found is None:
        raise NoSuchPage(f"there is no server type {name!r}")
    return found


@dataclass(frozen=True)
class ServerForm:
    server_type: dict[str, Any]
    label: str
    settings: list[FormField]
    limits: list[FormField]
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    loose_errors: list[str] = field(default_factory=list)
    tenants: list[dict[str, Any]] = field(default_factory=list)
    """The operator's choice of owner (empty for a tenant, who adds its own)."""
    warmup_kinds: tuple[str, ...] = WARMUP_KINDS
    editing: bool = False
    server: dict[str, Any] | None = None


def _all_names(view: ServerForm) -> list[str]:
    names = [item.name for item in (*view.settings, *view.limits)]
    names += ["name", "tenant_id", "settings", "limits", "warmup", "identity", "type"]
    names += [
        f"warmup.{key}" for key in ("kind", "start_date", "start_volume", "target_volume", "days", "table")
    ]
    names += [
        f"identity.{key}"
        for key in ("from_domains", "dkim_selector", "dkim_private_key", "return_path_domain")
    ]
    return names


def _with_errors(view: ServerForm, errors: Mapping[str, str]) -> ServerForm:
    placed, loose = errors_by_field(errors, _all_names(view))
    return ServerForm(**{**view.__dict__, "errors": placed, "loose_errors": loose})


async def new_server_form(
    apis: Apis, session: Session, type_name: str, values: Mapping[str, str] | None = None
) -> ServerForm:
    """The empty form of `type_name` (or as submitted, with `values`)."""
    if session.is_operator:
        server_type, tenants = await asyncio.gather(
            _server_type(apis, session, type_name), apis.catalog.get("/tenants", session.token)
        )
    else:
        server_type, tenants = await _server_type(apis, session, type_name), []
    if server_type["operator_only"] and not session.is_operator:
        raise ApiRefused("console", 403, OPERATOR_ONLY_REASON)
    return ServerForm(
        server_type=server_type,
        label=server_type["label"],
        settings=settings_fields(server_type["settings_schema"], server_type["secret_fields"], values=values),
        limits=limit_fields(values),
        values={key: value for key, value in (values or {}).items() if not _is_secret(server_type, key)},
        tenants=sorted(tenants, key=lambda tenant: str(tenant.get("name", ""))),
    )


def _is_secret(server_type: Mapping[str, Any], key: str) -> bool:
    return key == "identity.dkim_private_key" or key.removeprefix("settings.") in set(
        server_type["secret_fields"]
    )


@dataclass(frozen=True)
class Created:
    server_id: str | None
    form: ServerForm | None


async def create_server(apis: Apis, session: Session, type_name: str, form: Mapping[str, str]) -> Created:
    """`POST /servers` from the submitted form: the new server's id, or the form with its errors."""
    view = await new_server_form(apis, session, type_name, form)
    schema = view.server_type["settings_schema"]
    secrets = view.server_type["secret_fields"]
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"name": form.get("name", "").strip(), "type": type_name}
    for key, read in (
        ("settings", lambda: settings_from_form(schema, form, secrets)),
        ("limits", lambda: limits_from_form(form)),
        ("warmup", lambda: warmup_from_form(form)),
        ("identity", lambda: identity_from_form(form)),
    ):
        try:
            value = read()
        except FormInvalid as invalid:
            errors.update(invalid.errors)
            continue
        if value is not None:
            body[key] = value
    tenant_id = form.get("tenant_id", "").strip()
    if session.is_operator and tenant_id:
        body["tenant_id"] = tenant_id
    if not body["name"]:
        errors["name"] = "give the server a name"
    if errors:
        return Created(None, _with_errors(view, errors))
    try:
        created = await apis.catalog.post("/servers", session.token, json=body)
    except ApiRefused as refused:
        if refused.status not in (403, 409, 422):
            raise
        return Created(None, _with_errors(view, refused.fields or {"request": refused.detail}))
    return Created(str(created["id"]), None)


@dataclass(frozen=True)
class SettingRow:
    label: str
    value: Any
    secret: bool = False
    required: bool = False


@dataclass(frozen=True)
class ServerDetail:
    server: dict[str, Any]
    label: str
    type_title: str
    settings: list[SettingRow]
    enablement: Enablement
    managed: bool
    """The user may change it (not a pool server its plan only lets it use)."""
    owner: str
    todays_cap: int | None
    notice: Notice | None = None


def _owner(server: Mapping[str, Any], session: Session, tenants: list[dict[str, Any]]) -> str:
    if server.get("shared"):
        return "a pool server your plan lets you use"
    tenant_id = server.get("tenant_id")
    if not tenant_id:
        return "the pool (operator)"
    if not session.is_operator:
        return "you"
    names = {str(tenant["id"]): tenant.get("name") for tenant in tenants}
    return f"tenant {names.get(str(tenant_id)) or tenant_id}"


def _todays_cap(server: Mapping[str, Any]) -> int | None:
    warmup = server.get("warmup")
    if not warmup:
        return None
    return WarmupSchedule.model_validate(warmup).daily_cap(date.today())


def _detail(
    server: dict[str, Any],
    server_type: Mapping[str, Any] | None,
    session: Session,
    tenants: list[dict[str, Any]],
    notice: Notice | None = None,
) -> ServerDetail:
    rows: list[SettingRow] = []
    if server_type is not None:
        secret_names = set(server_type["secret_fields"])
        required = set(server_type["settings_schema"].get("required", ()))
        for built in settings_fields(server_type["settings_schema"], secret_names, values=server["settings"]):
            key = built.name.removeprefix("settings.")
            rows.append(
                SettingRow(
                    built.label,
                    None if built.secret else server["settings"].get(key),
                    secret=built.secret,
                    required=key in required,
                )
            )
    else:
        rows = [SettingRow(key, value) for key, value in server["settings"].items()]
    return ServerDetail(
        server=server,
        label=server_type["label"] if server_type else server["type"],
        type_title=server_type["title"] if server_type else server["type"],
        settings=rows,
        enablement=enablement(server, is_operator=session.is_operator),
        managed=not server.get("shared"),
        owner=_owner(server, session, tenants),
        todays_cap=_todays_cap(server),
        notice=notice,
    )


async def load_server(
    apis: Apis, session: Session, server_id: UUID, notice: Notice | None = None
) -> ServerDetail:
    """The server as the catalog shows this token (another tenant's: the catalog's 404)."""
    server, server_type, tenants = await _server_and_type(
        apis, session, server_id, with_tenants=session.is_operator
    )
    return _detail(server, server_type, session, tenants, notice)


async def _server_and_type(
    apis: Apis, session: Session, server_id: UUID, *, with_tenants: bool
) -> tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]]:
    """The server, its type (None if the catalog no longer has it) and, `with_tenants`, the tenants
    (to name its owner), asked at once."""
    calls = [
        apis.catalog.get(f"/servers/{server_id}", session.token),
        apis.catalog.get("/server-types", session.token),
    ]
    if with_tenants:
        calls.append(apis.catalog.get("/tenants", session.token))
    server, types, *rest = await asyncio.gather(*calls)
    return server, _type_named(types, server["type"]), rest[0] if rest else []


@dataclass(frozen=True)
class ActionOutcome:
    detail: ServerDetail
    succeeded: bool


async def run_action(
    apis: Apis, session: Session, server_id: UUID, action: str, form: Mapping[str, str]
) -> ActionOutcome:
    """One action of the detail page; what the catalog answered becomes the page's notice (a refusal
    too: 403, 409 and 422 are shown with the catalog's reason, not as an error page)."""
    if action not in ACTIONS:
        raise NoSuchPage(f"there is no action {action!r}")
    path = f"/servers/{server_id}/{action}"
    notice: Notice
    succeeded = False
    try:
        if action == "test":
            result = await apis.catalog.post(path, session.token)
            notice = Notice("ok" if result["ok"] else "error", result["message"])
            succeeded = bool(result["ok"])
        elif action == "test-send":
            body: dict[str, Any] = {"to": form.get("to", "").strip()}
            if form.get("from_address", "").strip():
                body["from_address"] = form["from_address"].strip()
            if not body["to"]:
                notice = Notice("error", "Give the address the test email goes to.")
            else:
                result = await apis.catalog.post(path, session.token, json=body)
                succeeded = bool(result["ok"])
                notice = (
                    Notice("ok", f"Test email sent to {result['to']}: {result['message']}")
                    if result["ok"]
                    else Notice(
                        "error", f"The test email to {result['to']} was not sent: {result['message']}"
                    )
                )
        elif action == "pause":
            reason = form.get("reason", "").strip()
            if not reason:
                notice = Notice(
                    "error", "Give a reason to pause the server: whoever reads it will want to know why."
                )
            else:
                await apis.catalog.post(path, session.token, json={"reason": reason})
                notice, succeeded = Notice("ok", "Paused."), True
        elif action == "disable":
            reason = form.get("reason", "").strip()
            json = {"reason": reason} if session.is_operator and reason else None
            await apis.catalog.post(path, session.token, json=json)
            notice, succeeded = Notice("ok", "Disabled."), True
        else:
            await apis.catalog.post(path, session.token)
            done = {"enable": "Enabled.", "resume": "Resumed.", "verify": "DNS checked."}
            notice, succeeded = Notice("ok", done[action]), True
    except ApiRefused as refused:
        if refused.status not in (403, 409, 422):
            raise
        # A 422's detail already names each field (`settings.host: …`).
        notice = Notice("error", f"The catalog refused: {refused.detail}")
    return ActionOutcome(await load_server(apis, session, server_id, notice), succeeded)


async def delete_server(apis: Apis, session: Session, server_id: UUID) -> None:
    await apis.catalog.delete(f"/servers/{server_id}", session.token)


async def edit_form(
    apis: Apis, session: Session, server_id: UUID, values: Mapping[str, str] | None = None
) -> ServerForm:
    """The edit form: name, settings (secrets blank: unchanged) and limits, filled from the server."""
    server, server_type, _ = await _server_and_type(apis, session, server_id, with_tenants=False)
    if server_type is None:
        raise NoSuchPage(f"the type {server['type']!r} is not installed in the catalog")
    current: dict[str, Any] = {"name": server["name"]}
    current.update({f"limits.{key}": value for key, value in server["limits"].items() if value})
    filled: Mapping[str, Any] = values if values is not None else {**server["settings"], **current}
    return ServerForm(
        server_type=server_type,
        label=server_type["label"],
        settings=settings_fields(
            server_type["settings_schema"], server_type["secret_fields"], values=filled, editing=True
        ),
        limits=limit_fields(filled),
        values={key: str(value) for key, value in filled.items() if not _is_secret(server_type, key)},
        editing=True,
        server=server,
    )


async def save_edit(
    apis: Apis, session: Session, server_id: UUID, form: Mapping[str, str]
) -> ServerForm | None:
    """`PATCH /servers/{id}` with what changed; None when saved, else the form with its errors."""
    view = await edit_form(apis, session, server_id, form)
    server = view.server or {}
    schema = view.server_type["settings_schema"]
    secrets = view.server_type["secret_fields"]
    errors: dict[str, str] = {}
    body: dict[str, Any] = {}
    name = form.get("name", "").strip()
    if not name:
        errors["name"] = "give the server a name"
    elif name != server.get("name"):
        body["name"] = name
    try:
        settings = changed_settings(
            server.get("settings", {}), settings_from_form(schema, form, secrets), secrets
        )
        if settings:
            body["settings"] = settings
    except FormInvalid as invalid:
        errors.update(invalid.errors)
    try:
        limits = limits_from_form(form)
        current_limits = {key: value for key, value in server.get("limits", {}).items() if value}
        if limits != current_limits:
            body["limits"] = {key: limits.get(key) for key in LIMIT_PERIODS}
    except FormInvalid as invalid:
        errors.update(invalid.errors)
    if errors:
        return _with_errors(view, errors)
    if not body:
        return None
    try:
        await apis.catalog.patch(f"/servers/{server_id}", session.token, json=body)
    except ApiRefused as refused:
        if refused.status not in (403, 409, 422):
            raise
        return _with_errors(view, refused.fields or {"request": refused.detail})
    return None
