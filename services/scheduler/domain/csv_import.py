"""The rules of a CSV import into a recipient list: its header, each row, the report.

The body is read as it arrives and never held whole: `CsvLines` hands Python's `csv` reader the lines
received so far, and `ImportReport` keeps counts and the first refused rows only. Duplicates are
found by the database (the list's unique index), so nothing here grows with the file."""

import re
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.scheduler.domain.addresses import REASONS as ADDRESS_REASONS
from services.scheduler.domain.addresses import address_refusal, normalized_address
from shared.limits import FIELD_NAME_MAX, FIELD_VALUE_MAX, NAME_MAX, RECIPIENT_FIELDS_MAX

RECORD_MAX_CHARS = 65_536
"""The longest row (all its lines, for a quoted value spanning several): a row of 50 fields at their
maximum fits. A longer one stops the import: its end cannot be found without reading on unbounded."""
REFUSED_ROWS_SHOWN = 100
"""How many refused rows a report lists (every refusal is counted)."""
VALUE_SHOWN_MAX = 100
"""How much of a refused value a report shows."""

_IDENTIFIER = re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{FIELD_NAME_MAX - 1}}}")
# The characters `shared.contracts.HeaderSafeStr` refuses in a name, which goes into a mail header.
_HEADER_BREAKING = re.compile("[\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")

REASONS: dict[str, str] = {
    **ADDRESS_REASONS,
    "wrong_column_count": "the row does not have as many values as the header has columns",
    "malformed_csv": "the row is not valid CSV",
    "name_too_long": f"the name is longer than {NAME_MAX} characters",
    "name_bad_characters": "the name contains a line break or a NUL character",
    "field_too_long": f"a custom field's value is longer than {FIELD_VALUE_MAX} characters",
    "field_bad_characters": "a custom field's value contains a NUL character",
}
"""Why a row is refused, by the code the report counts it under."""


class InvalidHeader(Exception):
    """The header row cannot be imported; `column` names the column at fault (or `email`, missing)."""

    def __init__(self, column: str, message: str) -> None:
        super().__init__(f"{column}: {message}")
        self.column = column
        self.message = message


@dataclass(frozen=True)
class ImportColumns:
    """Where each value of a row is: the address, the name (if any), the custom fields by name."""

    email: int
    name: int | None
    fields: tuple[tuple[str, int], ...]
    width: int

    @property
    def field_names(self) -> list[str]:
        return [name for name, _ in self.fields]

    @classmethod
    def of_header(cls, header: Sequence[str]) -> "ImportColumns":
        """The columns of a header row: `email` (any case) required, `name` (any case) optional,
        every other column a custom field whose name is an identifier. Raises `InvalidHeader`."""
        email: int | None = None
        name: int | None = None
        fields: list[tuple[str, int]] = []
        seen: set[str] = set()
        for position, raw in enumerate(header):
            column = raw.strip()
            shown = column[:VALUE_SHOWN_MAX] or f"column {position + 1}"
            if column.lower() in {"email", "name"}:
                key = column.lower()
                if key in seen:
                    raise InvalidHeader(shown, f"the column {key!r} appears twice")
                seen.add(key)
                if key == "email":
                    email = position
                else:
                    name = position
                continue
            if not _IDENTIFIER.fullmatch(column):
                raise InvalidHeader(
                    shown,
                    "a custom field's name must be an identifier (letters, digits and _, not starting with "
                    f"a digit) of at most {FIELD_NAME_MAX} characters",
                )
            if column in seen:
                raise InvalidHeader(shown, "this column appears twice")
            seen.add(column)
            fields.append((column, position))
        if email is None:
            raise InvalidHeader("email", "the header row has no 'email' column")
        if len(fields) > RECIPIENT_FIELDS_MAX:
            raise InvalidHeader(
                fields[RECIPIENT_FIELDS_MAX][0],
                f"a recipient has at most {RECIPIENT_FIELDS_MAX} custom fields",
            )
        return cls(email=email, name=name, fields=tuple(fields), width=len(header))


@dataclass(frozen=True)
class RefusedRow:
    line: int
    column: str
    value: str
    """The value at fault, cut to `VALUE_SHOWN_MAX` characters."""
    reason: str


ImportRow = tuple[int, str, str, list[str]]
"""A row ready for the list: its line, address, name and custom field values (in the header's order,
`ImportColumns.field_names`): the database pairs names and values, which is faster than JSON here."""


def parse_row(columns: ImportColumns, row: Sequence[str], line: int) -> ImportRow | RefusedRow:
    """One data row, checked: the recipient it adds, or why it is refused. Surrounding spaces of the
    address and the name are dropped (spreadsheets leave them); custom values are kept as written.

    On the path of every row of a million-row file: the common case costs a few calls."""
    if len(row) != columns.width:
        return RefusedRow(line, "", ",".join(row)[:VALUE_SHOWN_MAX], "wrong_column_count")
    address = row[columns.email].strip()
    refusal = address_refusal(address)
    if refusal is not None:
        return RefusedRow(line, "email", address[:VALUE_SHOWN_MAX], refusal)
    name = "" if columns.name is None else row[columns.name].strip()
    if name:
        if len(name) > NAME_MAX:
            return RefusedRow(line, "name", name[:VALUE_SHOWN_MAX], "name_too_long")
        if _HEADER_BREAKING.search(name):
            return RefusedRow(line, "name", name[:VALUE_SHOWN_MAX], "name_bad_characters")
    values = [row[position] for _, position in columns.fields]
    # PostgreSQL stores no NUL.
    if values and (max(map(len, values)) > FIELD_VALUE_MAX or "\x00" in "".join(values)):
        for (field_name, _), value in zip(columns.fields, values, strict=True):
            if len(value) > FIELD_VALUE_MAX:
                return RefusedRow(line, field_name, value[:VALUE_SHOWN_MAX], "field_too_long")
            if "\x00" in value:
                return RefusedRow(line, field_name, value[:VALUE_SHOWN_MAX], "field_bad_characters")
    return (line, normalized_address(address), name, values)


@dataclass
class ImportReport:
    """What an import did: counts for every row, and the first refused rows."""

    rows_read: int = 0
    added: int = 0
    duplicates: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    refused_rows: list[RefusedRow] = field(default_factory=list)
    error: str | None = None
    """Why the import stopped before the end of the file (the rows before it were imported)."""

    def refuse(self, row: RefusedRow) -> None:
        self.refused[row.reason] += 1
        if len(self.refused_rows) < REFUSED_ROWS_SHOWN:
            self.refused_rows.append(row)

    def count_written(self, written: int, added: int) -> None:
        """`written` valid rows went to the list, of which `added` were new (the rest duplicates)."""
        self.added += added
        self.duplicates += written - added

    @property
    def completed(self) -> bool:
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "completed" if self.completed else "failed",
            "error": self.error,
            "rows_read": self.rows_read,
            "added": self.added,
            "duplicates": self.duplicates,
            "refused": dict(sorted(self.refused.items())),
            "refused_rows": [
                {"line": row.line, "column": row.column, "value": row.value, "reason": row.reason}
                for row in self.refused_rows
            ],
        }


class RecordTooLong(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(f"line {line} is longer than {RECORD_MAX_CHARS} characters")
        self.line = line


class CsvLines(Iterator[str]):
    """The lines of a body received piece by piece, for `csv.reader` (which pulls lines one at a time).

    `feed` takes decoded text as it arrives; a line is handed on once its end is in. `ready` says
    whether a whole row is certainly in hand (enough text is waiting, or the body is over), so that
    the reader is never asked for a row whose end has not arrived: the rest of a too-long row is
    never waited for. `row_done` marks where the next row starts, for that bound."""

    def __init__(self, record_max: int = RECORD_MAX_CHARS) -> None:
        self._lines: deque[str] = deque()
        self._partial: list[str] = []
        self._partial_chars = 0
        self._waiting_chars = 0
        self._row_chars = 0
        self._record_max = record_max
        self._ended = False
        self.lines_taken = 0

    def feed(self, text: str) -> None:
        pieces = text.split("\n")
        if len(pieces) > 1:
            first = "".join(self._partial) + pieces[0] + "\n"
            self._partial, self._partial_chars = [], 0
            self._append(first)
            for piece in pieces[1:-1]:
                self._append(piece + "\n")
        if pieces[-1]:
            self._partial.append(pieces[-1])
            self._partial_chars += len(pieces[-1])
            if self._partial_chars > self._record_max:
                raise RecordTooLong(self.lines_taken + len(self._lines) + 1)

    def end(self) -> None:
        if self._partial:
            self._append("".join(self._partial))
            self._partial, self._partial_chars = [], 0
        self._ended = True

    def _append(self, line: str) -> None:
        self._lines.append(line)
        self._waiting_chars += len(line)

    @property
    def lines_received(self) -> int:
        """Whole lines received so far, handed on or not."""
        return self.lines_taken + len(self._lines)

    @property
    def ready(self) -> bool:
        return bool(self._lines) and (self._ended or self._waiting_chars > self._record_max)

    def row_done(self) -> None:
        self._row_chars = 0

    def __next__(self) -> str:
        if not self._lines:
            if self._ended:
                raise StopIteration
            # Only reached by a row longer than the bound (`ready` promised the end was in).
            raise RecordTooLong(self.lines_taken + 1)
        line = self._lines.popleft()
        self._waiting_chars -= len(line)
        self._row_chars += len(line)
        self.lines_taken += 1
        if self._row_chars > self._record_max:
            raise RecordTooLong(self.lines_taken)
        return line
