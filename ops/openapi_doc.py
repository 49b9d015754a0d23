"""The OpenAPI documents of the services with an HTTP API, generated from their FastAPI apps so docs cannot drift."""

import json
from typing import Any

from ops.registry import SERVICES, service

HTTP_APIS: tuple[str, ...] = tuple(entry.name for entry in SERVICES if entry.has_http_api)


def openapi_document(name: str) -> dict[str, Any]:
    api = service(name).document_app().http_api
    if api is None:
        raise ValueError(f"the {name} service serves no HTTP API")
    return api.openapi()


def openapi_text(name: str) -> str:
    """The document as it is written to docs/openapi/<service>.json."""
    return json.dumps(openapi_document(name), indent=2, ensure_ascii=False) + "\n"
