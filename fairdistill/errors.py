"""User-facing errors: each names the input, the problem, the value received and the fix.

Templates are module constants so that tests match the exact wording.
"""

from __future__ import annotations


class FairdistillError(ValueError):
    """Base class for every error a user can fix by changing an input or a setting."""


class SpecError(FairdistillError):
    """The dataset spec (YAML file or flow parameters) is invalid."""


class SettingsError(FairdistillError):
    """A setting (flow parameter, `--config` file, command-line option) is invalid."""


class DataError(FairdistillError):
    """The data does not match its spec or cannot be read."""


class ValidationFailed(FairdistillError):
    """The Great Expectations suite failed; the flow stops before any training."""

    def __init__(self, message: str, summary: list[dict] | None = None):
        super().__init__(message)
        self.summary = summary or []


SOURCE_NOT_FOUND = (
    "source file {path} does not exist; set `source` in {spec} to an existing CSV or Parquet file "
    "or to a built-in dataset ({builtins})"
)
SOURCE_EMPTY = "{path} has no data rows; give a file with a header and at least one row"
SOURCE_UNREADABLE = (
    "cannot read {path} as {fmt}: {reason}; check the file or set `format` in {spec}"
)
SOURCE_FORMAT_UNKNOWN = "cannot tell the format of {path} from its suffix; set `format: csv` or `format: parquet` in {spec}"
WRONG_DELIMITER = (
    "{path} was read with delimiter {delimiter!r} but gave a single column {column!r}; the file looks "
    "{guess!r}-delimited: set `delimiter: {guess!r}` in {spec}"
)
COLUMNS_MISSING = (
    "{role} column(s) {missing} not in {path} (found: {found}); fix the column name in {spec}"
)
COLUMNS_UNDECLARED = (
    "column(s) {columns} in {path} are not declared in {spec}; list each under `categorical`, "
    "`numeric`, `datetime` or `drop`"
)
NUMERIC_HOLDS_TEXT = (
    "column {column!r} in {path} is declared numeric but holds text in {count} row(s) "
    "(e.g. {examples}); fix those values, add them to `missing_values`, or declare the column "
    "`categorical` in {spec}"
)
DATETIME_UNPARSEABLE = (
    "column {column!r} in {path} is declared datetime but {count} value(s) do not parse "
    "(e.g. {examples}); fix those values or set `datetime_format` in {spec}"
)
HOLDOUT_COLUMNS_DIFFER = (
    "holdout {holdout} has columns {holdout_columns} but the source {path} has {columns}; "
    "give a holdout with the same columns"
)
IMAGE_COLUMN_TYPE = (
    "image column {column!r} in {path} holds {dtype} values; give PNG bytes (Parquet) or the PNG "
    "file of each row (CSV), or fix `image` in {spec}"
)
IMAGE_FILES_MISSING = (
    "{count} image file(s) named in column {column!r} of {path} do not exist: {files} (looked in "
    "{folder}); add the files or fix their names in the CSV (paths are relative to its folder)"
)
UNKNOWN_BUILTIN = (
    "unknown built-in dataset {name!r}; choose one of {builtins} or pass --source PATH --spec FILE"
)

# Great Expectations suite failures (expectations/check.py): one sentence per failed expectation,
# joined into VALIDATION_FAILED.
VALIDATION_FAILED = (
    "{source} does not pass suite {suite!r} ({count} problem(s)): {problems}. Nothing was trained "
    "or published; fix the data or {spec} and run again"
)
CHECK_COLUMNS = (
    "the columns do not match the spec (missing: {missing}; not declared: {unexpected}); add the "
    "missing columns to the file or fix their names, and declare or drop the others, in {spec}"
)
CHECK_ROW_COUNT_LOW = (
    "the table has {observed} rows (minimum {minimum}, set by `min_rows` in {spec}); give a "
    "larger file or lower `min_rows`"
)
CHECK_ROW_COUNT_HIGH = (
    "the table has {observed} rows, more than the {maximum} this suite expects; check that the "
    "file is the right one, or rebuild the suite with `python -m expectations.build {dataset}`"
)
CHECK_ONE_CLASS = (
    "target {column!r} has {observed} class ({examples}); a fair model needs both classes: check "
    "the file or `positive_label` in {spec}"
)
CHECK_CLASS_COUNT = (
    "target {column!r} has {observed} classes ({examples}); a binary target needs exactly two: map "
    "the variants onto two labels with `label_aliases` in {spec}"
)
CHECK_POSITIVE_LABEL = (
    "positive label {label!r} does not occur in target {column!r} (found: {examples}); set "
    "`positive_label` in {spec} to one of them, or map variants onto it with `label_aliases`"
)
CHECK_TYPE = (
    "column {column!r} is declared {kind} but holds {observed} values{rows}; fix the values or "
    "declare the column under its real kind in {spec}"
)
CHECK_REQUIRED = (
    "{role} column {column!r} is missing in {count} row(s) (e.g. rows {rows}); every row needs a "
    "{role} value: fill or remove those rows"
)
CHECK_NULL_RATE = (
    "column {column!r} is missing in {count} row(s) ({percent:.1f}%), more than the {allowed:.1f}% "
    "this suite allows; check the file, or the `missing_values` tokens in {spec}"
)
CHECK_VALUE_SET = (
    "column {column!r} has {count} row(s) ({percent:.2f}%) outside its known categories (e.g. "
    "{examples}); fix those values, or if they are valid rebuild the suite with "
    "`python -m expectations.build {dataset}`"
)
CHECK_RANGE = (
    "column {column!r} has {count} value(s) outside [{minimum}, {maximum}] (e.g. {examples}); "
    "fix those values, or if they are valid rebuild the suite with "
    "`python -m expectations.build {dataset}`"
)
CHECK_GROUP_SIZE = (
    "sensitive group {column}={group!r} has {count} rows (minimum {minimum}, set by "
    "`min_group_rows` in {spec}); add rows for the group, merge it with another in the file, or "
    "lower `min_group_rows`"
)
CHECK_NOT_EVALUATED = (
    "{expectation} could not be evaluated on column {column!r} ({error}); check that column's "
    "values"
)
CHECK_OTHER = "{expectation} failed on {column} (observed: {observed}; expected: {kwargs})"
CHECK_IMAGE_UNREADABLE = (
    "{count} image(s) in column {column!r} are missing or do not decode as PNG (files: {files}); "
    "replace them with PNG files"
)
CHECK_IMAGE_FORMAT = (
    "{count} image(s) in column {column!r} have {what} {examples}, not {expected} (files: "
    "{files}); resize or convert them, or fix `image_format` in {spec}"
)
CHECK_FILES = " (files: {files})"


class GateFailed(FairdistillError):
    """The synthetic table did not pass the audit gate; it was kept under lake/rejected/, unpublished."""

    def __init__(self, message: str, metrics: dict | None = None):
        super().__init__(message)
        self.metrics = metrics or {}


GATE_FAILED = (
    "the synthetic table of {dataset} failed the audit gate: {failures}. It was not published "
    "(`latest` still points at the previous table); it is kept in {rejected} with its report "
    "{report}. Adjust the training settings (e.g. teacher.beta, generation.fairness) or the gate "
    "thresholds, and run again"
)


class ModelNotFound(FairdistillError):
    """A model URI names no registered model version in the tracking store."""


MODEL_NOT_FOUND = (
    "cannot load {uri} from {tracking}: {reason}. Use models:/fairdistill-<dataset>/<version> of a "
    "finished refresh (listed in the MLflow UI), or @champion once a refresh has passed the audit gate; "
    "set MLFLOW_TRACKING_URI if the model lives in another store"
)
