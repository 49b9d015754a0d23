"""Personalization and one-click unsubscribe end to end (issue 13's "Done when"): real services,
RabbitMQ, PostgreSQL and an SMTP sink.

A campaign whose subject and bodies name `{{ first_name }}` and a custom field renders per recipient
at the sink; one with a bad template is refused at creation (422 naming the part). A received
message's `List-Unsubscribe` URL, POSTed as a mailbox provider's one-click does (RFC 8058),
suppresses its recipient for the tenant, and the next campaign to the list skips it as `suppressed`.
"""

from email import message_from_bytes
from email.policy import default as default_policy

import httpx
import pytest

from shared.contracts import MessageContent
from tests.support.api import tenant_of
from tests.support.smtp import SmtpSink
from tools.stack.api import ApiError
from tools.stack.campaigns import enabled_smtp_server, wait_for_state

pytestmark = pytest.mark.e2e

PEOPLE = {
    "ada@readers.example": ("Ada Lovelace", {"plan": "gold"}),
    "bob@readers.example": ("Bob Stone", {}),
    "cyd@readers.example": ("Cyd", {"plan": "silver"}),
}
CONTENT = MessageContent(
    from_address="news@sender.example",
    from_name="Sender",
    subject="{{ first_name }}, your {{ plan | default('free') }} plan",
    text="Dear {{ name }},\nyour plan: {{ plan | default('free') }}.\nUnsubscribe: {{ unsubscribe_url }}\n",
    html='<p>Dear {{ first_name }}</p><a href="{{ unsubscribe_url }}">unsubscribe</a>',
)


def test_personalized_campaign_then_one_click_unsubscribe_suppresses_for_the_next_campaign(pipeline):
    tenant = tenant_of(pipeline, "personalization")
    with SmtpSink() as sink:
        server = enabled_smtp_server(tenant, "sink", sink.port)
        mailing_list = tenant.create_list("personalized")
        body = {"recipients": [{"email": e, "name": n, "fields": f} for e, (n, f) in PEOPLE.items()]}
        tenant.call("POST", f"{pipeline.scheduler_url}/lists/{mailing_list.id}/recipients", body)

        # ---- a bad template and an unknown field are refused at creation, naming the part
        with pytest.raises(ApiError) as refused:
            bad = CONTENT.model_copy(update={"subject": "{{ first_name ", "html": "{{ coupon }}"})
            tenant.create_campaign("bad", list_id=mailing_list.id, content=bad)
        assert refused.value.status_code == 422
        where = {tuple(error["loc"]): error["msg"] for error in refused.value.detail}
        assert where.keys() == {("body", "content", "subject"), ("body", "content", "html")}
        assert (
            "line 1" in where[("body", "content", "subject")]
            and "coupon" in where[("body", "content", "html")]
        )

        # ---- the first campaign renders per recipient
        first = tenant.create_campaign("first", list_id=mailing_list.id, content=CONTENT)
        tenant.set_sending_policy(first.id, {server.id: 1})
        tenant.launch(first.id)
        report = wait_for_state(tenant, first.id, "completed", timeout_seconds=60)
        assert report.counts.get("sent") == len(PEOPLE), report.counts
        mails = {
            message.rcpt_tos[0]: message_from_bytes(message.data, policy=default_policy)
            for message in sink.messages
        }
        assert {to: mail["Subject"] for to, mail in mails.items()} == {
            "ada@readers.example": "Ada, your gold plan",
            "bob@readers.example": "Bob, your free plan",
            "cyd@readers.example": "Cyd, your silver plan",
        }
        bob = mails["bob@readers.example"]
        link = bob["List-Unsubscribe"].strip("<>")
        assert link.startswith(f"{pipeline.bounces_url}/unsubscribe/")
        assert bob["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert f"Unsubscribe: {link}" in bob.get_body(("plain",)).get_content()
        assert "Dear Bob Stone," in bob.get_body(("plain",)).get_content()

        # ---- the one-click POST, as a mailbox provider sends it, with no credential but the link
        clicked = httpx.post(
            link,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=10,
        )
        assert clicked.status_code == 200
        listed = tenant.call("GET", f"{pipeline.bounces_url}/suppressions?source=unsubscribe")
        assert [item["address"] for item in listed["items"]] == ["bob@readers.example"]

        # ---- the next campaign to the list skips the unsubscribed address
        already = len(sink.messages)
        second = tenant.create_campaign("second", list_id=mailing_list.id, content=CONTENT)
        tenant.set_sending_policy(second.id, {server.id: 1})
        tenant.launch(second.id)
        report = wait_for_state(tenant, second.id, "completed", timeout_seconds=60)
        assert (report.counts.get("sent"), report.counts.get("suppressed")) == (2, 1), report.counts
        assert sorted(m.rcpt_tos[0] for m in sink.messages[already:]) == [
            "ada@readers.example",
            "cyd@readers.example",
        ]
