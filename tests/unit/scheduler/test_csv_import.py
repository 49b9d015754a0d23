"""The rules of a CSV import: its header, each row, the lines handed to the csv reader, the report."""

import csv

import pytest

from services.scheduler.domain.csv_import import (
    REFUSED_ROWS_SHOWN,
    CsvLines,
    ImportColumns,
    ImportReport,
    InvalidHeader,
    RecordTooLong,
    RefusedRow,
    parse_row,
)


def test_the_header_finds_email_and_name_in_any_case_and_the_custom_fields() -> None:
    columns = ImportColumns.of_header(["first_name", " EMAIL ", "Name", "city"])

    assert (columns.email, columns.name, columns.width) == (1, 2, 4)
    assert columns.field_names == ["first_name", "city"]


@pytest.mark.parametrize(
    ("header", "column"),
    [
        (["name", "city"], "email"),
        (["email", "first name"], "first name"),
        (["email", "2nd"], "2nd"),
        (["email", "x" * 65], "x" * 65),
        (["email", ""], "column 2"),
        (["email", "Email"], "Email"),
        (["email", "city", "city"], "city"),
        (["email", "{{ evil }}"], "{{ evil }}"),
        (["email", *[f"f{i}" for i in range(51)]], "f50"),
    ],
)
def test_a_bad_header_names_its_column(header: list[str], column: str) -> None:
    with pytest.raises(InvalidHeader) as refused:
        ImportColumns.of_header(header)
    assert refused.value.column == column


COLUMNS = ImportColumns.of_header(["email", "name", "first_name", "city"])


def test_a_good_row_becomes_a_recipient_with_its_fields() -> None:
    row = parse_row(COLUMNS, [" Ann@Example.COM ", " Ann Lee ", "Ann", ""], line=7)

    assert row == (7, "Ann@example.com", "Ann Lee", ["Ann", ""])


def test_without_custom_fields_the_fields_are_an_empty_object() -> None:
    row = parse_row(ImportColumns.of_header(["email"]), ["ann@example.com"], line=2)
    assert row == (2, "ann@example.com", "", [])


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        (["not-an-address", "", "", ""], "email", "email_bad_syntax"),
        (["", "Ann", "", ""], "email", "email_missing"),
        (["ann@example.com", "Ann"], "", "wrong_column_count"),
        (["ann@example.com", "Ann\r\nBcc: x@evil.example", "", ""], "name", "name_bad_characters"),
        (["ann@example.com", "n" * 201, "", ""], "name", "name_too_long"),
        (["ann@example.com", "", "x" * 1001, ""], "first_name", "field_too_long"),
        (["ann@example.com", "", "", "Pa\x00ris"], "city", "field_bad_characters"),
    ],
)
def test_a_refused_row_names_its_column_and_reason(row: list[str], column: str, reason: str) -> None:
    refused = parse_row(COLUMNS, row, line=3)

    assert isinstance(refused, RefusedRow)
    assert (refused.line, refused.column, refused.reason) == (3, column, reason)
    assert len(refused.value) <= 100


def test_the_report_counts_every_refusal_but_lists_only_the_first() -> None:
    report = ImportReport()
    for line in range(REFUSED_ROWS_SHOWN + 20):
        report.refuse(RefusedRow(line, "email", "x", "email_bad_syntax"))
    report.count_written(10, added=7)

    summary = report.as_json()
    assert summary["refused"] == {"email_bad_syntax": REFUSED_ROWS_SHOWN + 20}
    assert len(summary["refused_rows"]) == REFUSED_ROWS_SHOWN
    assert (summary["added"], summary["duplicates"], summary["status"]) == (7, 3, "completed")


def _rows(pieces: list[str], record_max: int = 64) -> list[list[str]]:
    """Feeds `pieces` one at a time, reading the rows that are ready after each, as the import does."""
    lines = CsvLines(record_max)
    reader = csv.reader(lines)
    rows: list[list[str]] = []

    def read_ready() -> None:
        while lines.ready:
            try:
                rows.append(next(reader))
            except StopIteration:
                return
            lines.row_done()

    for piece in pieces:
        lines.feed(piece)
        read_ready()
    lines.end()
    read_ready()
    return rows


def test_rows_split_anywhere_across_pieces_come_out_whole() -> None:
    text = 'email,note\r\nann@example.com,"two\nlines, and a "" quote"\nbob@example.com,O"Brien\ncid@example.com,last'
    expected = list(csv.reader(text.splitlines(keepends=True)))

    for size in (1, 2, 3, 7, 64, 1000):
        pieces = [text[start : start + size] for start in range(0, len(text), size)]
        assert _rows(pieces) == expected, size


def test_a_row_longer_than_the_bound_stops_the_reading() -> None:
    with pytest.raises(RecordTooLong) as too_long:
        _rows(["email\n", "a" * 30, "b" * 40, "\nnext@example.com\n"], record_max=64)
    assert too_long.value.line == 2


def test_an_unclosed_quote_cannot_make_a_row_grow_without_bound() -> None:
    pieces = ["email,note\n", 'ann@example.com,"open\n'] + ["more text\n"] * 20
    with pytest.raises(RecordTooLong) as too_long:
        _rows(pieces, record_max=64)
    assert too_long.value.line > 2
