"""A small client for the catalog and scheduler HTTP APIs, as a tenant would use them."""

from dataclasses import dataclass

import httpx

from tests.support.waiting import wait_for


@dataclass
class TenantClient:
    catalog: httpx.Client
    scheduler: httpx.Client
    tenant_id: str

    @classmethod
    def create(
        cls, operator: httpx.Client, scheduler_url: str, name: str, plan_id: str | None = None
    ) -> "TenantClient":
        response = operator.post("/tenants", json={"name": name, "plan_id": plan_id})
        response.raise_for_status()
        tenant = response.json()
        headers = {"Authorization": f"Bearer {tenant['token']}"}
        return cls(
            catalog=httpx.Client(base_url=str(operator.base_url), headers=headers, timeout=60),
            scheduler=httpx.Client(base_url=scheduler_url, headers=headers, timeout=60),
            tenant_id=tenant["id"],
        )

    def smtp_server(self, name: str, port: int, *, enable: bool = True, **fields) -> dict:
        """A server on a local sink; `fields` adds limits, warmup, destination_rules, …"""
        response = self.catalog.post(
            "/servers",
            json={
                "name": name,
                "type": "smtp",
                "settings": {"host": "127.0.0.1", "port": port, "encryption": "none"},
                **fields,
            },
        )
        response.raise_for_status()
        server = response.json()
        if enable:
            test = self.catalog.post(f"/servers/{server['id']}/test")
            test.raise_for_status()
            assert test.json()["ok"], test.json()
            self.catalog.post(f"/servers/{server['id']}/enable").raise_for_status()
        return server

    def recipients_list(
        self, count: int, domain: str = "example.com", emails: list[str] | None = None
    ) -> str:
        emails = emails or [f"user{i:06d}@{domain}" for i in range(count)]
        response = self.scheduler.post("/lists", json={"name": f"{len(emails)} recipients"})
        response.raise_for_status()
        list_id = response.json()["id"]
        count = len(emails)
        for start in range(0, count, 5000):
            chunk = [{"email": e} for e in emails[start : start + 5000]]
            self.scheduler.post(f"/lists/{list_id}/recipients", json={"recipients": chunk}).raise_for_status()
        return list_id

    def campaign(self, list_id: str, subject: str = "Hello") -> str:
        response = self.scheduler.post(
            "/campaigns",
            json={
                "name": subject,
                "list_id": list_id,
                "content": {
                    "from_address": "news@sender.example",
                    "from_name": "Sender",
                    "subject": subject,
                    "text": "Hello there",
                    "html": "<p>Hello there</p>",
                    "unsubscribe_url": "https://sender.example/u/1",
                },
            },
        )
        response.raise_for_status()
        return response.json()["id"]

    def narrow(self, campaign_id: str, weights: dict[str, float]) -> None:
        self.catalog.put(
            f"/campaigns/{campaign_id}/sending-policy",
            json={
                "use_all": False,
                "selection": [{"server_id": s, "weight": w} for s, w in weights.items()],
            },
        ).raise_for_status()

    def launch(self, campaign_id: str) -> None:
        self.scheduler.post(f"/campaigns/{campaign_id}/launch").raise_for_status()

    def resume(self, campaign_id: str) -> None:
        self.scheduler.post(f"/campaigns/{campaign_id}/resume").raise_for_status()

    def wait_until(self, campaign_id: str, state: str, timeout: float = 180.0) -> dict:
        last: dict = {}

        def reached() -> dict | None:
            last.update(self.status(campaign_id))
            return dict(last) if last["state"] == state else None

        try:
            return wait_for(reached, timeout=timeout, what=f"campaign {state}")
        except TimeoutError as exc:
            raise TimeoutError(
                f"campaign {campaign_id} not {state} after {timeout}s; last status: {last}"
            ) from exc

    def status(self, campaign_id: str) -> dict:
        response = self.scheduler.get(f"/campaigns/{campaign_id}")
        response.raise_for_status()
        return response.json()
