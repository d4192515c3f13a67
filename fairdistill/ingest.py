"""Ingest: read a dataset's source with Polars, normalise it to its spec, split it, snapshot it.

Structural problems (missing file, empty file, wrong delimiter, missing or undeclared columns, nested
columns, a numeric column holding text or numbers no model can use: NaN, ±inf, beyond ±2^53, a missing
image file) stop here with a message naming the file, the column and the fix. Content checks (classes,
groups, privileged value, empty columns, ranges, null rates, image size and channels) belong to the
Great Expectations suite in the next stage.

An image column is read as PNG bytes: from a Parquet source as stored, from a CSV source by reading the
file each row names (relative to the CSV's folder). Each image's origin (its file, or its row of a
Parquet source) is kept in the `_source` column, so that the validation stage names the failing files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import fsspec
import polars as pl

from fairdistill import errors
from fairdistill.images import SOURCE
from fairdistill.lake import mirror, stage_dir, write_json, write_parquet
from fairdistill.spec import BUILTINS, DatasetSpec

# Below this many training rows a table is small: say what to expect before training starts.
SMALL_TABLE_ROWS = 2_000
SMALL_TABLE = (
    "a small table: {rows} training rows and {holdout} holdout rows. The model trains in seconds, "
    "but every audit number rests on {holdout} holdout rows: expect wide intervals in the report "
    "(where an interval is wider than its check's tolerance, the gate fails a shortfall only if "
    "the whole interval shows it, and says so), and a weaker synthetic label than on a large table"
)
CSV_SUFFIXES = {".csv", ".tsv", ".txt", ".data", ".test"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
# Largest magnitude of a numeric value: beyond 2^53 float64 (the codec's and the audit's number
# type) no longer holds every integer, and squares in the audit's statistics overflow long before
# 1e308. Larger values are refused at ingest, like text in a numeric column.
MAX_MAGNITUDE = 2.0**53


@dataclass(frozen=True)
class Snapshot:
    """The raw snapshot of one run: where it lies in the lake and what it holds."""

    dataset: str
    run_id: str
    train_path: str
    holdout_path: str
    fingerprint: str
    train_rows: int
    holdout_rows: int


def read_source(location: str, spec: DatasetSpec) -> tuple[pl.DataFrame, bytes]:
    """Read a CSV or Parquet file (local path or fsspec URL); returns the frame and the file's bytes."""
    content = _read_bytes(location, spec)
    fmt = _format_of(location, spec)
    delimiter = (spec.delimiter or sniff_delimiter(content)) if fmt == "csv" else ""
    try:
        if fmt == "parquet":
            frame = pl.read_parquet(io.BytesIO(content))
        else:
            frame = pl.read_csv(
                io.BytesIO(content),
                separator=delimiter,
                has_header=spec.has_header,
                new_columns=spec.column_names,
                infer_schema=False,
            )
    except pl.exceptions.NoDataError:
        raise errors.DataError(errors.SOURCE_EMPTY.format(path=location)) from None
    except (pl.exceptions.PolarsError, OSError) as error:
        reason = str(error).splitlines()[0]
        raise errors.DataError(
            errors.SOURCE_UNREADABLE.format(path=location, fmt=fmt, reason=reason, spec=spec.origin)
        ) from None
    if frame.height == 0:
        raise errors.DataError(errors.SOURCE_EMPTY.format(path=location))
    if fmt == "csv":
        _check_delimiter(frame, location, spec)
        if spec.has_header and not spec.column_names:
            frame = _with_csv_header(frame, content, delimiter)
    return drop_pandas_index(frame, spec), content


DELIMITERS = ",;\t|"
# How pandas writes its index: a Parquet column `__index_level_0__`, or a CSV column without a
# name (`""`, or `Unnamed: 0` after a round trip).
PANDAS_INDEX = re.compile(r"^(__index_level_\d+__|Unnamed: \d+|)$")


def sniff_delimiter(content: bytes) -> str:
    """The delimiter of a CSV, guessed from its first lines (`,` when nothing stands out)."""
    sample = content[:65_536].decode("utf-8", errors="replace")
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        return max(DELIMITERS, key=first.count) if any(d in first for d in DELIMITERS) else ","


def drop_pandas_index(frame: pl.DataFrame, spec: DatasetSpec) -> pl.DataFrame:
    """Drop the index column a pandas export adds, unless the spec declares it."""
    index = [c for c in frame.columns if PANDAS_INDEX.match(c) and c not in spec.declared_columns]
    return frame.drop(index)


def _with_csv_header(frame: pl.DataFrame, content: bytes, delimiter: str) -> pl.DataFrame:
    """The header as the CSV standard (RFC 4180) reads it. Polars 2.1 keeps the doubled quotes of a
    quoted column name (`net ""income""` for `net "income"`), so names come from Python's csv module."""
    text = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8", errors="replace", newline="")
    header = next(csv.reader(text, delimiter=delimiter), [])
    if header == frame.columns or len(header) != frame.width or len(set(header)) != len(header):
        return frame
    return frame.rename(dict(zip(frame.columns, header, strict=True)))


def _read_bytes(location: str, spec: DatasetSpec) -> bytes:
    try:
        with fsspec.open(location, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, IsADirectoryError):
        raise errors.DataError(
            errors.SOURCE_NOT_FOUND.format(
                path=location, spec=spec.origin, builtins=", ".join(BUILTINS)
            )
        ) from None


def _format_of(location: str, spec: DatasetSpec) -> str:
    if spec.format != "auto":
        return spec.format
    suffix = Path(location.split("?")[0]).suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in CSV_SUFFIXES:
        return "csv"
    raise errors.DataError(errors.SOURCE_FORMAT_UNKNOWN.format(path=location, spec=spec.origin))


def _check_delimiter(frame: pl.DataFrame, location: str, spec: DatasetSpec) -> None:
    """One column where the spec declares several means the delimiter is wrong: name the likely one."""
    if frame.width > 1 or len(spec.declared_columns) <= 1:
        return
    column = frame.columns[0]
    raise errors.DataError(
        errors.WRONG_DELIMITER.format(
            path=location,
            delimiter=spec.delimiter or sniff_delimiter(column.encode()),
            column=column[:60],
            guess=max(DELIMITERS, key=column.count),
            spec=spec.origin,
        )
    )


def check_columns(frame: pl.DataFrame, location: str, spec: DatasetSpec) -> None:
    """Every declared column is present and every present column is declared."""
    found = frame.columns
    roles = [
        ("target", [spec.target]),
        ("sensitive", spec.sensitive_columns),
        ("feature", [*spec.feature_columns, *spec.drop]),
    ]
    for role, columns in roles:
        missing = [column for column in columns if column not in found]
        if missing:
            raise errors.DataError(
                errors.COLUMNS_MISSING.format(
                    role=role,
                    missing=", ".join(map(repr, missing)),
                    path=location,
                    found=", ".join(found[:20]) + (", …" if len(found) > 20 else ""),
                    spec=spec.origin,
                )
            )
    undeclared = [column for column in found if column not in spec.declared_columns]
    if undeclared:
        raise errors.DataError(
            errors.COLUMNS_UNDECLARED.format(
                columns=", ".join(map(repr, undeclared)), path=location, spec=spec.origin
            )
        )


def normalise(frame: pl.DataFrame, location: str, spec: DatasetSpec) -> pl.DataFrame:
    """Columns in spec order with their declared types: trimmed text, missing tokens as null, label
    variants rewritten, numbers and datetimes parsed."""
    check_columns(frame, location, spec)
    frame = frame.select(spec.modelled_columns)
    for column, dtype in frame.schema.items():
        if dtype.is_nested():
            raise errors.DataError(
                errors.NESTED_COLUMN.format(
                    column=column, path=location, dtype=dtype, spec=spec.origin
                )
            )
    text = [column for column, dtype in frame.schema.items() if dtype == pl.String]
    frame = frame.with_columns(
        pl.when(pl.col(column).str.strip_chars().is_in(spec.missing_values))
        .then(None)
        .otherwise(pl.col(column).str.strip_chars())
        .alias(column)
        for column in text
    )
    categories = [*spec.categorical, *spec.sensitive_columns]
    frame = frame.with_columns(pl.col(categories).cast(pl.String))
    if frame.schema[spec.target] == pl.String:
        frame = frame.with_columns(pl.col(spec.target).replace(spec.label_aliases))
    parsed = [_numeric(frame[column], location, spec) for column in spec.numeric]
    parsed += [_datetime(frame[column], location, spec) for column in spec.datetime]
    frame = frame.with_columns(parsed)
    return _with_images(frame, location, spec) if spec.image else frame


def _with_images(frame: pl.DataFrame, location: str, spec: DatasetSpec) -> pl.DataFrame:
    """The image column as PNG bytes, plus `_source`: each image's file, or its row of the source."""
    column = spec.image[0]
    images = frame[column]
    if images.dtype == pl.Binary:
        sources = pl.format("row {}", pl.int_range(pl.len()))
        return frame.with_columns(sources.alias(SOURCE))
    if images.dtype != pl.String:
        raise errors.DataError(
            errors.IMAGE_COLUMN_TYPE.format(
                column=column, path=location, dtype=images.dtype, spec=spec.origin
            )
        )
    folder = location.rsplit("/", 1)[0] if "/" in location else "."
    files = images.to_list()
    contents, missing = [], []
    for name in files:
        if name is None:  # no file named: the validation suite reports the row
            contents.append(None)
            continue
        try:
            with fsspec.open(f"{folder}/{name}", "rb") as handle:
                contents.append(handle.read())
        except (FileNotFoundError, IsADirectoryError):
            contents.append(None)
            missing.append(name)
    if missing:
        raise errors.DataError(
            errors.IMAGE_FILES_MISSING.format(
                count=len(missing),
                column=column,
                path=location,
                files=", ".join(map(repr, missing[:5])) + (", …" if len(missing) > 5 else ""),
                folder=folder,
            )
        )
    return frame.with_columns(
        pl.Series(column, contents, pl.Binary), pl.Series(SOURCE, files, pl.String)
    )


def _hash_images(digest, frame: pl.DataFrame, spec: DatasetSpec) -> None:
    """Add the image bytes to the fingerprint: a CSV source's own bytes only name the files."""
    for column in spec.image:
        for data in frame[column].to_list():
            digest.update(data or b"")


def _examples(values: pl.Series) -> str:
    return ", ".join(repr(value) for value in values.unique(maintain_order=True).head(3).to_list())


def _numeric(series: pl.Series, location: str, spec: DatasetSpec) -> pl.Series:
    if series.dtype.is_numeric():
        _check_finite(series, series, location, spec)
        return series
    if spec.decimal == ",":  # `1234,56` → `1234.56`
        series = series.str.replace(",", ".", literal=True)
    as_float = series.cast(pl.Float64, strict=False)
    text = series.filter(as_float.is_null() & series.is_not_null())
    if text.len():
        comma = spec.decimal == "." and text.str.contains(r"^\s*-?[\d.]*\d,\d+\s*$").all()
        raise errors.DataError(
            errors.NUMERIC_HOLDS_TEXT.format(
                column=series.name,
                path=location,
                count=text.len(),
                examples=_examples(text),
                spec=spec.origin,
                hint=errors.DECIMAL_COMMA_HINT.format(spec=spec.origin) if comma else "",
            )
        )
    _check_finite(as_float, series, location, spec)
    as_int = series.cast(pl.Int64, strict=False)
    return as_int if as_int.null_count() == series.null_count() else as_float


def _check_finite(numbers: pl.Series, given: pl.Series, location: str, spec: DatasetSpec) -> None:
    """NaN, ±inf and magnitudes beyond `MAX_MAGNITUDE` are refused; `given` holds the values as read
    (text for a CSV), for the examples."""
    numbers = numbers.cast(pl.Float64)
    bad = (numbers.is_nan() | (numbers.abs() > MAX_MAGNITUDE)).fill_null(False)
    if bad.any():
        raise errors.DataError(
            errors.NUMERIC_NOT_FINITE.format(
                column=given.name,
                path=location,
                count=int(bad.sum()),
                limit=MAX_MAGNITUDE,
                examples=_examples(given.filter(bad)),
                spec=spec.origin,
            )
        )


def _datetime(series: pl.Series, location: str, spec: DatasetSpec) -> pl.Series:
    """Dates stay dates and datetimes keep their unit; text is parsed, and text that holds only
    dates (every time of day 00:00) becomes a date column."""
    if series.dtype == pl.Date or isinstance(series.dtype, pl.Datetime):
        return series
    if series.dtype.is_temporal():
        return series.cast(pl.Datetime("us"))
    parsed = series.cast(pl.String).str.to_datetime(
        spec.datetime_format, strict=False, time_unit="us"
    )
    if parsed.is_not_null().any() and (parsed.dt.truncate("1d") == parsed).all():
        parsed = parsed.dt.date()
    bad = series.filter(parsed.is_null() & series.is_not_null())
    if bad.len():
        raise errors.DataError(
            errors.DATETIME_UNPARSEABLE.format(
                column=series.name,
                path=location,
                count=bad.len(),
                examples=_examples(bad),
                spec=spec.origin,
            )
        )
    return parsed


def read_table(location: str, spec: DatasetSpec) -> pl.DataFrame:
    """A whole table (a train, holdout or synthetic file) read and normalised to its spec."""
    return normalise(read_source(location, spec)[0], location, spec)


def read_training_rows(location: str, columns: list[str]) -> pl.DataFrame:
    """A run's raw training snapshot (Parquet), checked to hold a model's columns (an image
    snapshot's `_source` column, where each image came from, is not one of them)."""
    try:
        frame = pl.read_parquet(location).drop(SOURCE, strict=False)
    except (pl.exceptions.PolarsError, OSError) as error:
        reason = str(error).splitlines()[0]
        raise errors.DataError(
            errors.TRAINING_ROWS_UNREADABLE.format(path=location, reason=reason)
        ) from None
    if frame.columns != columns:
        raise errors.DataError(
            errors.TRAINING_ROWS_COLUMNS.format(path=location, found=frame.columns, columns=columns)
        )
    return frame


def split_holdout(frame: pl.DataFrame, spec: DatasetSpec) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Seeded holdout stratified on target x sensitive groups: each stratum keeps its share."""
    strata = [spec.target, *spec.sensitive_columns]
    rank = pl.int_range(pl.len()).shuffle(seed=spec.split.seed).over(strata)
    cutoff = (pl.len().over(strata) * spec.split.holdout_fraction).round()
    frame = frame.with_columns((rank < cutoff).alias("_is_holdout"))
    train = frame.filter(~pl.col("_is_holdout")).drop("_is_holdout")
    holdout = frame.filter(pl.col("_is_holdout")).drop("_is_holdout")
    return train, holdout


def read_dataset(spec: DatasetSpec) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """Train and holdout frames, normalised, plus the dataset fingerprint.

    The fingerprint is a SHA-256 over the source bytes, the holdout bytes, the images and the spec, so
    the same inputs give the same fingerprint and any change to them a new one.
    """
    source = spec.source_location()
    raw, content = read_source(source, spec)
    digest = hashlib.sha256(content)
    train = normalise(raw, source, spec)
    _hash_images(digest, train, spec)
    holdout_location = spec.holdout_location()
    if holdout_location:
        raw_holdout, holdout_content = read_source(holdout_location, spec)
        if set(raw_holdout.columns) != set(raw.columns):
            raise errors.DataError(
                errors.HOLDOUT_COLUMNS_DIFFER.format(
                    holdout=holdout_location,
                    holdout_columns=raw_holdout.columns,
                    path=source,
                    columns=raw.columns,
                )
            )
        digest.update(holdout_content)
        holdout = normalise(raw_holdout, holdout_location, spec)
        _hash_images(digest, holdout, spec)
    else:
        train, holdout = split_holdout(train, spec)
    digest.update(spec.model_dump_json(exclude={"spec_file"}).encode())
    return train, holdout, digest.hexdigest()[:16]


def snapshot_dataset(spec: DatasetSpec, run_id: str) -> Snapshot:
    """Read, normalise and split the source, and write `raw/<dataset>/<run_id>/` to the lake."""
    train, holdout, fingerprint = read_dataset(spec)
    folder = stage_dir("raw", spec.slug, run_id)
    snapshot = Snapshot(
        dataset=spec.slug,
        run_id=run_id,
        train_path=str(write_parquet(train, folder / "train.parquet")),
        holdout_path=str(write_parquet(holdout, folder / "holdout.parquet")),
        fingerprint=fingerprint,
        train_rows=train.height,
        holdout_rows=holdout.height,
    )
    write_json({**asdict(snapshot), "spec": spec.model_dump(mode="json")}, folder / "manifest.json")
    mirror(folder)
    return snapshot
