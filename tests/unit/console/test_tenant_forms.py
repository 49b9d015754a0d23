"""The operator's plan form, checked before the catalog is asked."""

import pytest

from services.console.app.tenants import FormRefused, plan_body


def test_a_plan_body_from_the_form():
    assert plan_body(" gold ", False, True, "5") == {
        "name": "gold",
        "managed_pool": False,
        "allow_own_servers": True,
        "server_quota": 5,
    }
    assert plan_body("pool", True, False, "")["server_quota"] is None


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("", False, True, ""), "name"),
        (("x", False, True, "-3"), "server_quota"),
        (("x", False, True, "lots"), "server_quota"),
        (("x", True, True, ""), "allow_own_servers"),
    ],
)
def test_wrong_plan_forms_name_the_field(args, field):
    with pytest.raises(FormRefused) as refused:
        plan_body(*args)
    assert field in refused.value.errors
