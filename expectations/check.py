"""Run a dataset's suite on a frame, summarise the failures, and raise them as one clear error.

GX 1.x idioms: an ephemeral, in-memory context (no analytics, no progress bars, nothing on disk
or the network), a pandas data source with a dataframe asset and a whole-dataframe batch
definition, the suite registered with `add_or_update`, COMPLETE results keyed by `_row_id`.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field

import pandas as pd
import polars as pl

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
from great_expectations.core import ExpectationSuite  # noqa: E402
from great_expectations.data_context.types import base as gx_config  # noqa: E402
from great_expectations.util import convert_to_json_serializable  # noqa: E402

from expectations.build import (  # noqa: E402
    ROW_ID,
    build_suite,
    derived_columns,
    group_size_column,
    suite_from_dict,
    suite_path,
    validation_view,
)
from fairdistill import errors  # noqa: E402
from fairdistill.spec import DatasetSpec  # noqa: E402

RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [ROW_ID],
    "return_unexpected_index_query": False,
}
MAX_EXAMPLES = 5
TYPE_KIND = "expect_column_values_to_be_in_type_list"
TARGET_CLASS_KINDS = (
    "expect_column_unique_value_count_to_be_between",
    "expect_column_distinct_values_to_contain_set",
)


@dataclass
class ValidationReport:
    """What a validation found: overall success, GX's statistics and one summary row per failure."""

    suite_name: str
    success: bool
    statistics: dict
    failures: list[dict]
    result: object = field(repr=False)  # the ExpectationSuiteValidationResult

    def to_json(self) -> dict:
        """The summary and the full GX result, JSON-serialisable (for the lake)."""
        keys = ("suite_name", "success", "statistics", "failures")
        return {key: getattr(self, key) for key in keys} | {"result": self.result.to_json_dict()}


def load_suite(spec: DatasetSpec) -> ExpectationSuite:
    """The committed suite `expectations/<name>.json`, or for a dataset without one, the spec's."""
    path = suite_path(spec.name)
    if path.is_file():
        return suite_from_dict(json.loads(path.read_text()))
    return build_suite(spec)


@functools.cache
def _context():
    """One in-memory GX context per process: no analytics, no progress bars, nothing on disk."""
    config = gx_config.DataContextConfig(
        analytics_enabled=False,
        progress_bars=gx_config.ProgressBarsConfig(globally=False, metric_calculations=False),
        store_backend_defaults=gx_config.InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def to_pandas(view: pl.DataFrame) -> pd.DataFrame:
    """Polars to pandas for GX. Text columns become `object`: GX 1.24's type check does not know
    pandas 3's `str` dtype, and checks `object` columns value by value instead."""
    frame = view.to_pandas()
    text = [column for column, dtype in view.schema.items() if dtype == pl.String]
    return frame.astype({column: object for column in text})


def validate_frame(
    frame: pl.DataFrame, spec: DatasetSpec, suite: ExpectationSuite
) -> ValidationReport:
    """Run `suite` on the validation view of `frame`; raises nothing (see raise_for_failures)."""
    context = _context()
    suite = context.suites.add_or_update(suite)
    asset = context.data_sources.add_or_update_pandas("fairdistill").add_dataframe_asset(spec.name)
    batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    view = validation_view(frame, spec)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": to_pandas(view)})
    result = batch.validate(suite, result_format=RESULT_FORMAT)
    failures = _failures(result.results, view, spec)
    return ValidationReport(
        suite.name, bool(result.success), dict(result.statistics), failures, result
    )


def _failures(results: list, view: pl.DataFrame, spec: DatasetSpec) -> list[dict]:
    """Summary rows of the failed expectations, most fundamental first. One that could not run on
    a missing column, or on a column of the wrong type, is left out: another row says why."""
    rows = [_summary_row(one, view, spec) for one in results if not one.success]
    mistyped = {row["column"] for row in rows if row["expectation"] == TYPE_KIND}
    explained = mistyped | {
        row["column"] for row in rows if row["column"] and row["column"] not in view.columns
    }
    rows = [row for row in rows if row["error"] is None or row["column"] not in explained]
    return sorted(rows, key=_order)


def _error(result) -> str | None:
    """The first exception message of a result that could not be evaluated, else None."""
    if result.result:
        return None
    info = result.exception_info or {}
    found = [info] if "exception_message" in info else list(info.values())
    messages = [str(one.get("exception_message") or "") for one in found if isinstance(one, dict)]
    return next((m.splitlines()[0] for m in messages if m), "not evaluated")


def _order(row: dict) -> tuple[int, str]:
    """Most fundamental problem first: the order of DESCRIBE."""
    kinds = list(DESCRIBE)
    kind = row["expectation"]
    return (kinds.index(kind) if kind in kinds else len(kinds)), row["column"] or ""


def _distinct(values: list) -> list:
    return list(dict.fromkeys(values))[:MAX_EXAMPLES]


def _summary_row(result, view: pl.DataFrame, spec: DatasetSpec) -> dict:
    config, found = result.expectation_config, result.result
    kwargs = {key: value for key, value in config.kwargs.items() if key != "batch_id"}
    row = {
        "expectation": config.type,
        "column": kwargs.get("column"),
        "unexpected_count": found.get("unexpected_count"),
        "unexpected_percent": found.get("unexpected_percent"),
        "examples": _distinct(found.get("unexpected_list", [])),
        "observed_value": found.get("observed_value"),
        "rows": [index[ROW_ID] for index in found.get("unexpected_index_list", [])[:MAX_EXAMPLES]],
        "kwargs": kwargs,
        "error": _error(result),
    }
    row |= _special(row, found, view, spec)
    return convert_to_json_serializable(row)


def _special(row: dict, found: dict, view: pl.DataFrame, spec: DatasetSpec) -> dict:
    """Observations that GX's result lacks for some kinds, taken from the validated view."""
    kind, column = row["expectation"], row["column"]
    if kind == "expect_table_columns_to_match_set":
        mismatch = found.get("details", {}).get("mismatched", {})
        derived = set(derived_columns(spec))
        observed = {
            k: [c for c in mismatch.get(k, []) if c not in derived]
            for k in ("missing", "unexpected")
        }
        return {
            "observed_value": observed,
            "examples": observed["missing"] + observed["unexpected"],
        }
    if column == spec.target and kind in TARGET_CLASS_KINDS:
        classes = view[column].drop_nulls().unique().sort().to_list()
        return {"examples": classes[:MAX_EXAMPLES], "unexpected_count": None}
    if kind == TYPE_KIND:
        observed = row["observed_value"] or sorted(
            {type(value).__name__ for value in row["examples"]}
        )
        return {"observed_value": observed}
    group = next((c for c in spec.sensitive_columns if group_size_column(c) == column), None)
    if group is not None:
        rows = [index[ROW_ID] for index in found.get("unexpected_index_list", [])]
        sizes = (
            view.filter(pl.col(ROW_ID).is_in(rows)).group_by(group).agg(pl.len()).sort("len", group)
        )
        observed = dict(sizes.iter_rows())
        return {
            "column": group,
            "examples": list(observed)[:MAX_EXAMPLES],
            "observed_value": observed,
        }
    return {}


def summary_markdown(report: ValidationReport) -> str:
    """A markdown table of the failures (for a Prefect artifact)."""
    stats = report.statistics
    head = (
        f"### `{report.suite_name}`: {stats.get('successful_expectations')} of "
        f"{stats.get('evaluated_expectations')} expectations passed"
    )
    if not report.failures:
        return head + "\n\nAll expectations passed.\n"
    lines = [head, "", "| expectation | column | unexpected | % | examples | observed |"]
    lines.append("|---" * 6 + "|")
    for row in report.failures:
        percent = row["unexpected_percent"]
        cells = [
            row["expectation"],
            row["column"] or "(table)",
            row["unexpected_count"],
            "" if percent is None else f"{percent:.2f}",
            _quoted(row["examples"]),
            None if row["observed_value"] is None else json.dumps(row["observed_value"]),
        ]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _quoted(values: list) -> str:
    return ", ".join(repr(value) for value in values)


def _number(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _columns(row: dict, spec: DatasetSpec, fields: dict) -> str:
    found = {
        key: _quoted(row["observed_value"][key]) or "none" for key in ("missing", "unexpected")
    }
    return errors.CHECK_COLUMNS.format(**found, spec=spec.origin)


def _row_count(row: dict, spec: DatasetSpec, fields: dict) -> str:
    minimum = _number(row["kwargs"].get("min_value"))
    if minimum is not None and row["observed_value"] < minimum:
        return errors.CHECK_ROW_COUNT_LOW.format(minimum=minimum, **fields)
    return errors.CHECK_ROW_COUNT_HIGH.format(maximum=_number(row["kwargs"]["max_value"]), **fields)


def _classes(row: dict, spec: DatasetSpec, fields: dict) -> str:
    one = row["observed_value"] <= 1
    return (errors.CHECK_ONE_CLASS if one else errors.CHECK_CLASS_COUNT).format(**fields)


def _positive_label(row: dict, spec: DatasetSpec, fields: dict) -> str:
    return errors.CHECK_POSITIVE_LABEL.format(label=spec.positive_label, **fields)


def _type(row: dict, spec: DatasetSpec, fields: dict) -> str:
    column, observed = row["column"], row["observed_value"]
    kind = next(
        (kind for kind in ("numeric", "datetime") if column in getattr(spec, kind)), "categorical"
    )
    observed = ", ".join(observed) if isinstance(observed, list) else observed
    rows = f" in {fields['count']} row(s) (e.g. {fields['examples']})" if row["examples"] else ""
    return errors.CHECK_TYPE.format(**{**fields, "kind": kind, "observed": observed, "rows": rows})


def _nulls(row: dict, spec: DatasetSpec, fields: dict) -> str:
    mostly = row["kwargs"].get("mostly")
    if mostly is None:
        role = "target" if row["column"] == spec.target else "sensitive"
        rows = ", ".join(str(index) for index in row["rows"])
        return errors.CHECK_REQUIRED.format(role=role, rows=rows, **fields)
    return errors.CHECK_NULL_RATE.format(allowed=(1.0 - mostly) * 100, **fields)


def _value_set(row: dict, spec: DatasetSpec, fields: dict) -> str:
    return errors.CHECK_VALUE_SET.format(**fields)


def _between(row: dict, spec: DatasetSpec, fields: dict) -> str:
    minimum, maximum = (_number(row["kwargs"].get(key)) for key in ("min_value", "max_value"))
    if row["column"] not in spec.sensitive_columns:
        return errors.CHECK_RANGE.format(minimum=minimum, maximum=maximum, **fields)
    return "; ".join(
        errors.CHECK_GROUP_SIZE.format(
            column=row["column"], group=group, count=count, minimum=minimum, spec=spec.origin
        )
        for group, count in row["observed_value"].items()
    )


DESCRIBE = {  # most fundamental problem first
    "expect_table_columns_to_match_set": _columns,
    TYPE_KIND: _type,
    "expect_table_row_count_to_be_between": _row_count,
    "expect_column_unique_value_count_to_be_between": _classes,
    "expect_column_distinct_values_to_contain_set": _positive_label,
    "expect_column_values_to_not_be_null": _nulls,
    "expect_column_values_to_be_in_set": _value_set,
    "expect_column_values_to_be_between": _between,
}


def describe(row: dict, spec: DatasetSpec) -> str:
    """One failed expectation in words, with its counts, examples and the fix."""
    kind, column = row["expectation"], row["column"]
    if row["error"] is not None:
        return errors.CHECK_NOT_EVALUATED.format(
            expectation=kind, column=column, error=row["error"]
        )
    if kind not in DESCRIBE:
        where = repr(column) if column else "the table"
        observed, kwargs = row["observed_value"], row["kwargs"]
        return errors.CHECK_OTHER.format(
            expectation=kind, column=where, observed=observed, kwargs=kwargs
        )
    fields = {
        "column": column,
        "spec": spec.origin,
        "dataset": spec.name,
        "examples": _quoted(row["examples"]),
        "count": row["unexpected_count"],
        "percent": row["unexpected_percent"] or 0.0,
        "observed": row["observed_value"],
    }
    return DESCRIBE[kind](row, spec, fields)


def raise_for_failures(report: ValidationReport, spec: DatasetSpec, source_name: str) -> None:
    """Raise `ValidationFailed` naming `source_name` and each failure in words; else return."""
    if report.success:
        return
    problems = "; ".join(f"({i}) {describe(row, spec)}" for i, row in enumerate(report.failures, 1))
    message = errors.VALIDATION_FAILED.format(
        source=source_name,
        suite=report.suite_name,
        count=len(report.failures),
        problems=problems or "see the validation report",
        spec=spec.origin,
    )
    raise errors.ValidationFailed(message, report.failures)
