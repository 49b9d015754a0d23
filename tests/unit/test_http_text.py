"""NUL characters are refused at every API's door, 422 naming the field (`shared.http_text`)."""

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from shared.http_errors import install_error_handlers
from shared.http_limits import install_body_limit


class Item(BaseModel):
    name: str
    tags: list[dict[str, str]] = []


def make_api() -> FastAPI:
    api = FastAPI()

    @api.post("/items")
    async def create(item: Item) -> Item:
        return item

    @api.get("/items")
    async def search(q: str = "") -> dict[str, str]:
        return {"q": q}

    install_body_limit(api, 10_000)
    install_error_handlers(api)
    return api


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=make_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        yield http


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ('{"name": "a\\u0000b"}', ["body", "name"]),
        ('{"name": "a", "tags": [{"k": "v"}, {"k": "\\u0000"}]}', ["body", "tags", 1, "k"]),
        ('{"name": "a", "tags": [{"k\\u0000": "v"}]}', ["body", "tags", 0, "k"]),
    ],
)
async def test_a_nul_in_a_json_body_is_refused_naming_the_field(client, body, location):
    response = await client.post("/items", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == location
    assert "NUL" in response.json()["detail"][0]["msg"]


async def test_a_nul_in_the_query_is_refused_naming_the_parameter(client):
    response = await client.get("/items", params={"q": "a\x00b"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "q"]


async def test_text_that_only_looks_like_a_nul_passes(client):
    # An escaped backslash followed by `u0000` is the six characters \u0000, not a NUL.
    response = await client.post(
        "/items", content='{"name": "\\\\u0000"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json()["name"] == "\\u0000"
    assert (await client.get("/items", params={"q": "100%"})).json() == {"q": "100%"}


async def test_a_body_over_the_cap_is_still_refused_by_the_cap(client):
    response = await client.post("/items", json={"name": "\x00" + "x" * 20_000})
    assert response.status_code == 413


@pytest.mark.parametrize("content_type", ["text/csv", "text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_not_sent_as_json_is_left_unread_and_is_never_taken_as_json(client, content_type):
    # Such bodies are passed on unchecked (a CSV import may be a gigabyte): FastAPI must refuse them
    # as JSON, so a NUL cannot get past the check by changing the content type.
    response = await client.post(
        "/items", content='{"name": "a\\u0000b"}', headers={"content-type": content_type}
    )
    assert response.status_code == 422
    assert "a\x00b" not in response.text
