"""The OpenAPI documents in docs/openapi/ are generated from the HTTP APIs; they must be current."""

from pathlib import Path

import pytest

from ops.openapi_doc import HTTP_APIS, openapi_document, openapi_text

DOCS = Path(__file__).resolve().parents[3] / "docs" / "openapi"


@pytest.mark.parametrize("service", sorted(HTTP_APIS))
def test_the_published_document_is_current(service):
    published = DOCS / f"{service}.json"
    assert published.exists(), f"{published} is missing: run `make docs`"
    assert published.read_text() == openapi_text(service), f"{published.name} is stale: run `make docs`"


def test_the_catalog_document_shows_secrets_as_write_only():
    schemas = openapi_document("catalog")["components"]["schemas"]
    key = schemas["IdentityForm"]["properties"]["dkim_private_key"]
    assert any(option.get("writeOnly") for option in key["anyOf"])
    assert "dkim_private_key" not in schemas["IdentityOut"]["properties"]
