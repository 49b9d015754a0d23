"""The AsyncAPI documents of the five services, generated from their FastStream apps so that the
message docs cannot drift from the code.

What a service consumes comes from its subscribers, and what it publishes from its publishers,
as the service declares them (`broker.publisher(..., schema=...)` in its adapters); a platform
team's systems that consume the status events find their schema in these documents.
"""

import json
from typing import Any

from faststream.specification import AsyncAPI

from ops.registry import SERVICES, service

DOCUMENTED: tuple[str, ...] = tuple(entry.name for entry in SERVICES)


def asyncapi_document(name: str) -> dict[str, Any]:
    """Building an app configures the process's logging: run this in a process of its own (the
    `sendpool asyncapi` command), not inside another service."""
    entry = service(name)
    broker = entry.document_app().broker
    assert broker is not None, "every service app is built with its broker"
    specification = AsyncAPI(
        broker,
        title=f"sendpool {name}",
        version="1",
        description=f"The messages the {name} service consumes and publishes on RabbitMQ."
        + (f" {entry.summary}" if entry.summary else ""),
    )
    document: dict[str, Any] = specification.to_specification().to_jsonable()
    return document


def asyncapi_text(name: str) -> str:
    """The document as it is written to docs/asyncapi/<service>.json."""
    return json.dumps(asyncapi_document(name), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
