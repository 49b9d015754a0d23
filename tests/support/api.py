"""The end-to-end tests' side of `tools.stack`'s API client: a tenant of their own, and the message
their campaigns send. Everything else (servers on sinks, lists, campaigns, waiting for a state) is
`tools.stack.campaigns`, as the demo and the bench use it."""

from shared.contracts import MessageContent
from tools.stack.api import SendpoolApi
from tools.stack.campaigns import campaign_content, new_tenant
from tools.stack.run import Stack

CONTENT: MessageContent = campaign_content(
    from_address="news@sender.example",
    from_name="Sender",
    subject="Hello",
    text="Hello there",
    html="<p>Hello there</p>",
    unsubscribe_url="https://sender.example/u/1",
)


def tenant_of(pipeline: Stack, name: str) -> SendpoolApi:
    """A new tenant on no plan (only its own servers), as the API client acting as it."""
    return new_tenant(pipeline.operator_api(), name)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a request made with `token`."""
    return {"Authorization": f"Bearer {token}"}
