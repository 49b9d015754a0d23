"""Whether an endpoint's host may be reached, under the platform's egress policy (`shared.egress`)."""

from shared.egress import EgressPolicy, EgressRefused, UnknownHost


class EgressDestinationCheck:
    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy

    async def refusal(self, host: str, port: int) -> str | None:
        try:
            await self._policy.addresses(host, port)
        except EgressRefused as refused:
            return str(refused)
        except UnknownHost as unknown:
            return f"{unknown}: register a host that resolves"
        return None
