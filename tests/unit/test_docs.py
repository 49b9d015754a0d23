"""The README's configuration table is generated from the settings classes; it must be current."""

from pathlib import Path

from ops.settings_doc import with_configuration_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_matches_the_settings_classes():
    text = README.read_text()
    assert text == with_configuration_table(text), "README is stale: run `make docs`"
