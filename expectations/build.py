"""Build a dataset's Great Expectations suite from its spec, and from a reference frame when given.

The suite describes the *validation view* of a normalised frame (`validation_view`): the
modelled columns, the target as text (so `positive_label`, which is text, compares with any label
dtype), a `rows_in_<column>_group` column per sensitive attribute (rows in that row's group: GX
has no group-size expectation) and a `_row_id` column that names failing rows in COMPLETE results.
An image column is replaced by its metadata (`<image>_height`, `_width`, `_channels`, `_min`, `_max`;
null where the bytes do not decode), and `_row_id` is each image's source file (`_source`), so
failures name the files.

    python -m expectations.build adult|compas|colored-mnist|…   # writes expectations/<name>.json

Expectations marked ``meta.tuned`` in the committed JSON were adjusted by hand (``meta.notes``
says why); rebuilding keeps them, so the file is reproducible and the tuning lives with the data.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import polars as pl

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
from great_expectations.core import ExpectationSuite  # noqa: E402
from great_expectations.expectations import Expectation  # noqa: E402

from fairdistill.images import METADATA, SOURCE, image_metadata  # noqa: E402
from fairdistill.spec import DatasetSpec  # noqa: E402

SUITE_DIR = Path(__file__).resolve().parent
ROW_ID = "_row_id"
CATEGORICAL_TYPES = ["str"]  # object columns are checked value by value
NUMERIC_TYPES = ["int64", "float64", "int32", "float32"]
DATETIME_TYPES = ["datetime64[us]", "datetime64[ns]", "datetime64[ms]", "datetime64[s]"]
NULL_MARGIN = 0.05  # allowed rise of a column's null rate over the reference, absolute
VALUE_SET_MOSTLY = 0.999  # share of rows that must hold a category seen in the reference
RANGE_MARGIN = 0.10  # share of the reference span added below the minimum and above the maximum
ROW_COUNT_HEADROOM = 2.0  # at most this many times the reference's rows
E = gx.expectations


def suite_name(spec: DatasetSpec) -> str:
    return f"fairdistill-{spec.slug}"


def group_size_column(column: str) -> str:
    return f"rows_in_{column}_group"


def image_metadata_columns(spec: DatasetSpec) -> list[str]:
    """`<image>_height`, `<image>_width`, … : the validation view's columns for an image column."""
    return [f"{column}_{name}" for column in spec.image for name in METADATA]


def derived_columns(spec: DatasetSpec) -> list[str]:
    """Columns the validation view adds to the modelled ones."""
    groups = [group_size_column(column) for column in spec.sensitive_columns]
    return [ROW_ID, *groups, *image_metadata_columns(spec)]


def view_columns(spec: DatasetSpec) -> list[str]:
    """Every column of the validation view: the modelled ones (images by their metadata) and the
    derived ones."""
    modelled = [column for column in spec.modelled_columns if column not in spec.image]
    return [*modelled, *derived_columns(spec)]


def _with_image_metadata(frame: pl.DataFrame, spec: DatasetSpec) -> pl.DataFrame:
    """Images replaced by their metadata; `_row_id` = each image's source file when ingest kept it."""
    for column in spec.image:
        if column in frame.columns:
            metadata = image_metadata(frame[column]).rename(lambda n, c=column: f"{c}_{n}")
            frame = pl.concat([frame.drop(column), metadata], how="horizontal")
    if SOURCE in frame.columns:
        return frame.rename({SOURCE: ROW_ID})
    return frame.with_row_index(ROW_ID)


def validation_view(frame: pl.DataFrame, spec: DatasetSpec) -> pl.DataFrame:
    """The frame the suite runs on: row ids, the target as text, sensitive group sizes (and image
    metadata instead of images)."""
    present = [column for column in spec.sensitive_columns if column in frame.columns]
    view = _with_image_metadata(frame, spec) if spec.image else frame.with_row_index(ROW_ID)
    view = view.with_columns(
        pl.when(pl.col(column).is_not_null())
        .then(pl.len().over(column))
        .alias(group_size_column(column))
        for column in present
    )
    if spec.target in view.columns:
        view = view.with_columns(pl.col(spec.target).cast(pl.String))
    return view


def build_suite(spec: DatasetSpec, reference: pl.DataFrame | None = None) -> ExpectationSuite:
    """The suite `fairdistill-<name>`: checks from the spec, plus bounds observed on `reference`."""
    expectations = _spec_expectations(spec, reference)
    if reference is not None:
        expectations += _reference_expectations(spec, validation_view(reference, spec))
    return ExpectationSuite(
        name=suite_name(spec),
        expectations=expectations,
        meta={"dataset": spec.name, "built_from": "reference" if reference is not None else "spec"},
    )


def _spec_expectations(spec: DatasetSpec, reference: pl.DataFrame | None) -> list[Expectation]:
    maximum = None
    if reference is not None:
        maximum = max(math.ceil(reference.height * ROW_COUNT_HEADROOM), spec.min_rows)
    found = [
        E.ExpectTableColumnsToMatchSet(column_set=view_columns(spec), exact_match=True),
        E.ExpectTableRowCountToBeBetween(min_value=spec.min_rows, max_value=maximum),
        E.ExpectColumnUniqueValueCountToBeBetween(column=spec.target, min_value=2, max_value=2),
        E.ExpectColumnDistinctValuesToContainSet(
            column=spec.target, value_set=[spec.positive_label]
        ),
        E.ExpectColumnValuesToNotBeNull(column=spec.target, meta={"role": "target"}),
    ]
    kinds = [
        (CATEGORICAL_TYPES, [*spec.categorical, *spec.sensitive_columns]),
        (NUMERIC_TYPES, spec.numeric),
        (DATETIME_TYPES, spec.datetime),
    ]
    found += [
        E.ExpectColumnValuesToBeInTypeList(column=column, type_list=types)
        for types, columns in kinds
        for column in columns
    ]
    # A column with no value at all would be modelled as a constant (and published all null); an
    # image column is checked by its metadata (`_image_expectations`).
    found += [
        E.ExpectColumnUniqueValueCountToBeBetween(column=column, min_value=1)
        for column in spec.feature_columns
        if column not in spec.image
    ]
    for attribute in spec.sensitive:
        column = attribute.column
        found += [
            E.ExpectColumnValuesToNotBeNull(column=column, meta={"role": "sensitive"}),
            E.ExpectColumnUniqueValueCountToBeBetween(column=column, min_value=2),
            E.ExpectColumnDistinctValuesToContainSet(
                column=column, value_set=[attribute.privileged]
            ),
            E.ExpectColumnValuesToBeBetween(
                column=group_size_column(column),
                min_value=spec.min_group_rows,
                meta={"group_of": column},
            ),
        ]
    return found + _image_expectations(spec)


def _image_expectations(spec: DatasetSpec) -> list[Expectation]:
    """Every image decodes, has the spec's height, width and channels, and 8-bit pixel values."""
    if spec.image_format is None:
        return []
    size = spec.image_format.model_dump()
    found = []
    for column in spec.image:
        found.append(
            E.ExpectColumnValuesToNotBeNull(column=f"{column}_height", meta={"image": column})
        )
        found += [
            E.ExpectColumnValuesToBeBetween(
                column=f"{column}_{name}", min_value=size[name], max_value=size[name]
            )
            for name in ("height", "width", "channels")
        ]
        found += [
            E.ExpectColumnValuesToBeBetween(column=f"{column}_{name}", min_value=0, max_value=255)
            for name in ("min", "max")
        ]
    return found


def _reference_expectations(spec: DatasetSpec, view: pl.DataFrame) -> list[Expectation]:
    required = {spec.target, *spec.sensitive_columns, *spec.image}
    found = [_null_rate(view, column) for column in spec.feature_columns if column not in required]
    texts = [*spec.categorical, spec.target, *spec.sensitive_columns]
    found += [_value_set(view, column) for column in texts]
    found += [_value_range(view, column) for column in spec.numeric if view[column].count()]
    return found


def _floor(value: float, digits: int = 3) -> float:
    return math.floor(value * 10**digits) / 10**digits


def _null_rate(view: pl.DataFrame, column: str) -> Expectation:
    observed = 1.0 - view[column].null_count() / max(view.height, 1)
    mostly = max(0.0, _floor(observed - NULL_MARGIN))
    return E.ExpectColumnValuesToNotBeNull(column=column, mostly=mostly)


def _value_set(view: pl.DataFrame, column: str) -> Expectation:
    values = sorted(view[column].drop_nulls().unique().to_list())
    return E.ExpectColumnValuesToBeInSet(column=column, value_set=values, mostly=VALUE_SET_MOSTLY)


def _value_range(view: pl.DataFrame, column: str) -> Expectation:
    low, high = view[column].min(), view[column].max()
    margin = (high - low) * RANGE_MARGIN
    minimum, maximum = low - margin, high + margin
    if low >= 0:
        minimum = max(0, minimum)
    if view[column].dtype.is_integer():
        minimum, maximum = math.floor(minimum), math.ceil(maximum)
    return E.ExpectColumnValuesToBeBetween(column=column, min_value=minimum, max_value=maximum)


def expectation_key(config: dict) -> tuple[str, str | None]:
    """What identifies an expectation in a suite: its type and its column (one each per suite)."""
    return config["type"], config["kwargs"].get("column")


def suite_to_dict(suite: ExpectationSuite) -> dict:
    """The suite as plain, stable data: no ids, no empty fields."""
    data = suite.to_json_dict()
    data.pop("id", None)
    if data.get("notes") is None:
        data.pop("notes", None)
    for config in data["expectations"]:
        config.pop("id", None)
        config.pop("rendered_content", None)
        if config.get("notes") is None:
            config.pop("notes", None)
    return data


def suite_from_dict(data: dict) -> ExpectationSuite:
    return ExpectationSuite(**json.loads(json.dumps(data)))


def merge_tuned(built: dict, committed: dict | None) -> dict:
    """`built`, with each hand-tuned (``meta.tuned``) expectation of `committed` kept as is."""
    tuned = {
        expectation_key(config): config
        for config in (committed or {}).get("expectations", [])
        if config.get("meta", {}).get("tuned")
    }
    keys = {expectation_key(config) for config in built["expectations"]}
    merged = [tuned.get(expectation_key(config), config) for config in built["expectations"]]
    merged += [config for key, config in tuned.items() if key not in keys]
    return {**built, "expectations": merged}


def suite_path(name: str) -> Path:
    return SUITE_DIR / f"{name}.json"


def dumps(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_suite(spec: DatasetSpec, reference: pl.DataFrame, path: Path | None = None) -> Path:
    """Build from `reference`, keep the tuned expectations of the file at `path`, write it back."""
    path = path or suite_path(spec.slug)
    committed = json.loads(path.read_text()) if path.is_file() else None
    data = merge_tuned(suite_to_dict(build_suite(spec, reference)), committed)
    path.write_text(dumps(data))
    return path


def main(argv: list[str] | None = None) -> int:
    from fairdistill.ingest import read_dataset
    from fairdistill.spec import BUILTINS, load_builtin

    parser = argparse.ArgumentParser(prog="python -m expectations.build", description=__doc__)
    parser.add_argument("dataset", choices=BUILTINS)
    args = parser.parse_args(argv)
    spec = load_builtin(args.dataset)
    train, _, _ = read_dataset(spec)
    print(f"wrote {write_suite(spec, train)} from {train.height} training rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
