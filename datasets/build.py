"""Rebuild the shipped datasets from their raw public copies (a maintainer's tool, never run by the product).

    python datasets/build.py --adult-dir RAW/adult --compas-file RAW/compas-scores-two-years.csv

Values are kept as published (``?`` for missing, ``>50K.`` labels in the Adult test file): the ingest stage
normalises them, exactly as it would for a user's own file. Only the container changes (CSV -> zstd Parquet
with column names), plus the row filters named in each PROVENANCE.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

HERE = Path(__file__).parent

ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
]
ADULT_NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]

COMPAS_COLUMNS = [
    "sex",
    "age",
    "race",
    "juv_fel_count",
    "juv_misd_count",
    "juv_other_count",
    "priors_count",
    "c_charge_degree",
    "c_jail_in",
    "c_jail_out",
    "two_year_recid",
]


def read_adult(path: Path, skip_rows: int) -> pl.DataFrame:
    frame = pl.read_csv(
        path,
        has_header=False,
        new_columns=ADULT_COLUMNS,
        skip_rows=skip_rows,
        infer_schema=False,
        separator=",",
    )
    frame = frame.with_columns(pl.all().str.strip_chars()).filter(pl.col("age").is_not_null())
    return frame.with_columns(pl.col(ADULT_NUMERIC).cast(pl.Int64))


def read_compas(path: Path) -> pl.DataFrame:
    """ProPublica's filters (compas-analysis notebook): screening within 30 days of arrest, a known
    recidivism outcome, no ordinary traffic offences, a score present. Asian and Native American
    (42 rows together) are folded into Other so that every race group can be validated and audited."""
    frame = pl.read_csv(path, infer_schema_length=10_000)
    frame = frame.filter(
        pl.col("days_b_screening_arrest").is_between(-30, 30),
        pl.col("is_recid") != -1,
        pl.col("c_charge_degree") != "O",
        pl.col("score_text") != "N/A",
    )
    frame = frame.select(COMPAS_COLUMNS).with_columns(
        pl.when(pl.col("race").is_in(["Asian", "Native American"]))
        .then(pl.lit("Other"))
        .otherwise(pl.col("race"))
        .alias("race")
    )
    return frame


def write(frame: pl.DataFrame, path: Path) -> None:
    frame.write_parquet(path, compression="zstd", compression_level=19, statistics=False)
    print(f"{path}: {frame.height} rows, {path.stat().st_size // 1024} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adult-dir", type=Path, required=True)
    parser.add_argument("--compas-file", type=Path, required=True)
    args = parser.parse_args()
    write(read_adult(args.adult_dir / "adult.data", skip_rows=0), HERE / "adult" / "train.parquet")
    write(
        read_adult(args.adult_dir / "adult.test", skip_rows=1), HERE / "adult" / "holdout.parquet"
    )
    write(read_compas(args.compas_file), HERE / "compas" / "data.parquet")


if __name__ == "__main__":
    main()
