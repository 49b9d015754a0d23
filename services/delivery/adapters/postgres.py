"""The attempts record in PostgreSQL (schema `delivery`), written in batches.

Hundreds of handlers run at once; each hands its claim or outcome to a `Batcher` and waits
for it, and one statement writes the whole batch.
"""

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from services.delivery.domain.attempts import AttemptRecord, AttemptState
from shared.batching import Batcher

# A message may be claimed when it has no record yet, or when its last attempt was deferred and
# this is that attempt again (its redelivery) or a later one. The WHERE leaves every other record
# untouched and unreturned, so the caller learns it lost the claim.
_CLAIM = """
INSERT INTO attempts AS current (message_id, server_id, attempt, state)
SELECT message_id, server_id, attempt, 'sending'
  FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS claim (message_id, server_id, attempt)
ON CONFLICT (message_id) DO UPDATE
   SET server_id = EXCLUDED.server_id,
       attempt = EXCLUDED.attempt,
       state = 'sending',
       reply_code = NULL,
       enhanced_code = NULL,
       reply_text = NULL,
       vendor_message_id = NULL,
       updated_at = now()
 WHERE current.state = 'deferred' AND current.attempt <= EXCLUDED.attempt
RETURNING message_id
"""

_READ = """
SELECT message_id, server_id, attempt, state, reply_code, enhanced_code, reply_text, vendor_message_id
  FROM attempts
 WHERE message_id = ANY($1::uuid[])
"""

_RECORD = """
UPDATE attempts AS current
   SET server_id = outcome.server_id,
       attempt = outcome.attempt,
       state = outcome.state,
       reply_code = outcome.reply_code,
       enhanced_code = outcome.enhanced_code,
       reply_text = outcome.reply_text,
       vendor_message_id = outcome.vendor_message_id,
       updated_at = now()
  FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::int[], $6::text[], $7::text[], $8::text[])
       AS outcome (message_id, server_id, attempt, state, reply_code, enhanced_code, reply_text, vendor_message_id)
 WHERE current.message_id = outcome.message_id
"""


@dataclass(frozen=True)
class _Claim:
    message_id: UUID
    server_id: UUID
    attempt: int


class PostgresAttempts:
    def __init__(self, pool: asyncpg.Pool, *, max_wait: float = 0.02) -> None:
        self._pool = pool
        self._claims: Batcher[_Claim, AttemptRecord | None] = Batcher(self._claim_batch, max_wait=max_wait)
        self._outcomes: Batcher[AttemptRecord, None] = Batcher(self._record_batch, max_wait=max_wait)

    async def claim(self, message_id: UUID, server_id: UUID, attempt: int) -> AttemptRecord | None:
        return await self._claims.submit(_Claim(message_id, server_id, attempt))

    async def record(self, record: AttemptRecord) -> None:
        await self._outcomes.submit(record)

    async def _claim_batch(self, claims: list[_Claim]) -> list[AttemptRecord | None]:
        # One statement may not touch a row twice: two copies of a message in one batch become
        # one claim, and the other copy finds the record that claim wrote.
        first_claims = {claim.message_id: claim for claim in reversed(claims)}
        unique = list(first_claims.values())
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                _CLAIM,
                [claim.message_id for claim in unique],
                [claim.server_id for claim in unique],
                [claim.attempt for claim in unique],
            )
            claimed = {row["message_id"] for row in rows}
            won = [
                claim.message_id in claimed and first_claims[claim.message_id] is claim for claim in claims
            ]
            lost_ids = list({claim.message_id for claim, ok in zip(claims, won, strict=True) if not ok})
            records = (
                {row["message_id"]: _record_of(row) for row in await conn.fetch(_READ, lost_ids)}
                if lost_ids
                else {}
            )
        return [None if ok else records[claim.message_id] for claim, ok in zip(claims, won, strict=True)]

    async def _record_batch(self, records: list[AttemptRecord]) -> list[None]:
        async with self._pool.acquire() as conn:
            await conn.execute(
                _RECORD,
                [record.message_id for record in records],
                [record.server_id for record in records],
                [record.attempt for record in records],
                [record.state.value for record in records],
                [record.reply_code for record in records],
                [record.enhanced_code for record in records],
                [record.reply_text for record in records],
                [record.vendor_message_id for record in records],
            )
        return [None] * len(records)


def _record_of(row: asyncpg.Record) -> AttemptRecord:
    return AttemptRecord(**{**dict(row), "state": AttemptState(row["state"])})
