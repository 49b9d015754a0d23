"""Importing a CSV file into a recipient list, as its body arrives.

The body is decoded and parsed piece by piece; valid rows are written `chunk_rows` at a time, each
chunk in a transaction of its own, so that neither this process nor the database holds the file, and
no transaction stays open while a slow client sends. An import that stops part-way (a line that is
not UTF-8, a row too long, a full list) keeps the chunks written before it and says where it stopped:
sending the same file again adds only what is missing, since addresses already there are duplicates.
"""

import codecs
import csv
from collections.abc import AsyncIterator
from uuid import UUID

import structlog

from services.scheduler.app.ports import Store
from services.scheduler.domain.csv_import import (
    CsvLines,
    ImportColumns,
    ImportReport,
    ImportRow,
    InvalidHeader,
    RecordTooLong,
    RefusedRow,
    parse_row,
)
from services.scheduler.domain.recipients import ListImport
from shared.errors import Conflict, InvalidInput, NotFound

log = structlog.get_logger("scheduler.imports")

CHUNK_ROWS = 5_000
"""Valid rows written to the list in one transaction."""


class ImportStopped(Exception):
    """The import cannot go on; what was written before stays, and the report says why. `by_list`:
    the list's state stopped it (deleted, full), not the file's content."""

    def __init__(self, why: str, *, by_list: bool = False) -> None:
        super().__init__(why)
        self.by_list = by_list


class CsvImport:
    """One import: reads `body`, writes its rows to the list, keeps the report."""

    def __init__(
        self,
        store: Store,
        tenant_id: UUID,
        list_id: UUID,
        *,
        max_recipients: int,
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        self._store = store
        self._tenant_id = tenant_id
        self._list_id = list_id
        self._max_recipients = max_recipients
        self._chunk_rows = chunk_rows
        self._lines = CsvLines()
        self._reader = csv.reader(self._lines)
        self._columns: ImportColumns | None = None
        self._pending: list[ImportRow] = []
        self.report = ImportReport()

    async def run(self, body: AsyncIterator[bytes]) -> ListImport:
        """Imports the whole body; raises `InvalidInput` for a bad header (nothing is written then) and
        `Conflict`/`InvalidInput` naming the stored report when the import stops part-way."""
        async with self._store.transaction() as repo:
            if await repo.find_list(self._list_id, self._tenant_id) is None:
                raise NotFound(f"list {self._list_id} not found")
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        stopped: ImportStopped | None = None
        try:
            first = True
            async for piece in body:
                try:
                    text = decoder.decode(piece)
                except UnicodeDecodeError as bad:
                    line = self._lines.lines_received + piece[: max(bad.start, 0)].count(b"\n") + 1
                    raise ImportStopped(f"line {line} is not UTF-8 text") from None
                if first and text:
                    text, first = text.removeprefix("\ufeff"), False  # a spreadsheet's byte order mark
                self._lines.feed(text)
                await self._read_rows()
            try:
                self._lines.feed(decoder.decode(b"", final=True))
            except UnicodeDecodeError:
                raise ImportStopped("the file ends inside a UTF-8 character") from None
            self._lines.end()
            await self._read_rows()
            if self._columns is None:
                raise InvalidInput.field(
                    "body", "the file is empty: it needs a header row with an 'email' column"
                )
            await self._write_pending()
        except RecordTooLong as too_long:
            stopped = ImportStopped(str(too_long))
        except ImportStopped as stopped_early:
            stopped = stopped_early
        if stopped is not None:
            self._pending = []
            self.report.error = str(stopped)
        saved = await self._save()
        if stopped is not None:
            raise _refusal(stopped, saved)
        return saved

    async def _read_rows(self) -> None:
        while self._lines.ready:
            line = self._lines.lines_taken + 1
            try:
                row = next(self._reader)
            except StopIteration:
                return
            except csv.Error:
                self.report.rows_read += 1
                self.report.refuse(RefusedRow(line, "", "", "malformed_csv"))
                continue
            finally:
                self._lines.row_done()
            if not row:
                continue  # a blank line
            if self._columns is None:
                self._columns = self._header(row)
                continue
            self.report.rows_read += 1
            parsed = parse_row(self._columns, row, line)
            if isinstance(parsed, RefusedRow):
                self.report.refuse(parsed)
            else:
                self._pending.append(parsed)
                if len(self._pending) >= self._chunk_rows:
                    await self._write_pending()

    @staticmethod
    def _header(row: list[str]) -> ImportColumns:
        try:
            return ImportColumns.of_header(row)
        except InvalidHeader as invalid:
            raise InvalidInput.field("header", f"column {invalid.column!r}: {invalid.message}") from None

    async def _write_pending(self) -> None:
        if not self._pending or self._columns is None:
            return
        rows, self._pending = self._pending, []
        async with self._store.transaction() as repo:
            recipient_list = await repo.lock_list(self._list_id, self._tenant_id)
            if recipient_list is None:
                raise ImportStopped(f"the list was deleted before line {rows[0][0]}", by_list=True)
            added = await repo.import_recipients(self._list_id, rows, self._columns.field_names)
            if recipient_list.recipient_count + added > self._max_recipients:
                # Raised inside the transaction: this chunk is not kept.
                raise ImportStopped(
                    f"the list would hold more than {self._max_recipients} recipients; "
                    f"the rows from line {rows[0][0]} on were not added",
                    by_list=True,
                )
        self.report.count_written(len(rows), added)

    async def _save(self) -> ListImport:
        async with self._store.transaction() as repo:
            saved = await repo.save_import(self._list_id, self._tenant_id, self.report.as_json())
        log.info(
            "list import finished",
            list_id=str(self._list_id),
            import_id=str(saved.id),
            rows_read=self.report.rows_read,
            added=self.report.added,
            duplicates=self.report.duplicates,
            refused=sum(self.report.refused.values()),
            error=self.report.error,
        )
        return saved


def _refusal(stopped: ImportStopped, saved: ListImport) -> Conflict | InvalidInput:
    """What the caller hears of an import that stopped part-way; its report is stored all the same."""
    message = (
        f"the import stopped: {stopped}. {saved.report['added']} recipients of the rows before were added; "
        f"the report is at /lists/{saved.list_id}/imports/{saved.id}"
    )
    return Conflict(message) if stopped.by_list else InvalidInput.field("body", message)
