import json

import polars as pl
import pytest

from expectations.build import (
    ROW_ID,
    build_suite,
    dumps,
    expectation_key,
    merge_tuned,
    suite_from_dict,
    suite_path,
    suite_to_dict,
    validation_view,
    write_suite,
)
from fairdistill.ingest import read_dataset
from fairdistill.spec import DatasetSpec, load_builtin

BUILTINS = ["adult", "compas"]


@pytest.fixture
def tiny_spec() -> DatasetSpec:
    return DatasetSpec(
        name="tiny",
        source="tiny.csv",
        target="y",
        positive_label="1",
        sensitive=[{"column": "s", "privileged": "M"}],
        categorical=["job"],
        numeric=["x"],
        min_rows=10,
        min_group_rows=2,
    )


@pytest.fixture
def tiny_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "job": ["a", "b", None, "a"],
            "x": [10, 12, 20, None],
            "y": [0, 1, 1, 0],
            "s": ["M", "M", "F", None],
        }
    )


def _kinds(data: dict) -> dict[tuple, dict]:
    return {expectation_key(config): config["kwargs"] for config in data["expectations"]}


def test_validation_view_adds_row_ids_group_sizes_and_text_target(tiny_spec, tiny_frame):
    view = validation_view(tiny_frame, tiny_spec)
    assert view[ROW_ID].to_list() == [0, 1, 2, 3]
    assert view["rows_in_s_group"].to_list() == [2, 2, 1, None]  # M twice, F once, null not a group
    assert view["y"].to_list() == ["0", "1", "1", "0"]


def test_suite_from_the_spec_alone(tiny_spec):
    kinds = _kinds(suite_to_dict(build_suite(tiny_spec)))
    assert build_suite(tiny_spec).name == "fairdistill-tiny"
    assert kinds[("expect_table_columns_to_match_set", None)]["column_set"] == [
        "job",
        "x",
        "y",
        "s",
        ROW_ID,
        "rows_in_s_group",
    ]
    assert kinds[("expect_table_row_count_to_be_between", None)] == {"min_value": 10}  # no maximum
    assert kinds[("expect_column_unique_value_count_to_be_between", "y")] == {
        "column": "y",
        "min_value": 2,
        "max_value": 2,
    }
    assert kinds[("expect_column_distinct_values_to_contain_set", "y")]["value_set"] == ["1"]
    assert kinds[("expect_column_values_to_be_in_type_list", "job")]["type_list"] == ["str"]
    assert kinds[("expect_column_values_to_be_in_type_list", "x")]["type_list"][:2] == [
        "int64",
        "float64",
    ]
    assert kinds[("expect_column_values_to_not_be_null", "s")] == {"column": "s"}
    assert kinds[("expect_column_values_to_be_between", "rows_in_s_group")]["min_value"] == 2
    assert ("expect_column_values_to_be_in_set", "job") not in kinds  # needs a reference
    assert len(kinds) == len(
        suite_to_dict(build_suite(tiny_spec))["expectations"]
    )  # keys are unique


def test_reference_bounds_worked_by_hand(tiny_spec, tiny_frame):
    kinds = _kinds(suite_to_dict(build_suite(tiny_spec, tiny_frame)))
    assert (
        kinds[("expect_table_row_count_to_be_between", None)]["max_value"] == 10
    )  # 2 x 4, >= min_rows
    assert kinds[("expect_column_values_to_not_be_null", "job")]["mostly"] == 0.7  # 3/4 - 0.05
    assert kinds[("expect_column_values_to_be_in_set", "job")]["value_set"] == ["a", "b"]
    assert kinds[("expect_column_values_to_be_in_set", "y")]["value_set"] == ["0", "1"]
    x_range = kinds[("expect_column_values_to_be_between", "x")]
    assert (x_range["min_value"], x_range["max_value"]) == (
        9,
        21,
    )  # 10..20, 10% of the span each side
    assert ("expect_column_values_to_not_be_null", "y") in kinds  # target: strictly required
    assert "mostly" not in kinds[("expect_column_values_to_not_be_null", "s")]


def test_suite_round_trips_through_json(tiny_spec, tiny_frame):
    data = suite_to_dict(build_suite(tiny_spec, tiny_frame))
    assert suite_to_dict(suite_from_dict(json.loads(dumps(data)))) == data
    assert "id" not in data and all("id" not in config for config in data["expectations"])


def test_merge_tuned_keeps_only_marked_expectations():
    built = {
        "expectations": [
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "a", "min_value": 0},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "b", "min_value": 0},
            },
        ]
    }
    tuned_a = {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "a", "min_value": 5},
        "meta": {"tuned": True, "notes": "why"},
    }
    stale_b = {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "b", "min_value": 9},
    }
    extra = {
        "type": "expect_column_values_to_be_unique",
        "kwargs": {"column": "c"},
        "meta": {"tuned": True},
    }
    merged = merge_tuned(built, {"expectations": [tuned_a, stale_b, extra]})
    assert merged["expectations"] == [tuned_a, built["expectations"][1], extra]
    assert merge_tuned(built, None) == built


@pytest.mark.parametrize("name", BUILTINS)
def test_committed_suite_is_the_builders_output_plus_documented_tuning(name):
    """Every expectation not marked `tuned` is exactly what the builder makes from the shipped
    training data; the tuned ones say why. Rebuilding changes nothing."""
    spec = load_builtin(name)
    train, _, _ = read_dataset(spec)
    committed = json.loads(suite_path(name).read_text())
    built = suite_to_dict(build_suite(spec, train))
    assert merge_tuned(built, committed) == committed
    tuned = [c for c in committed["expectations"] if c.get("meta", {}).get("tuned")]
    assert tuned and all(len(config["meta"]["notes"]) > 20 for config in tuned)
    assert [expectation_key(c) for c in committed["expectations"]] == [
        expectation_key(c) for c in built["expectations"]
    ]


def test_adult_age_is_tuned_to_the_census_range():
    committed = _kinds(json.loads(suite_path("adult").read_text()))
    age = committed[("expect_column_values_to_be_between", "age")]
    assert (age["min_value"], age["max_value"]) == (17, 90)


def test_rebuilding_writes_the_same_file(tmp_path):
    spec = load_builtin("compas")
    target = tmp_path / "compas.json"
    target.write_text(suite_path("compas").read_text())
    write_suite(spec, read_dataset(spec)[0], target)
    assert target.read_text() == suite_path("compas").read_text()
