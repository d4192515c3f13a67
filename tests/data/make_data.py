"""Regenerate the small test tables: a valid `loans.csv` and one file per bad-input case.

python tests/data/make_data.py
"""

from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).parent


def loans(n: int = 600, seed: int = 0) -> pl.DataFrame:
    """A small table with planted bias: approval depends on income and, directly, on gender."""
    rng = np.random.default_rng(seed)
    gender = rng.choice(["M", "F"], size=n, p=[0.6, 0.4])
    age = rng.integers(18, 70, size=n)
    income = np.round(rng.lognormal(10, 0.5, size=n), 2)
    job = rng.choice(["clerk", "engineer", "nurse", "driver"], size=n)
    logit = (np.log(income) - 10) * 3 + np.where(gender == "M", 1.0, -1.0)
    approved = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pl.DataFrame(
        {"age": age, "income": income, "job": job, "gender": gender, "approved": approved}
    )


def main() -> None:
    frame = loans()
    frame.write_csv(HERE / "loans.csv")
    (HERE / "loans_empty.csv").write_text("")
    frame.drop("approved").write_csv(HERE / "loans_no_target.csv")
    frame.with_columns(pl.lit("no").alias("approved")).write_csv(HERE / "loans_one_class.csv")
    frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 100 == 7)
        .then(pl.lit("forty"))
        .otherwise(pl.col("age").cast(pl.String))
        .alias("age")
    ).write_csv(HERE / "loans_text_in_numeric.csv")
    frame.write_csv(HERE / "loans_semicolon.csv", separator=";")
    frame.filter((pl.col("gender") == "M") | (pl.int_range(pl.len()).over("gender") < 5)).write_csv(
        HERE / "loans_small_group.csv"
    )


if __name__ == "__main__":
    main()
