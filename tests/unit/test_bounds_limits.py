"""The bounds make an oversized catalog event impossible: the largest server view, plan, policy and
tenant the contracts accept publish far below the outbox relay's cap (`CATALOG_EVENT_MAX_BYTES`).
And the largest campaign content the scheduler accepts fits in a request body under the default cap."""

import json
from datetime import date
from uuid import uuid4

import pytest
from pydantic import ValidationError

from shared.contracts import (
    CatalogEvent,
    CatalogEventKind,
    DestinationRule,
    MessageContent,
    PlanView,
    SendingLimits,
    SendingPolicy,
    ServerIdentity,
    ServerState,
    ServerView,
    TenantView,
    WarmupSchedule,
    WeightedServer,
)
from shared.limits import (
    BODY_MAX,
    CATALOG_EVENT_MAX_BYTES,
    DESTINATION_RULES_MAX,
    FROM_DOMAINS_MAX,
    HOST_MAX,
    HTTP_MAX_BODY_BYTES,
    NAME_MAX,
    REASON_MAX,
    SERVERS_MAX,
    SUBJECT_MAX,
    WARMUP_DAYS_MAX,
)

LIMITS = SendingLimits(per_second=10**9, per_minute=10**9, per_hour=10**9, per_day=10**9)
DOMAIN = ("a" * 62 + ".") * 3 + "b" * (HOST_MAX - 63 * 3 - 4) + ".com"


def largest_server_view() -> ServerView:
    return ServerView(
        id=uuid4(),
        tenant_id=uuid4(),
        name="n" * NAME_MAX,
        type="t" * 100,
        vendor="v" * 100,
        state=ServerState.PAUSED,
        limits=LIMITS,
        warmup=WarmupSchedule(kind="table", start_date=date(2026, 1, 1), table=[10**9] * WARMUP_DAYS_MAX),
        destination_rules=[DestinationRule(domain=DOMAIN, limits=LIMITS)] * DESTINATION_RULES_MAX,
        identity=ServerIdentity(
            from_domains=[DOMAIN] * FROM_DOMAINS_MAX, dkim_selector="s" * 63, return_path_domain=DOMAIN
        ),
        pause_reason="r" * REASON_MAX,
    )


def test_the_largest_events_the_contracts_accept_are_far_below_the_relays_cap():
    assert len(DOMAIN) == HOST_MAX
    events = [
        CatalogEvent(event_id=1, kind=CatalogEventKind.SERVER_CHANGED, server=largest_server_view()),
        CatalogEvent(
            event_id=2,
            kind=CatalogEventKind.PLAN_CHANGED,
            plan=PlanView(id=uuid4(), name="n" * NAME_MAX, server_ids=[uuid4() for _ in range(SERVERS_MAX)]),
        ),
        CatalogEvent(
            event_id=3,
            kind=CatalogEventKind.POLICY_CHANGED,
            policy=SendingPolicy(
                campaign_id=uuid4(),
                tenant_id=uuid4(),
                use_all=False,
                selection=[WeightedServer(server_id=uuid4(), weight=1.5) for _ in range(SERVERS_MAX)],
            ),
        ),
        CatalogEvent(
            event_id=4,
            kind=CatalogEventKind.TENANT_CHANGED,
            tenant=TenantView(id=uuid4(), name="n" * NAME_MAX),
        ),
    ]
    for event in events:
        assert len(event.model_dump_json().encode()) < CATALOG_EVENT_MAX_BYTES / 4, event.kind


def test_one_more_destination_rule_than_the_limit_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as refused:
        ServerView.model_validate(
            largest_server_view().model_dump()
            | {"destination_rules": [{"domain": DOMAIN, "limits": {}}] * (DESTINATION_RULES_MAX + 1)}
        )
    assert refused.value.errors()[0]["loc"] == ("destination_rules",)


def test_the_largest_campaign_content_fits_the_default_body_cap():
    content = MessageContent(
        from_address="a@example.com", subject="s" * SUBJECT_MAX, text="t" * BODY_MAX, html="<" * BODY_MAX
    )
    body = json.dumps({"name": "n" * NAME_MAX, "list_id": str(uuid4()), "content": content.model_dump()})
    assert len(body.encode()) < HTTP_MAX_BODY_BYTES


@pytest.mark.parametrize("field", ["subject", "text", "html"])
def test_content_past_its_bound_is_refused_naming_the_field(field):
    too_long = "x" * ((SUBJECT_MAX if field == "subject" else BODY_MAX) + 1)
    with pytest.raises(ValidationError) as refused:
        MessageContent.model_validate({"from_address": "a@example.com", "subject": "s", field: too_long})
    assert refused.value.errors()[0]["loc"] == (field,)
