"""Fixtures of the metric tests: a small slice of the shipped Adult tables, one BLAS/OpenMP thread.

One thread: on a 2-core machine shared with other jobs, sklearn's threaded fits ran 5-20x slower
than single-threaded ones (DESIGN §4, practicalities).
"""

from pathlib import Path

import polars as pl
import pytest
from threadpoolctl import threadpool_limits

ADULT = Path(__file__).resolve().parents[3] / "datasets" / "adult"
NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
TARGET, POSITIVE, SENSITIVE = "income", ">50K", "sex"
N_ROWS = 4000


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Module scope: the limit ends with this folder's modules and never leaks into other tests."""
    with threadpool_limits(limits=1):
        yield


def _read(name: str) -> pl.DataFrame:
    """Adult with '?' as null and the holdout's labels without their trailing dot."""
    table = pl.read_parquet(ADULT / f"{name}.parquet")
    text = [c for c, dtype in table.schema.items() if dtype == pl.String]
    table = table.with_columns(
        pl.when(pl.col(c) == "?").then(None).otherwise(pl.col(c)).alias(c) for c in text
    )
    return table.with_columns(pl.col(TARGET).str.strip_suffix("."))


@pytest.fixture(scope="session")
def adult_train() -> pl.DataFrame:
    return _read("train").sample(N_ROWS, seed=0)


@pytest.fixture(scope="session")
def adult_holdout() -> pl.DataFrame:
    return _read("holdout").sample(N_ROWS, seed=0)


@pytest.fixture(scope="session")
def adult_columns(adult_train) -> dict:
    """categorical: every string column (sensitive and target included); features: without them."""
    categorical = [c for c, t in adult_train.schema.items() if t == pl.String]
    features = [c for c in categorical if c not in (TARGET, SENSITIVE)]
    return {
        "categorical": categorical,
        "numeric": NUMERIC,
        "features": features,
        "target": TARGET,
        "positive_label": POSITIVE,
        "sensitive": SENSITIVE,
    }
