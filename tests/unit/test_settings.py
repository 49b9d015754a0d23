"""Settings names: one prefix per service, shared names only where they are shared, renamed ones refused."""

import re

import pytest

from ops.registry import SERVICES
from ops.settings_doc import SHARED_BY_SOME, configuration_table, env_name
from shared.settings import RENAMED_VARIABLES


def documented_variables() -> dict[str, set[str]]:
    readers_of: dict[str, set[str]] = {}
    for row in configuration_table().splitlines()[2:]:
        variable, readers = (cell.strip().strip("`") for cell in row.split("|")[1:3])
        readers_of[variable] = set(readers.split(", "))
    return readers_of


def test_a_knob_of_one_service_carries_its_name():
    # Keys several services must agree on keep one name, even while only one service reads them.
    shared_keys = {env_name(mixin, n, f) for mixin in SHARED_BY_SOME for n, f in mixin.model_fields.items()}
    for variable, readers in documented_variables().items():
        if variable not in shared_keys and "every service" not in readers:
            (reader,) = readers
            assert variable.startswith(f"SENDPOOL_{reader.upper()}_"), variable


def test_every_replacement_of_a_renamed_variable_exists():
    documented = set(documented_variables())
    for old, new in RENAMED_VARIABLES.items():
        assert old not in documented, f"{old} is both renamed and read"
        for replacement in re.findall(r"SENDPOOL_[A-Z_]+", new):
            assert replacement in documented, f"{old} was renamed to {replacement}, which no service reads"


@pytest.mark.parametrize("entry", SERVICES, ids=lambda entry: entry.name)
def test_a_service_refuses_to_start_while_a_renamed_variable_is_set(entry, monkeypatch):
    monkeypatch.setenv("SENDPOOL_CATALOG_SECRET_KEYS", "ZG9jdW1lbnRzLW5ldmVyLWRlY3J5cHQtYW55dGhpbmc=")
    monkeypatch.setenv("SENDPOOL_VENDOR", "ses")
    with pytest.raises(ValueError, match="SENDPOOL_VENDOR is now SENDPOOL_DELIVERY_VENDOR"):
        entry.settings()


def test_a_setting_value_is_never_echoed_in_its_error(monkeypatch):
    monkeypatch.setenv("SENDPOOL_DB_POOL_SIZE", "not-a-number-secret")
    with pytest.raises(ValueError) as refused:
        SERVICES[-1].settings()
    assert "not-a-number-secret" not in str(refused.value)
