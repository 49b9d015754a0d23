"""Recipient lists against a real scheduler and PostgreSQL: paging, custom fields, deletion, CSV import."""

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg
import httpx
import pytest

from services.scheduler.adapters.postgres import MIGRATIONS, SCHEMA, PostgresStore
from services.scheduler.app.imports import CsvImport
from shared.db import Database
from shared.errors import Conflict
from tests.integration.scheduler.harness import SchedulerApi


@pytest.fixture
async def scheduler_db(scheduler, scheduler_env) -> AsyncIterator[asyncpg.Connection]:
    """The scheduler's own tables (migrated by the process), to check what the API cannot show."""
    connection = await asyncpg.connect(
        scheduler_env["SENDPOOL_DATABASE_URL"], server_settings={"search_path": SCHEMA}
    )
    yield connection
    await connection.close()


async def _add(tenant: SchedulerApi, list_id: str, recipients: list[dict]) -> dict:
    response = await tenant.request("POST", f"/lists/{list_id}/recipients", {"recipients": recipients})
    assert response.status_code == 200, response.text
    return response.json()


async def _import(tenant: SchedulerApi, list_id: str, body: bytes, content_type: str = "text/csv"):
    headers = {**tenant.headers, "Content-Type": content_type}
    return await tenant.http.post(f"/lists/{list_id}/imports", content=body, headers=headers)


async def test_lists_are_paged_newest_first_and_only_the_tenants_own(tenant: SchedulerApi, other_tenant):
    created = [(await tenant.create_list(f"list {i}"))["id"] for i in range(5)]
    await other_tenant.create_list("not yours")

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        query = "/lists?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await tenant.request("GET", query)).json()
        seen += [found["id"] for found in page["lists"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(created))
    assert (await tenant.request("GET", "/lists?limit=501")).status_code == 422
    bad_cursor = await tenant.request("GET", "/lists?cursor=bm90LWEtY3Vyc29y")
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["detail"][0]["loc"] == ["query", "cursor"]


async def test_custom_fields_are_kept_and_named_on_the_list(tenant: SchedulerApi, other_tenant):
    recipient_list = await tenant.create_list()
    await _add(tenant, recipient_list["id"], [{"email": "ann@example.com", "fields": {"first_name": "Ann"}}])
    await _add(
        tenant,
        recipient_list["id"],
        [
            {"email": "bob@example.com", "fields": {"city": "Oslo"}},
            {"email": "ANN@example.com", "fields": {"x": "1"}},
        ],
    )

    found = (await tenant.request("GET", f"/lists/{recipient_list['id']}")).json()
    assert found["recipient_count"] == 2
    # `x` came with a duplicate, which was not added.
    assert found["field_names"] == ["city", "first_name"]
    assert (await other_tenant.request("GET", f"/lists/{recipient_list['id']}")).status_code == 404

    refused = await tenant.request(
        "POST",
        f"/lists/{recipient_list['id']}/recipients",
        {"recipients": [{"email": "cid@example.com", "fields": {"first name": "Cid"}}]},
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"][:4] == ["body", "recipients", 0, "fields"]


async def test_recipients_are_paged_by_id_with_their_fields(tenant: SchedulerApi, other_tenant):
    recipient_list = await tenant.create_list()
    emails = [f"user{i}@example.com" for i in range(7)]
    await _add(
        tenant, recipient_list["id"], [{"email": e, "fields": {"n": str(i)}} for i, e in enumerate(emails)]
    )

    pages: list[list[dict]] = []
    cursor = None
    while True:
        query = f"/lists/{recipient_list['id']}/recipients?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = (await tenant.request("GET", query)).json()
        pages.append(page["recipients"])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert [len(page) for page in pages] == [3, 3, 1]
    recipients = [recipient for page in pages for recipient in page]
    assert [r["email"] for r in recipients] == emails
    assert [r["fields"] for r in recipients] == [{"n": str(i)} for i in range(7)]
    assert (await other_tenant.request("GET", f"/lists/{recipient_list['id']}/recipients")).status_code == 404


async def test_a_list_in_use_is_not_deleted_and_a_finished_campaign_keeps_its_history(
    tenant: SchedulerApi, other_tenant, scheduler_db
):
    recipient_list = await tenant.create_list()
    await tenant.add_recipients(recipient_list["id"], ["ann@example.com", "bob@example.com"])
    campaign = await tenant.create_campaign(recipient_list["id"])
    path = f"/lists/{recipient_list['id']}"

    in_use = await tenant.request("DELETE", path)
    assert in_use.status_code == 409
    assert campaign["id"] in in_use.json()["detail"]
    assert (await other_tenant.request("DELETE", path)).status_code == 404

    await scheduler_db.execute("UPDATE campaigns SET state = 'completed' WHERE id = $1", campaign["id"])
    assert (await tenant.request("DELETE", path)).status_code == 204

    assert (await tenant.request("GET", path)).status_code == 404
    assert (await tenant.request("GET", f"{path}/recipients")).status_code == 404
    assert (await tenant.request("DELETE", path)).status_code == 404
    listed = (await tenant.request("GET", "/lists")).json()["lists"]
    assert recipient_list["id"] not in [found["id"] for found in listed]
    assert (
        await scheduler_db.fetchval(
            "SELECT count(*) FROM recipients WHERE list_id = $1", recipient_list["id"]
        )
        == 0
    )
    assert (await tenant.campaign(campaign["id"]))["state"] == "completed"
    body = {"name": "again", "list_id": recipient_list["id"], "content": campaign["content"]}
    assert (await tenant.request("POST", "/campaigns", body)).status_code == 404


CSV = (
    "\ufeffEmail,Name,first_name,plan\r\n"
    "ann@example.com,Ann Lee,Ann,gold\r\n"
    'bob@example.com,"Lee, Bob",Bob,"multi\nline"\r\n'
    "ANN@EXAMPLE.COM,Ann again,Ann,silver\r\n"  # a duplicate within the file
    "old@example.com,Old,Old,\r\n"  # a duplicate of the list
    "not-an-address,X,X,\r\n"
    "cid@localhost,Cid,Cid,\r\n"
    "dan@example.com,Dan\r\n"
    "\r\n"
    "eve@example.com,Eve,Eve,bronze"
)


async def test_a_csv_import_adds_new_rows_and_reports_the_rest(tenant: SchedulerApi, scheduler_db):
    recipient_list = await tenant.create_list()
    await _add(tenant, recipient_list["id"], [{"email": "Old@Example.com"}])

    response = await _import(tenant, recipient_list["id"], CSV.encode())

    assert response.status_code == 201, response.text
    report = response.json()
    assert report["status"] == "completed"
    assert (report["rows_read"], report["added"], report["duplicates"]) == (8, 3, 2)
    assert report["refused"] == {"email_bad_syntax": 1, "email_no_domain_dot": 1, "wrong_column_count": 1}
    assert [(row["line"], row["column"], row["reason"]) for row in report["refused_rows"]] == [
        (7, "email", "email_bad_syntax"),
        (8, "email", "email_no_domain_dot"),
        (9, "", "wrong_column_count"),
    ]
    stored = await tenant.request("GET", f"/lists/{recipient_list['id']}/imports/{report['id']}")
    assert stored.json() == report

    found = (await tenant.request("GET", f"/lists/{recipient_list['id']}")).json()
    assert (found["recipient_count"], found["field_names"]) == (4, ["first_name", "plan"])
    recipients = (await tenant.request("GET", f"/lists/{recipient_list['id']}/recipients")).json()[
        "recipients"
    ]
    assert [(r["email"], r["name"], r["fields"]) for r in recipients] == [
        ("Old@example.com", "", {}),
        ("ann@example.com", "Ann Lee", {"first_name": "Ann", "plan": "gold"}),
        ("bob@example.com", "Lee, Bob", {"first_name": "Bob", "plan": "multi\nline"}),
        ("eve@example.com", "Eve", {"first_name": "Eve", "plan": "bronze"}),
    ]

    again = (await _import(tenant, recipient_list["id"], CSV.encode())).json()
    assert (again["added"], again["duplicates"]) == (0, 5), "importing the same file again adds nothing"


async def test_hostile_imports_are_refused(tenant: SchedulerApi, other_tenant, scheduler_db):
    recipient_list = await tenant.create_list()
    list_id = recipient_list["id"]

    assert (await _import(other_tenant, list_id, b"email\nann@example.com\n")).status_code == 404
    assert (await _import(tenant, str(uuid4()), b"email\nann@example.com\n")).status_code == 404
    assert (
        await _import(tenant, list_id, b"email\nann@example.com\n", "application/json")
    ).status_code == 415
    assert (await _import(tenant, list_id, b"email\n", "text/csv; charset=latin-1")).status_code == 415

    bad_header = await _import(tenant, list_id, b"email,{{ evil }}\nann@example.com,x\n")
    assert bad_header.status_code == 422
    assert "{{ evil }}" in bad_header.json()["detail"][0]["msg"]
    no_email = await _import(tenant, list_id, b"address,name\nann@example.com,Ann\n")
    assert no_email.status_code == 422 and "'email'" in no_email.json()["detail"][0]["msg"]
    assert (await _import(tenant, list_id, b"")).status_code == 422

    latin1 = "email,name\nann@example.com,Ann\nbob@example.com,Jos\xe9\n".encode("latin-1")
    not_utf8 = await _import(tenant, list_id, latin1)
    assert not_utf8.status_code == 422
    message = not_utf8.json()["detail"][0]["msg"]
    assert "line 3 is not UTF-8" in message
    import_id = message.rsplit("/", 1)[1]
    stored = (await tenant.request("GET", f"/lists/{list_id}/imports/{import_id}")).json()
    assert stored["status"] == "failed" and "UTF-8" in stored["error"]
    assert (await other_tenant.request("GET", f"/lists/{list_id}/imports/{import_id}")).status_code == 404

    endless_line = b"email\n" + b"a" * 200_000
    too_long = await _import(tenant, list_id, endless_line)
    assert too_long.status_code == 422 and "longer than" in too_long.json()["detail"][0]["msg"]

    # A body announced larger than the import's cap (1 GiB by default) is refused before it is read.
    assert await _status_of_announced_body(tenant, f"/lists/{list_id}/imports", 2 * 1024**3) == 413


async def _status_of_announced_body(tenant: SchedulerApi, path: str, length: int) -> int:
    """The status answered to a request announcing a `length`-byte body, of which nothing is sent."""
    url = httpx.URL(str(tenant.http.base_url))
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        head = [
            f"POST {path} HTTP/1.1",
            f"Host: {url.host}",
            "Content-Type: text/csv",
            f"Content-Length: {length}",
        ]
        head += [f"{name}: {value}" for name, value in tenant.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        return int(status_line.split()[1])
    finally:
        writer.close()


async def test_an_import_larger_than_the_json_cap_is_streamed(tenant: SchedulerApi):
    """The import's own body cap applies, not the API's 4 MiB: 100,000 rows of about 50 bytes."""
    recipient_list = await tenant.create_list()

    async def rows() -> AsyncIterator[bytes]:
        yield b"email,city\n"
        for start in range(0, 100_000, 10_000):
            yield "".join(f"user{i}@example.com,{'c' * 28}\n" for i in range(start, start + 10_000)).encode()

    headers = {**tenant.headers, "Content-Type": "text/csv"}
    response = await tenant.http.post(
        f"/lists/{recipient_list['id']}/imports", content=rows(), headers=headers, timeout=60
    )

    assert response.status_code == 201, response.text
    assert response.json()["added"] == 100_000


async def test_an_import_stops_at_the_lists_cap_keeping_the_chunks_before(
    tenant, scheduler_env, scheduler_db
):
    recipient_list = await tenant.create_list()
    database = Database(
        scheduler_env["SENDPOOL_DATABASE_URL"], SCHEMA, MIGRATIONS, pool_size=2, wait_seconds=5
    )
    await database.open()
    try:
        tenant_id = await scheduler_db.fetchval(
            "SELECT tenant_id FROM lists WHERE id = $1", recipient_list["id"]
        )
        csv_import = CsvImport(
            PostgresStore(database), tenant_id, recipient_list["id"], max_recipients=5, chunk_rows=2
        )

        async def body() -> AsyncIterator[bytes]:
            yield b"email\n"
            for i in range(8):
                yield f"user{i}@example.com\n".encode()

        with pytest.raises(Conflict) as refused:
            await csv_import.run(body())
    finally:
        await database.close()

    assert "more than 5 recipients" in str(refused.value)
    assert csv_import.report.added == 4, "two chunks of two were written before the third passed the cap"
    count = await scheduler_db.fetchval(
        "SELECT recipient_count FROM lists WHERE id = $1", recipient_list["id"]
    )
    assert count == 4
