"""A 1,000,000-row CSV import streamed into a real scheduler process, whose memory is watched meanwhile.

The file is generated as it is sent (never built in memory here either), with duplicates and bad rows
mixed in; the scheduler's resident memory is sampled from /proc while it imports, and its high-water
mark read at the end: the import must not grow with the file."""

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from shared.auth import issue_tenant_token
from tests.support.stacks import isolated_stack

pytestmark = pytest.mark.e2e

ROWS = 1_000_000
PEAK_RSS_LIMIT_MB = 150
PIECE_BYTES = 64 * 1024


def _row(i: int) -> str:
    """Row `i`: every thousandth a bad address, another every thousandth a copy (other case) of the row before."""
    if i % 1000 == 999:
        return f"bad-address-{i},Bad,Bad,none\n"
    if i % 1000 == 500:
        return f"USER{i - 1}@EXAMPLE.COM,Copy,Copy,gold\n"
    return f"user{i}@example.com,User {i},First{i},gold\n"


EXPECTED_REFUSED = ROWS // 1000
EXPECTED_DUPLICATES = ROWS // 1000
EXPECTED_ADDED = ROWS - EXPECTED_REFUSED - EXPECTED_DUPLICATES


async def _csv() -> AsyncIterator[bytes]:
    piece: list[str] = ["email,name,first_name,plan\n"]
    size = 0
    for i in range(ROWS):
        row = _row(i)
        piece.append(row)
        size += len(row)
        if size >= PIECE_BYTES:
            yield "".join(piece).encode()
            piece, size = [], 0
    if piece:
        yield "".join(piece).encode()


def _memory_mb(pid: int, field: str) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    assert found, f"no {field} in /proc/{pid}/status"
    return int(found.group(1)) / 1024


@pytest.fixture(scope="module")
def scheduler_alone(service_env, logs_dir):
    """Only the scheduler: an import needs its database, nothing else of the pipeline."""
    with isolated_stack(
        logs_dir / "e2e-import", service_env, service_env["SENDPOOL_OPERATOR_TOKEN"], (("scheduler",),),
        name="sendpool-import",
    ) as stack:  # fmt: skip
        yield stack


async def test_a_million_row_import_keeps_the_scheduler_small(scheduler_alone, service_env) -> None:
    scheduler = scheduler_alone.services["scheduler"]
    pid = scheduler.process.pid
    token = issue_tenant_token(service_env["SENDPOOL_TOKEN_SECRET"], uuid4())
    headers = {"Authorization": f"Bearer {token}"}
    samples: list[float] = []

    async def sample_rss() -> None:
        while True:
            samples.append(_memory_mb(pid, "VmRSS"))
            await asyncio.sleep(0.2)

    async with httpx.AsyncClient(base_url=scheduler.url, timeout=300) as http:
        created = await http.post("/lists", json={"name": "a million"}, headers=headers)
        list_id = created.json()["id"]
        # One address the list has already: its copy in the file is a duplicate too.
        await http.post(
            f"/lists/{list_id}/recipients",
            json={"recipients": [{"email": "User0@example.com"}]},
            headers=headers,
        )
        rss_before = _memory_mb(pid, "VmRSS")

        sampler = asyncio.create_task(sample_rss())
        started = time.monotonic()
        try:
            response = await http.post(
                f"/lists/{list_id}/imports", content=_csv(), headers={**headers, "Content-Type": "text/csv"}
            )
        finally:
            sampler.cancel()
        seconds = time.monotonic() - started
        peak_mb = max(max(samples, default=0.0), _memory_mb(pid, "VmHWM"))

        assert response.status_code == 201, response.text
        report = response.json()
        found = (await http.get(f"/lists/{list_id}", headers=headers)).json()

    print(
        f"\n1,000,000-row import: {seconds:.1f} s, {ROWS / seconds:,.0f} rows/s; scheduler RSS "
        f"{rss_before:.0f} MiB before, sampled max {max(samples, default=0.0):.0f} MiB, peak (VmHWM) {peak_mb:.0f} MiB"
    )
    assert report["status"] == "completed"
    assert report["rows_read"] == ROWS
    assert report["added"] == EXPECTED_ADDED - 1, "user0 was on the list already"
    assert report["duplicates"] == EXPECTED_DUPLICATES + 1
    assert report["refused"] == {"email_bad_syntax": EXPECTED_REFUSED}
    assert report["refused_rows"][0] == {
        "line": 1001,
        "column": "email",
        "value": "bad-address-999",
        "reason": "email_bad_syntax",
    }
    assert len(report["refused_rows"]) == 100
    assert found["recipient_count"] == EXPECTED_ADDED
    assert found["field_names"] == ["first_name", "plan"]
    assert peak_mb < PEAK_RSS_LIMIT_MB, f"the scheduler's memory peaked at {peak_mb:.0f} MiB"
