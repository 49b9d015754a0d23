"""The OpenAPI documents of the services with an HTTP API, generated from their FastAPI apps so docs cannot drift."""

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI


def _catalog() -> FastAPI:
    from services.catalog.entrypoints.http import create_http_api
    from services.catalog.settings import CatalogSettings

    # The document depends on the routes only; settings are read when requests are served.
    return create_http_api(CatalogSettings.model_construct())


def _scheduler() -> FastAPI:
    from services.scheduler.entrypoints.http import create_http_api
    from services.scheduler.settings import SchedulerSettings

    return create_http_api(SchedulerSettings.model_construct(), None, None)


def _router() -> FastAPI:
    from services.router.entrypoints.http import create_http_api
    from services.router.settings import RouterSettings

    return create_http_api(RouterSettings.model_construct(), None, {})


HTTP_APIS: dict[str, Callable[[], FastAPI]] = {
    "catalog": _catalog,
    "scheduler": _scheduler,
    "router": _router,
}


def openapi_document(service: str) -> dict[str, Any]:
    return HTTP_APIS[service]().openapi()


def openapi_text(service: str) -> str:
    """The document as it is written to docs/openapi/<service>.json."""
    return json.dumps(openapi_document(service), indent=2, ensure_ascii=False) + "\n"
