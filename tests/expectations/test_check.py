import json

import polars as pl
import pytest

from expectations.build import build_suite
from expectations.check import load_suite, validate_frame
from expectations.messages import raise_for_failures, summary_markdown
from fairdistill import errors
from fairdistill.ingest import read_dataset
from fairdistill.spec import DatasetSpec, load_builtin, load_spec

SOURCE = "adult/train.parquet"


@pytest.fixture(scope="module")
def adult():
    spec = load_builtin("adult")
    train, holdout, _ = read_dataset(spec)
    return spec, train, holdout, load_suite(spec)


@pytest.fixture(scope="module")
def base(adult) -> pl.DataFrame:
    """2,000 real Adult rows (about 660 women): validated in a fraction of a second."""
    return adult[1].sample(2000, seed=0)


def _failures(adult, frame: pl.DataFrame) -> tuple[dict, str]:
    """The summary rows by (expectation, column), and the error message."""
    spec, _, _, suite = adult
    report = validate_frame(frame, spec, suite)
    assert not report.success
    with pytest.raises(errors.ValidationFailed) as raised:
        raise_for_failures(report, spec, SOURCE)
    assert raised.value.summary == report.failures
    rows = {(row["expectation"], row["column"]): row for row in report.failures}
    return rows, str(raised.value)


def _set_rows(frame: pl.DataFrame, column: str, rows: list[int], value) -> pl.DataFrame:
    hit = pl.int_range(pl.len()).is_in(rows)
    return frame.with_columns(
        pl.when(hit).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )


@pytest.mark.parametrize("name", ["adult", "compas"])
def test_shipped_train_and_holdout_pass_their_committed_suites(name):
    spec = load_builtin(name)
    train, holdout, _ = read_dataset(spec)
    suite = load_suite(spec)
    for frame in (train, holdout):
        report = validate_frame(frame, spec, suite)
        assert report.success, summary_markdown(report)
        assert report.failures == []
        raise_for_failures(report, spec, name)  # passes silently
    assert report.statistics["evaluated_expectations"] == len(suite.expectations)


def test_report_is_json_and_markdown(adult, base):
    spec, _, _, suite = adult
    report = validate_frame(base.with_columns(age=pl.lit(150)), spec, suite)
    saved = json.loads(json.dumps(report.to_json()))
    assert saved["success"] is False and saved["result"]["results"]
    assert saved["failures"][0]["unexpected_count"] == 2000
    table = summary_markdown(report)
    assert "| expectation | column | unexpected | % | examples | observed |" in table
    assert "| expect_column_values_to_be_between | age | 2000 | 100.00 | 150 |" in table


def test_missing_column(adult, base):
    spec = adult[0]
    rows, message = _failures(adult, base.drop("race"))
    assert list(rows) == [
        ("expect_table_columns_to_match_set", None)
    ]  # not one row per check on race
    row = rows["expect_table_columns_to_match_set", None]
    assert row["observed_value"] == {"missing": ["race"], "unexpected": []}
    assert row["examples"] == ["race"]
    assert (
        errors.CHECK_COLUMNS.format(missing="'race'", unexpected="none", spec=spec.origin)
        in message
    )
    assert message.startswith(
        f"{SOURCE} does not pass suite 'fairdistill-adult' (1 problem(s)): (1) "
    )


def test_extra_column(adult, base):
    spec = adult[0]
    rows, message = _failures(adult, base.with_columns(zip_code=pl.lit("02139")))
    assert rows["expect_table_columns_to_match_set", None]["examples"] == ["zip_code"]
    assert (
        errors.CHECK_COLUMNS.format(missing="none", unexpected="'zip_code'", spec=spec.origin)
        in message
    )


def test_row_count_too_low(adult, base):
    spec = adult[0]
    rows, message = _failures(adult, base.head(600))
    assert rows["expect_table_row_count_to_be_between", None]["observed_value"] == 600
    expected = errors.CHECK_ROW_COUNT_LOW.format(observed=600, minimum=1000, spec=spec.origin)
    assert expected in message


def test_one_class_target(adult, base):
    spec = adult[0]
    rows, message = _failures(adult, base.with_columns(income=pl.lit("<=50K")))
    row = rows["expect_column_unique_value_count_to_be_between", "income"]
    assert (row["observed_value"], row["examples"]) == (1, ["<=50K"])
    assert (
        "(1) target 'income' has 1 class ('<=50K'); a fair model needs both classes: check the "
        f"file or `positive_label` in {spec.origin}"
    ) in message


def test_positive_label_absent(adult, base):
    spec = adult[0]
    frame = base.with_columns(pl.col("income").replace(">50K", ">50k"))
    rows, message = _failures(adult, frame)
    assert (
        "expect_column_unique_value_count_to_be_between",
        "income",
    ) not in rows  # still two classes
    assert rows["expect_column_distinct_values_to_contain_set", "income"]["examples"] == [
        "<=50K",
        ">50k",
    ]
    expected = errors.CHECK_POSITIVE_LABEL.format(
        label=">50K", column="income", examples="'<=50K', '>50k'", spec=spec.origin
    )
    assert expected in message


def test_wrong_type(adult, base):
    spec = adult[0]
    rows, message = _failures(adult, base.with_columns(pl.col("hours_per_week").cast(pl.String)))
    assert list(rows) == [
        ("expect_column_values_to_be_in_type_list", "hours_per_week")
    ]  # no range noise
    row = rows["expect_column_values_to_be_in_type_list", "hours_per_week"]
    assert (row["unexpected_count"], row["observed_value"]) == (2000, ["str"])
    assert len(row["examples"]) == 5 and all(isinstance(value, str) for value in row["examples"])
    examples = ", ".join(map(repr, row["examples"]))
    expected = errors.CHECK_TYPE.format(
        column="hours_per_week",
        kind="numeric",
        observed="str",
        spec=spec.origin,
        rows=f" in 2000 row(s) (e.g. {examples})",
    )
    assert expected in message


def test_nulls_in_sensitive_column(adult, base):
    rows, message = _failures(adult, _set_rows(base, "sex", [5, 17, 42], None))
    row = rows["expect_column_values_to_not_be_null", "sex"]
    assert (row["unexpected_count"], row["rows"]) == (3, [5, 17, 42])
    assert "sensitive column 'sex' is missing in 3 row(s) (e.g. rows 5, 17, 42)" in message


def test_null_rate_too_high(adult, base):
    spec = adult[0]
    rows, message = _failures(adult, _set_rows(base, "occupation", list(range(400)), None))
    row = rows["expect_column_values_to_not_be_null", "occupation"]
    nulls = 400 + base["occupation"][400:].null_count()
    assert row["unexpected_count"] == nulls and row["examples"] == [None]
    expected = errors.CHECK_NULL_RATE.format(
        column="occupation", count=nulls, percent=nulls / 20, allowed=10.7, spec=spec.origin
    )
    assert expected in message


def test_value_outside_category_set(adult, base):
    rows, message = _failures(adult, _set_rows(base, "race", list(range(10)), "Martian"))
    row = rows["expect_column_values_to_be_in_set", "race"]
    assert (row["unexpected_count"], row["examples"], row["rows"]) == (
        10,
        ["Martian"],
        [0, 1, 2, 3, 4],
    )
    expected = errors.CHECK_VALUE_SET.format(
        column="race", count=10, percent=0.5, examples="'Martian'", dataset="adult"
    )
    assert expected in message


def test_numeric_out_of_range(adult, base):
    frame = _set_rows(_set_rows(base, "age", [3, 4], 150), "age", [9], 12)
    rows, message = _failures(adult, frame)
    row = rows["expect_column_values_to_be_between", "age"]
    assert (row["unexpected_count"], row["examples"], row["rows"]) == (3, [150, 12], [3, 4, 9])
    expected = errors.CHECK_RANGE.format(
        column="age", count=3, minimum=17, maximum=90, examples="150, 12", dataset="adult"
    )
    assert expected in message


def test_sensitive_group_too_small(adult, base):
    spec = adult[0]
    frame = pl.concat(
        [base.filter(pl.col("sex") == "Male"), base.filter(pl.col("sex") == "Female").head(3)]
    )
    rows, message = _failures(adult, frame)
    assert list(rows) == [("expect_column_values_to_be_between", "sex")]
    row = rows["expect_column_values_to_be_between", "sex"]
    assert (row["unexpected_count"], row["examples"], row["observed_value"]) == (
        3,
        ["Female"],
        {"Female": 3},
    )
    assert (
        "sensitive group sex='Female' has 3 rows (minimum 100, set by `min_group_rows` in "
        f"{spec.origin})"
    ) in message


def test_a_column_without_any_value(adult, base):
    spec = adult[0]
    frame = base.with_columns(pl.lit(None, pl.Int64).alias("hours_per_week"))
    rows, message = _failures(adult, frame)
    assert (
        rows["expect_column_unique_value_count_to_be_between", "hours_per_week"]["examples"] == []
    )
    expected = errors.CHECK_ALL_NULL.format(column="hours_per_week", spec=spec.origin)
    assert expected in message


def test_one_sensitive_group(adult, base):
    spec = adult[0]
    rows, message = _failures(adult, base.filter(pl.col("sex") == "Male"))
    row = rows["expect_column_unique_value_count_to_be_between", "sex"]
    assert (row["observed_value"], row["examples"]) == (1, ["Male"])
    expected = errors.CHECK_ONE_GROUP.format(
        column="sex", observed=1, examples="'Male'", spec=spec.origin
    )
    assert expected in message


def test_privileged_value_absent(adult, base):
    spec = adult[0]
    rows, message = _failures(adult, base.with_columns(pl.col("sex").replace("Male", "M")))
    assert rows["expect_column_distinct_values_to_contain_set", "sex"]["examples"] == [
        "Female",
        "M",
    ]
    expected = errors.CHECK_PRIVILEGED.format(
        label="Male", column="sex", examples="'Female', 'M'", spec=spec.origin
    )
    assert expected in message


def test_compas_integer_target_with_one_class():
    spec = load_builtin("compas")
    train = read_dataset(spec)[0].with_columns(two_year_recid=pl.lit(1))
    with pytest.raises(errors.ValidationFailed) as raised:
        raise_for_failures(validate_frame(train, spec, load_suite(spec)), spec, "compas")
    assert "target 'two_year_recid' has 1 class ('1'); a fair model needs both classes" in str(
        raised.value
    )


def test_a_users_dataset_gets_the_suite_of_its_spec(data_dir):
    spec = load_spec(data_dir / "loans.yaml")
    suite = load_suite(spec)
    assert suite.name == "fairdistill-loans" and len(suite.expectations) == len(
        build_suite(spec).expectations
    )
    train = read_dataset(spec)[0]
    assert validate_frame(train, spec, suite).success
    small = train.filter((pl.col("gender") == "M") | (pl.int_range(pl.len()).over("gender") < 5))
    with pytest.raises(
        errors.ValidationFailed, match=r"sensitive group gender='F' has 5 rows \(minimum 30"
    ):
        raise_for_failures(validate_frame(small, spec, suite), spec, "loans.csv")


def test_spec_only_suite_checks_an_integer_target(data_dir):
    spec = DatasetSpec.model_validate(
        {
            **load_spec(data_dir / "loans.yaml").model_dump(),
            "positive_label": "1",
            "name": "loans01",
        }
    )
    train = read_dataset(load_spec(data_dir / "loans.yaml"))[0]
    train = train.with_columns(approved=(pl.col("approved") == "yes").cast(pl.Int64))
    assert validate_frame(train, spec, load_suite(spec)).success
