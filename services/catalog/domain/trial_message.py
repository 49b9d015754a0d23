"""The one message `POST /servers/{id}/test-send` pushes through a server, from an address it may send for."""

from services.catalog.domain.servers import Server
from shared.contracts import MessageContent
from shared.errors import InvalidInput


def trial_message(server: Server, from_address: str | None) -> MessageContent:
    """A short plain message; without `from_address` it comes from the server's first from-domain."""
    domains = server.identity.public.from_domains if server.identity else []
    if from_address is None:
        if not domains:
            raise InvalidInput.field(
                "from_address",
                "give a from_address: the server has no identity.from_domains to pick a sender from",
            )
        from_address = f"test@{domains[0]}"
    elif domains and from_address.rpartition("@")[2].lower() not in domains:
        raise InvalidInput.field(
            "from_address", f"the server sends for {', '.join(domains)} only (its identity.from_domains)"
        )
    return MessageContent(
        from_address=from_address,
        from_name="sendpool",
        subject=f"sendpool test message through {server.name}",
        text=(
            f"This message was sent by sendpool to test the sending server {server.name!r} "
            f"({server.type}). If it reached you, the server can deliver mail.\n"
        ),
    )
