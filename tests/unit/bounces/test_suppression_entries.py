"""Suppression entries as people give them: addresses checked and lower-cased, imports bounded."""

import pytest

from services.bounces.domain.suppressions import (
    BadAddress,
    ImportRefused,
    ImportRow,
    csv_rows,
    normalized_address,
    suppression_key,
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


@pytest.mark.parametrize(
    ("given", "key"),
    [
        ("Ann@Example.COM", "ann@example.com"),
        (" ann@example.com ", "ann@example.com"),
        ("Ann@xn--bcher-kva.example", "ann@bücher.example"),
        ("ann@B\u00fccher.example", "ann@bücher.example"),
        ("ann@Bu\u0308cher.example", "ann@bücher.example"),  # decomposed ü: NFC
        ("ann@xn--zz.example", "ann@xn--zz.example"),  # no valid A-label: kept, never raises
        ("no-at-sign", "no-at-sign"),
    ],
)
def test_every_form_of_an_address_has_one_key_and_the_api_stores_it(given, key):
    assert suppression_key(given) == key
    if "@" in given and "xn--zz" not in given:
        assert normalized_address(given) == key
