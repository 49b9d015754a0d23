"""A campaign from nothing to completed, through the public APIs: a tenant with its own servers on
local SMTP sinks, a list, a campaign with its sending policy, the launch, and the wait."""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from shared.contracts import MessageContent
from tools.stack.api import Campaign, SendpoolApi, Server
from tools.stack.errors import RunFailed, TimedOut
from tools.stack.sinks import SmtpSinks
from tools.stack.waiting import eventually


class CampaignStopped(RunFailed):
    pass


class CampaignTimedOut(TimedOut):
    pass


# --------------------------------------------------------------------------- the pieces


SENDER_DOMAIN = "example.com"
"""The From domain of `campaign_content`, which the demo's, bench's and chaos run's servers declare."""


def recipient_addresses(count: int, domain: str = "example.com") -> list[str]:
    """`user000000@example.com`, `user000001@example.com`, …: the recipients of a list of `count`."""
    return [f"user{n:06d}@{domain}" for n in range(count)]


def campaign_content(body_bytes: int = 2_000, **fields: str) -> MessageContent:
    """A message whose text and HTML parts add up to about `body_bytes`; `fields` override the
    others (subject, from_address, unsubscribe_url, …)."""
    paragraph = "sendpool sends this campaign through a pool of local SMTP servers. "
    text = (paragraph * (body_bytes // (2 * len(paragraph)) + 1))[: body_bytes // 2]
    return MessageContent.model_validate(
        {
            "from_address": f"news@{SENDER_DOMAIN}",
            "from_name": "sendpool demo",
            "subject": "Hello from sendpool",
            "text": text,
            "html": f"<p>{text[: max(body_bytes // 2 - 7, 0)]}</p>",
            **fields,
        }
    )


def new_tenant(operator: SendpoolApi, name: str, *, plan_id: UUID | None = None) -> SendpoolApi:
    """A tenant created by `operator`, as the API client acting as it."""
    return operator.as_tenant(operator.create_tenant(name, plan_id=plan_id))


def enabled_smtp_server(api: SendpoolApi, name: str, port: int, **fields: Any) -> Server:
    """A server on the SMTP sink at 127.0.0.1:`port`, tested and enabled; `fields` as in `create_smtp_server`."""
    server = api.create_smtp_server(name, host="127.0.0.1", port=port, **fields)
    test = api.test_server(server.id)
    if not test.ok:
        raise RunFailed(f"the test of {server.name} (127.0.0.1:{port}) failed: {test.message}")
    return api.enable_server(server.id)


def draft_campaign(
    api: SendpoolApi,
    addresses: Sequence[str],
    content: MessageContent,
    *,
    name: str | None = None,
    chunk_size: int = 1000,
) -> Campaign:
    """A list of `addresses` (uploaded `chunk_size` at a time) and a campaign to it, not launched."""
    mailing_list = api.create_list(f"{len(addresses)} recipients")
    for start in range(0, len(addresses), chunk_size):
        api.add_recipients(mailing_list.id, addresses[start : start + chunk_size])
    return api.create_campaign(name or content.subject, list_id=mailing_list.id, content=content)


def wait_for_state(
    api: SendpoolApi,
    campaign_id: UUID,
    state: str = "completed",
    *,
    timeout_seconds: float = 180.0,
    on_progress: Callable[[Campaign], None] = lambda _: None,
    interval_seconds: float = 0.2,
) -> Campaign:
    """Poll the campaign until it is in `state`; `CampaignStopped` if it stops meanwhile, and
    `CampaignTimedOut` (a `TimeoutError`) with its last report once `timeout_seconds` have passed."""
    last: list[Campaign] = []

    def reached() -> Campaign | None:
        campaign = api.campaign(campaign_id)
        last[:] = [campaign]
        on_progress(campaign)
        if campaign.state == state:
            return campaign
        if campaign.state == "stopped":
            raise CampaignStopped(f"campaign {campaign_id} stopped: {campaign.stop_reason}")
        return None

    try:
        return eventually(reached, timeout_seconds=timeout_seconds, interval_seconds=interval_seconds)
    except TimedOut:
        campaign = last[-1]
        raise CampaignTimedOut(
            f"campaign {campaign_id} not {state} after {timeout_seconds:g}s: {campaign.final} of "
            f"{campaign.total} messages final, state {campaign.state}, counts {campaign.counts}"
        ) from None


# --------------------------------------------------------------------------- the demo's, the bench's and the chaos run's


@dataclass(frozen=True)
class CampaignPlan:
    """What to provision: `weights` gives one weight per sink for a weighted selection; None sends
    through every server."""

    recipients: int
    weights: Sequence[float] | None
    body_bytes: int


@dataclass(frozen=True)
class ProvisionedCampaign:
    """A draft campaign of a new tenant, sending through its own servers, one per SMTP sink."""

    api: SendpoolApi  # acting as the tenant
    tenant_id: UUID
    servers: list[Server]
    campaign_id: UUID


def provision_campaign(
    operator: SendpoolApi,
    sink_ports: Sequence[int],
    plan: CampaignPlan,
    *,
    report: Callable[[str], None],
) -> ProvisionedCampaign:
    """Tenant, servers (tested and enabled), list and campaign with its sending policy: all ready to launch."""
    # A plan that grants no pool server: the tenant's own must carry the campaign.
    own_only = operator.create_plan("own servers only")
    api = new_tenant(operator, "demo tenant", plan_id=own_only.id)
    assert api.tenant_id is not None
    report(f"tenant {api.tenant_id} on a plan that grants no pool server")

    servers = []
    for number, port in enumerate(sink_ports, start=1):
        # Its identity names the From the campaign uses: a launch checks the From against it.
        server = enabled_smtp_server(api, f"sink {number}", port, identity={"from_domains": [SENDER_DOMAIN]})
        report(f"server {server.name} on 127.0.0.1:{port}: tested and enabled")
        servers.append(server)

    campaign = draft_campaign(
        api, recipient_addresses(plan.recipients), campaign_content(plan.body_bytes), name="sendpool tour"
    )
    report(f"campaign {campaign.id} to a list of {plan.recipients} recipients")
    weights = plan.weights
    policy = None if weights is None else {s.id: w for s, w in zip(servers, weights, strict=True)}
    api.set_sending_policy(campaign.id, policy)
    shown = "every server" if weights is None else " : ".join(f"{w:g}" for w in weights)
    report(f"sending policy {shown}")
    return ProvisionedCampaign(api, api.tenant_id, servers, campaign.id)


@dataclass(frozen=True)
class Delivered:
    campaign: Campaign
    received: list[int]
    """Messages each sink accepted from the launch on (a connection test may have sent one before)."""
    seconds: float
    """From the launch call until the scheduler reported the campaign completed."""


def launch_and_wait(
    provisioned: ProvisionedCampaign,
    sinks: SmtpSinks,
    *,
    timeout_seconds: float,
    on_progress: Callable[[Campaign], None] = lambda _: None,
) -> Delivered:
    """Launch the campaign and wait until it is completed; `RunFailed` if it stops or takes too long."""
    received_before = sinks.counts()
    started = time.monotonic()
    provisioned.api.launch(provisioned.campaign_id)
    campaign = wait_for_state(
        provisioned.api, provisioned.campaign_id, timeout_seconds=timeout_seconds, on_progress=on_progress
    )
    seconds = time.monotonic() - started
    received = [now - before for now, before in zip(sinks.counts(), received_before, strict=True)]
    return Delivered(campaign, received, seconds)
