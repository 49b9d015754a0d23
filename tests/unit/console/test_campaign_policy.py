"""The sending policy editor's checks: weights, the narrowed selection, the catalog's refusals by field."""

from services.console.domain.policy import (
    SELECTION_FIELD,
    WEIGHT_MAX,
    api_field_errors,
    loaded_policy,
    parse_policy,
    parse_weight,
)

A, B, C = (
    "aaaaaaaa-0000-0000-0000-000000000001",
    "bbbbbbbb-0000-0000-0000-000000000002",
    "cccccccc-0000-0000-0000-000000000003",
)


def test_weights_are_whole_numbers_in_range_and_blank_is_zero():
    assert parse_weight("7") == (7, None)
    assert parse_weight(" 0 ") == (0, None)
    assert parse_weight("") == (0, None)
    assert parse_weight(None) == (0, None)
    assert parse_weight(str(WEIGHT_MAX)) == (WEIGHT_MAX, None)
    for wrong in ("-1", "1.5", "abc", "1e3", str(WEIGHT_MAX + 1)):
        weight, error = parse_weight(wrong)
        assert weight == 0 and error


def test_a_1_2_7_selection_is_10_20_70_percent_and_its_body_names_the_weighted_servers():
    form = parse_policy(False, {A: "1", B: "2", C: "7"})
    assert form.valid
    assert form.shares == {A: 10.0, B: 20.0, C: 70.0}
    assert form.body() == {
        "use_all": False,
        "selection": [
            {"server_id": A, "weight": 1},
            {"server_id": B, "weight": 2},
            {"server_id": C, "weight": 7},
        ],
    }


def test_a_zero_weight_leaves_the_server_out():
    form = parse_policy(False, {A: "0", B: "", C: "3"})
    assert form.selection == [(C, 3)]
    assert form.shares == {A: 0.0, B: 0.0, C: 100.0}


def test_a_narrowed_policy_needs_a_weight_above_zero():
    form = parse_policy(False, {A: "0", B: ""})
    assert not form.valid
    assert SELECTION_FIELD in form.errors


def test_the_preview_does_not_complain_about_an_empty_selection():
    assert parse_policy(False, {A: "0"}, strict=False).valid


def test_a_wrong_weight_is_reported_by_its_server():
    form = parse_policy(False, {A: "x", B: "2"})
    assert set(form.errors) == {A}


def test_use_all_ignores_the_weights():
    form = parse_policy(True, {A: "x", B: "0"})
    assert form.valid
    assert form.body() == {"use_all": True, "selection": []}


def test_the_saved_policy_fills_the_form_and_keeps_a_selected_server_no_longer_listed():
    saved = {
        "use_all": False,
        "selection": [{"server_id": A, "weight": 2.0}, {"server_id": C, "weight": 0.5}],
    }
    form = loaded_policy(saved, [A, B])
    assert not form.use_all
    assert form.raw == {A: "2", B: "", C: "0.5"}


def test_the_catalogs_refusal_is_put_back_on_the_server_at_that_position():
    sent = parse_policy(False, {A: "0", B: "2", C: "7"})
    errors = api_field_errors({"selection.1.server_id": "not yours", "use_all": "odd"}, sent)
    assert errors == {C: "not yours", SELECTION_FIELD: "odd"}
