"""Run a dataset's suite on a frame, summarise the failures, and raise them as one clear error.

GX 1.x idioms: an ephemeral, in-memory context (no analytics, no progress bars, nothing on disk
or the network), a pandas data source with a dataframe asset and a whole-dataframe batch
definition, the suite registered with `add_or_update`, COMPLETE results keyed by `_row_id`.
"""

from __future__ import annotations

import functools
import gc
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
from fairdistill.spec import DatasetSpec  # noqa: E402

RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": [ROW_ID],
    "return_unexpected_index_query": False,
}
MAX_EXAMPLES = 5
TYPE_KIND = "expect_column_values_to_be_in_type_list"
FAILURE_ORDER = (  # most fundamental problem first: later failures often follow from earlier ones
    "expect_table_columns_to_match_set",
    TYPE_KIND,
    "expect_table_row_count_to_be_between",
    "expect_column_unique_value_count_to_be_between",
    "expect_column_distinct_values_to_contain_set",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_be_between",
)
# Expectations on a column's distinct values (the target's classes, the sensitive groups, whether a
# feature has any value): their examples are the distinct values seen.
CLASS_KINDS = (
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
    path = suite_path(spec.slug)
    if path.is_file():
        return suite_from_dict(json.loads(path.read_text()))
    return build_suite(spec)


DATA_SOURCE = "fairdistill"


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
    view = validation_view(frame, spec)
    try:
        result = _run_suite(context, spec, to_pandas(view), suite)
    finally:
        # The data source keeps the batch's DataFrame, in reference cycles, for the life of the
        # process (520 MB after validating 800,000 rows of Adult's shape): free it for the
        # refresh's later stages.
        context.data_sources.delete(DATA_SOURCE)
        gc.collect()
    failures = _failures(result.results, view, spec)
    return ValidationReport(
        suite.name, bool(result.success), dict(result.statistics), failures, result
    )


def _run_suite(context, spec: DatasetSpec, frame: pd.DataFrame, suite: ExpectationSuite):
    """The suite's result on ``frame``. A function of its own so that the batch and its data
    source are out of scope when `validate_frame` deletes the source and collects them."""
    suite = context.suites.add_or_update(suite)
    source = context.data_sources.add_or_update_pandas(DATA_SOURCE)
    batch_definition = source.add_dataframe_asset(spec.slug).add_batch_definition_whole_dataframe(
        "whole"
    )
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(suite, result_format=RESULT_FORMAT)


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
    """Most fundamental problem first: the order of FAILURE_ORDER."""
    kinds = list(FAILURE_ORDER)
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
    if kind in CLASS_KINDS and column in view.columns:
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
