"""The process itself: health, and an OpenAPI document a person can read."""

DOCUMENTED = {
    ("post", "/tenants"),
    ("get", "/tenants"),
    ("patch", "/tenants/{tenant_id}"),
    ("post", "/tenants/{tenant_id}/tokens"),
    ("get", "/tenants/{tenant_id}/tokens"),
    ("delete", "/tenants/{tenant_id}/tokens/{token_id}"),
    ("post", "/tokens/revoke"),
    ("post", "/plans"),
    ("put", "/plans/{plan_id}/servers"),
    ("get", "/plans"),
    ("get", "/plans/{plan_id}"),
    ("patch", "/plans/{plan_id}"),
    ("post", "/servers"),
    ("get", "/servers"),
    ("get", "/servers/{server_id}"),
    ("patch", "/servers/{server_id}"),
    ("post", "/servers/{server_id}/test"),
    ("post", "/servers/{server_id}/verify"),
    ("post", "/servers/{server_id}/enable"),
    ("post", "/servers/{server_id}/disable"),
    ("post", "/servers/{server_id}/pause"),
    ("post", "/servers/{server_id}/resume"),
    ("delete", "/servers/{server_id}"),
    ("post", "/servers/{server_id}/test-send"),
    ("get", "/servers/summary"),
    ("get", "/server-types"),
    ("get", "/pool"),
    ("put", "/campaigns/{campaign_id}/sending-policy"),
    ("get", "/campaigns/{campaign_id}/sending-policy"),
}


async def test_health_and_openapi(anonymous):
    assert (await anonymous.get("/healthz")).status_code == 204

    document = (await anonymous.get("/openapi.json")).json()

    assert document["info"]["title"] == "sendpool catalog"
    operations = {
        (method, path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert set(operations) == DOCUMENTED
    assert all(operation["tags"] and operation["summary"] for operation in operations.values())
    assert {tag["name"] for tag in document["tags"]} == {
        "tenants",
        "tokens",
        "plans",
        "server types",
        "servers",
        "pool",
        "sending policies",
    }
    assert {tag for operation in operations.values() for tag in operation["tags"]} == {
        tag["name"] for tag in document["tags"]
    }
