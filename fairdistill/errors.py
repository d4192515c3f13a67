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
    "(e.g. {examples}); {hint}fix those values, add them to `missing_values`, or declare the column "
    "`categorical` in {spec}"
)
DECIMAL_COMMA_HINT = (
    "they look like numbers with a decimal comma: set `decimal: ','` in {spec}, or "
)
DATETIME_UNPARSEABLE = (
    "column {column!r} in {path} is declared datetime but {count} value(s) do not parse "
    "(e.g. {examples}); fix those values or set `datetime_format` in {spec}"
)
HOLDOUT_COLUMNS_DIFFER = (
    "holdout {holdout} has columns {holdout_columns} but the source {path} has {columns}; "
    "give a holdout with the same columns"
)
NUMERIC_NOT_FINITE = (
    "column {column!r} in {path} is declared numeric but holds {count} value(s) that are not finite "
    "or exceed ±{limit:.1e} in magnitude (e.g. {examples}); fix or remove those values, list their "
    "text under `missing_values` in {spec} if they mean 'missing' (e.g. 'NaN'), or rescale the column"
)
NESTED_COLUMN = (
    "column {column!r} in {path} holds nested values ({dtype}); fairdistill models flat tables: "
    "flatten it into plain columns, or list it under `drop` in {spec}"
)
TRAINING_ROWS_UNREADABLE = (
    "cannot read {path} as Parquet: {reason}; pass --train the run's raw training snapshot, "
    "lake/raw/<dataset>/<run_id>/train.parquet"
)
TRAINING_ROWS_COLUMNS = (
    "{path} has columns {found}, but the model makes {columns}; pass --train the raw training "
    "snapshot of the run that trained this model (lake/raw/<dataset>/<run_id>/train.parquet)"
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
CHECK_ALL_NULL = (
    "column {column!r} has no values (it is missing in every row); fill it, or list it under "
    "`drop` in {spec}"
)
CHECK_ONE_GROUP = (
    "sensitive column {column!r} has {observed} group(s) ({examples}); fairness compares groups, "
    "so it needs at least two: check the file or the sensitive column chosen in {spec}"
)
CHECK_PRIVILEGED = (
    "privileged value {label!r} does not occur in sensitive column {column!r} (found: "
    "{examples}); set `privileged` in {spec} to one of them"
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


# Settings that do not fit the data (checked in the validate stage, before any training).
TOO_MANY_COMPONENTS = (
    "sampler.n_components is {n_components} but {dataset} has only {rows} training rows; a Gaussian "
    "mixture needs at least one row per component: set `sampler.n_components` to at most {rows} "
    "(a `sampler` section in the --config file, or the flow's sampler parameters)"
)


class GateFailed(FairdistillError):
    """The synthetic table did not pass the audit gate; it was kept under lake/rejected/, unpublished."""

    def __init__(self, message: str, metrics: dict | None = None):
        super().__init__(message)
        self.metrics = metrics or {}


# The message of a rejection: the first line of the flow run's Failed state and of its log.
GATE_FAILED = (
    "the synthetic table of {dataset} failed the audit gate: {failures}. It was not published "
    "(`latest` and @champion stay where they were); the table and its report are in {folder} "
    "(report: {report}). What to try: {advice}"
)
# What to try, per failed check of the gate (`fairdistill.audit.check_gate` names them); filled in by
# `fairdistill.report.what_to_try` with the audit's numbers: {rows} training rows, the criterion's
# {ratio} (DPR or EOR), the fair reference's {fair_ratio} and {fair_auroc}, TRTR's {trtr_auroc}.
_COPIES = (
    "raise teacher.kl_weight (a smoother latent space copies fewer training rows) or change "
    "generation.seed"
)
GATE_ADVICE = {
    "model_dpr": "the labels are made for equal positive rates (generation.mode dp at "
    "generation.fairness 1), yet a classifier trained on the table still tells the groups apart "
    "through the features: raise teacher.beta and student.beta (the independence penalty) or "
    "teacher.steps (the label calibration corrects through a classifier trained on the table, and "
    "better features make its correction carry over); the fair reference reaches {ratio} "
    "{fair_ratio} on this holdout",
    "model_eor": "the labels are made for equalized odds (generation.mode eo at generation.fairness "
    "1) through a classifier trained on the table, and its cut-offs carry over only as well as the "
    "features: raise teacher.steps, or teacher.beta and student.beta; the fair reference reaches "
    "{ratio} {fair_ratio} on this holdout (a table cannot beat what real rows allow)",
    "tstr_auroc": "the synthetic features are a weaker copy of the real ones: raise teacher.steps "
    "and student.steps (the training budget), or teacher.latent_dim; lowering generation.fairness "
    "below 1 trades fairness back for utility. The fair reference reaches AUROC {fair_auroc} "
    "(real labels: {trtr_auroc})",
    "exact_copy_rate": _COPIES,
}
# The same for a small table (`ingest.SMALL_TABLE_ROWS`), where other settings matter.
_SMALL_HOLDOUT = (
    "with {rows} training rows the holdout's groups are small and their {ratio} is noisy (the fair "
    "reference itself reaches {fair_ratio}; where the holdout cannot resolve the threshold the "
    "gate judges by the 95% interval, so a failure there is a shortfall the holdout shows)"
)
GATE_ADVICE_SMALL_TABLE = {
    "model_dpr": _SMALL_HOLDOUT + ": raise teacher.beta and student.beta",
    "model_eor": _SMALL_HOLDOUT + ": raise teacher.steps",
    "tstr_auroc": "a table of {rows} rows is learnt in small batches (teacher.batch_size defaults "
    "to a tenth of the rows): raise teacher.steps and student.steps so each row is seen more "
    "often, or set teacher.hidden smaller (a small table overfits a wide network). The fair "
    "reference reaches AUROC {fair_auroc} (real labels: {trtr_auroc})",
    "exact_copy_rate": _COPIES,
}
GATE_ADVICE_ANY = (
    "if the thresholds do not suit this data, set the deployment's own `audit.gate` in "
    "deployments/prefect.yaml (a looser gate given to a single run publishes it under its run id "
    "only, as a challenger)"
)


class ModelNotFound(FairdistillError):
    """A model URI names no registered model version in the tracking store."""


MODEL_NOT_FOUND = (
    "cannot load {uri} from {tracking}: {reason}. Use models:/fairdistill-<dataset>/<version> of a "
    "finished refresh (listed in the MLflow UI), or @champion once a refresh has passed the audit gate; "
    "set MLFLOW_TRACKING_URI if the model lives in another store"
)


class ModelTampered(FairdistillError):
    """A registered model's files differ from the hashes recorded when it was registered."""


MODEL_TAMPERED = (
    "refusing to load {uri}: {problem}. Loading a model runs its code artifact (pyfunc.py), so "
    "fairdistill loads only models whose files match the sha256 recorded at registration; register "
    "it again with a refresh (or restore its artifacts from a backup)"
)


class ModelError(FairdistillError):
    """A trained model cannot do what was asked of it."""


NO_LABEL_OFFSETS = (
    "this model has no label offsets for decode mode {mode!r} (it was trained before the label "
    "calibration stage existed, or built without `models.pipeline.fit_label_calibration`); "
    "train it again with a refresh, or choose mode 'faithful' or 'counterfactual'"
)


class LocationError(FairdistillError):
    """A folder that a refresh writes to (lake, PREFECT_HOME, MLflow store) is missing or read-only."""


LOCATION_PARENT_MISSING = (
    "{name} is {path}, but its parent folder {parent} does not exist; create it, or set {name} to a "
    "folder under an existing one"
)
LOCATION_NOT_WRITABLE = (
    "{name} is {path}, which cannot be written ({reason}); make it writable, or set {name} to a "
    "folder you can write"
)
