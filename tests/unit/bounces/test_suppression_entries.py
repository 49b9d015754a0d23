"""Suppression entries as people give them: addresses checked and lower-cased, imports bounded."""

import pytest

from services.bounces.domain.suppressions import (
    BadAddress,
    ImportRefused,
    ImportRow,
    csv_rows,
    normalized_address,
)


def test_an_address_is_kept_lower_cased():
    assert normalized_address("  Ann.Lee@Example.COM ") == "ann.lee@example.com"


@pytest.mark.parametrize(
    "text", ["", "no-at-sign", "a@", "@example.com", "a b@example.com", "a@" + "x" * 260]
)
def test_what_is_no_address_is_refused(text):
    with pytest.raises(BadAddress):
        normalized_address(text)


def test_csv_rows_skip_a_header_and_blank_lines_and_keep_reasons():
    rows = csv_rows("address,reason\n\nann@example.com,asked\nbob@example.com\n", max_rows=10)
    assert rows == [ImportRow("ann@example.com", "asked"), ImportRow("bob@example.com", None)]


def test_a_csv_import_is_bounded():
    with pytest.raises(ImportRefused):
        csv_rows("a@example.com\n" * 11, max_rows=10)
