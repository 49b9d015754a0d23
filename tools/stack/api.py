"""The catalog and scheduler HTTP APIs as one client, for the demo, the bench, the chaos run and the
end-to-end tests. Answers come back as the few fields the callers read; an error answer raises `ApiError`."""

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Self
from uuid import UUID

import httpx
from pydantic import BaseModel, ConfigDict

from shared.contracts import FINAL_STATUSES, MessageContent
from tools.stack.errors import RunFailed


class ApiError(RunFailed):
    def __init__(self, response: httpx.Response) -> None:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        request = response.request
        super().__init__(f"{request.method} {request.url.path} → {response.status_code}: {detail}")
        self.status_code = response.status_code
        self.detail = detail


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Created(_Reply):
    id: UUID


class Tenant(Created):
    token: str


class Pause(_Reply):
    reason: str
    by: str | None = None
    """Who paused it: its owner, the operator, or the bounces service (`bounces`)."""
    at: datetime


class Server(Created):
    name: str
    state: str
    pause: Pause | None = None
    reputation: dict[str, Any] | None = None
    """The bounce and complaint rates the bounces service last reported (`ServerReputation`)."""


class ServerTest(_Reply):
    ok: bool
    message: str


class Campaign(Created):
    state: str
    stop_reason: str | None = None
    total: int = 0
    expanded: int = 0
    counts: dict[str, int] = {}
    per_server: dict[str, int] = {}

    @property
    def final(self) -> int:
        """Messages that have left the pipeline: sent, failed or unknown."""
        return sum(self.counts.get(status.value, 0) for status in FINAL_STATUSES)


class SendpoolApi:
    """The catalog's and the scheduler's HTTP calls, made as one caller (the operator, or a tenant:
    `tenant_id` says which tenant, None for the operator)."""

    def __init__(
        self,
        http: httpx.Client,
        catalog_url: str,
        scheduler_url: str,
        token: str,
        *,
        tenant_id: UUID | None = None,
    ) -> None:
        self._http = http
        self._catalog_url = catalog_url
        self._scheduler_url = scheduler_url
        self._token = token
        self.tenant_id = tenant_id

    @property
    def token(self) -> str:
        """The token this client acts with (the demo prints the tenant's, to sign in to the console)."""
        return self._token

    def as_tenant(self, tenant: Tenant) -> Self:
        """The same APIs called as `tenant` (with its token)."""
        return type(self)(
            self._http, self._catalog_url, self._scheduler_url, tenant.token, tenant_id=tenant.id
        )

    def call(self, method: str, url: str, json: object = None) -> Any:
        """Any call to any service as this caller; its JSON answer (None when empty)."""
        response = self._http.request(
            method, url, json=json, headers={"Authorization": f"Bearer {self._token}"}
        )
        if response.is_error:
            raise ApiError(response)
        return response.json() if response.content else None

    def import_csv(self, list_id: UUID, text: str) -> Any:
        """`POST /lists/{id}/imports` with a CSV body; the import's report."""
        response = self._http.post(
            f"{self._scheduler_url}/lists/{list_id}/imports",
            content=text.encode(),
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "text/csv"},
        )
        if response.is_error:
            raise ApiError(response)
        return response.json()

    def _catalog(self, method: str, path: str, json: object = None) -> Any:
        return self.call(method, self._catalog_url + path, json)

    def _scheduler(self, method: str, path: str, json: object = None) -> Any:
        return self.call(method, self._scheduler_url + path, json)

    # catalog: the operator's

    def create_plan(self, name: str, *, server_ids: Iterable[UUID] = ()) -> Created:
        body = {"name": name, "allow_own_servers": True, "server_ids": [str(s) for s in server_ids]}
        return Created.model_validate(self._catalog("POST", "/plans", body))

    def create_tenant(self, name: str, *, plan_id: UUID | None = None) -> Tenant:
        body = {"name": name, "plan_id": None if plan_id is None else str(plan_id)}
        return Tenant.model_validate(self._catalog("POST", "/tenants", body))

    # catalog: servers

    def create_smtp_server(
        self, name: str, *, host: str, port: int, encryption: str = "none", **fields: Any
    ) -> Server:
        """An inactive server; `fields` adds the rest of the body (limits, warmup, destination_rules, …)."""
        body = {
            "name": name,
            "type": "smtp",
            "settings": {"host": host, "port": port, "encryption": encryption},
            **fields,
        }
        return Server.model_validate(self._catalog("POST", "/servers", body))

    def server(self, server_id: UUID) -> Server:
        return Server.model_validate(self._catalog("GET", f"/servers/{server_id}"))

    def change_server(self, server_id: UUID, **changes: Any) -> Server:
        return Server.model_validate(self._catalog("PATCH", f"/servers/{server_id}", changes))

    def test_server(self, server_id: UUID) -> ServerTest:
        return ServerTest.model_validate(self._catalog("POST", f"/servers/{server_id}/test"))

    def enable_server(self, server_id: UUID) -> Server:
        return Server.model_validate(self._catalog("POST", f"/servers/{server_id}/enable"))

    def disable_server(self, server_id: UUID) -> Server:
        return Server.model_validate(self._catalog("POST", f"/servers/{server_id}/disable"))

    def pause_server(self, server_id: UUID, reason: str) -> Server:
        return Server.model_validate(self._catalog("POST", f"/servers/{server_id}/pause", {"reason": reason}))

    def set_sending_policy(self, campaign_id: UUID, weights: Mapping[UUID, float] | None) -> None:
        """A weighted selection of servers, or every usable server when `weights` is None."""
        selection = [{"server_id": str(s), "weight": w} for s, w in (weights or {}).items()]
        self._catalog(
            "PUT",
            f"/campaigns/{campaign_id}/sending-policy",
            {"use_all": weights is None, "selection": selection},
        )

    # scheduler

    def create_list(self, name: str) -> Created:
        return Created.model_validate(self._scheduler("POST", "/lists", {"name": name}))

    def add_recipients(self, list_id: UUID, emails: Iterable[str]) -> int:
        """Returns how many recipients the list holds now."""
        body = {"recipients": [{"email": email} for email in emails]}
        return int(self._scheduler("POST", f"/lists/{list_id}/recipients", body)["total"])

    def create_campaign(self, name: str, *, list_id: UUID, content: MessageContent) -> Campaign:
        body = {
            "name": name,
            "list_id": str(list_id),
            "content": content.model_dump(mode="json", exclude_none=True),
        }
        return Campaign.model_validate(self._scheduler("POST", "/campaigns", body))

    def launch(self, campaign_id: UUID) -> None:
        self._scheduler("POST", f"/campaigns/{campaign_id}/launch")

    def resume(self, campaign_id: UUID) -> None:
        self._scheduler("POST", f"/campaigns/{campaign_id}/resume")

    def pause(self, campaign_id: UUID) -> None:
        self._scheduler("POST", f"/campaigns/{campaign_id}/pause")

    def cancel(self, campaign_id: UUID) -> None:
        self._scheduler("POST", f"/campaigns/{campaign_id}/cancel")

    def campaign(self, campaign_id: UUID) -> Campaign:
        return Campaign.model_validate(self._scheduler("GET", f"/campaigns/{campaign_id}"))

    # router

    def dry_run(self, router_url: str, campaign_id: UUID, messages: int) -> Any:
        """The router's forecast of how `messages` of the campaign would be split, and how long they take."""
        return self.call("POST", f"{router_url}/campaigns/{campaign_id}/dry-run", {"messages": messages})
