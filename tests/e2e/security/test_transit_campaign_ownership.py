"""Taking over another tenant's campaign: the attack, against the real catalog, scheduler, router
and delivery workers.

A campaign id is no secret for long (it appears in links, reports, support tickets). Before the
catalog asked the scheduler who owns a campaign, the first tenant to PUT a sending policy for an
id owned that policy: a squatter setting it before the owner made every one of the owner's
messages be dead-lettered by the router, and could claim ids of campaigns not created yet.
"""

import asyncio
from uuid import UUID, uuid4

import pytest

from shared.contracts import CampaignOwner, CampaignOwnerRequest
from shared.rpc import RpcClient
from shared.topology import SCHEDULER_RPC_QUEUE_NAME
from tests.support.api import CONTENT, tenant_of
from tests.support.smtp import SmtpSink
from tools.stack.api import ApiError, SendpoolApi
from tools.stack.campaigns import draft_campaign, enabled_smtp_server, recipient_addresses, wait_for_state

pytestmark = pytest.mark.e2e

RECIPIENTS = 20


def refused_policy(api: SendpoolApi, campaign_id: UUID, weights: dict[UUID, float] | None) -> ApiError:
    with pytest.raises(ApiError) as refused:
        api.set_sending_policy(campaign_id, weights)
    return refused.value


def test_a_tenant_cannot_set_the_policy_of_another_tenants_campaign(pipeline):
    owner = tenant_of(pipeline, "campaign owner")
    squatter = tenant_of(pipeline, "squatter")
    with SmtpSink() as owners_sink, SmtpSink() as squatters_sink:
        owners_server = enabled_smtp_server(owner, "owner's relay", owners_sink.port)
        squatters_server = enabled_smtp_server(squatter, "squatter's relay", squatters_sink.port)
        campaign = draft_campaign(owner, recipient_addresses(RECIPIENTS), CONTENT)

        # Before the owner sets a policy, and after: the squatter is told the campaign does not exist.
        for weights in (None, {squatters_server.id: 1.0}):
            refused = refused_policy(squatter, campaign.id, weights)
            assert refused.status_code == 404, refused.detail
            assert refused.detail == f"campaign {campaign.id} not found"
        owner.set_sending_policy(campaign.id, {owners_server.id: 1.0})
        assert refused_policy(squatter, campaign.id, None).status_code == 404
        with pytest.raises(ApiError) as unseen:
            squatter.call("GET", f"{pipeline.catalog_url}/campaigns/{campaign.id}/sending-policy")
        assert unseen.value.status_code == 404

        # The owner's campaign goes out under the owner's policy, through the owner's server only.
        owner.launch(campaign.id)
        done = wait_for_state(owner, campaign.id, "completed", timeout_seconds=120)
        assert done.counts.get("sent") == RECIPIENTS, done.counts
        assert done.per_server == {str(owners_server.id): RECIPIENTS}
        assert len(owners_sink.messages) == RECIPIENTS and squatters_sink.messages == []


def test_an_id_no_campaign_has_yet_cannot_be_claimed(pipeline):
    squatter = tenant_of(pipeline, "pre-claimer")
    refused = refused_policy(squatter, uuid4(), None)
    assert refused.status_code == 404

    # Campaign ids are the scheduler's to choose: a body naming one is refused, not obeyed.
    chosen = uuid4()
    listed = squatter.create_list("one")
    with pytest.raises(ApiError) as not_obeyed:
        squatter.call(
            "POST",
            f"{pipeline.scheduler_url}/campaigns",
            {
                "id": str(chosen),
                "name": "mine",
                "list_id": str(listed.id),
                "content": CONTENT.model_dump(mode="json", exclude_none=True),
            },
        )
    assert not_obeyed.value.status_code == 422


def test_the_scheduler_answers_who_owns_a_campaign(pipeline):
    owner = tenant_of(pipeline, "asked about")
    campaign = draft_campaign(owner, recipient_addresses(1), CONTENT)

    async def ask(campaign_id: UUID) -> CampaignOwner:
        rpc = RpcClient(pipeline.amqp_url, name="e2e-security")
        try:
            reply = await rpc.request(
                CampaignOwnerRequest(campaign_id=campaign_id).model_dump_json().encode(),
                queue=SCHEDULER_RPC_QUEUE_NAME,
                timeout=10,
            )
        finally:
            await rpc.close()
        return CampaignOwner.model_validate_json(reply)

    assert asyncio.run(ask(campaign.id)).tenant_id == owner.tenant_id
    assert asyncio.run(ask(unknown := uuid4())) == CampaignOwner(campaign_id=unknown, tenant_id=None)
