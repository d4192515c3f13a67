"""The table → array boundary of the metrics: one conversion helper, a seeded subsample, a fixed
embedding.

Every metric that reads Polars tables goes through `to_pandas` (STYLE rule 10: one named helper at
the sklearn boundary). Conventions fixed here and shared by every metric:

- a categorical null is its own category, the string ``NULL_CATEGORY``;
- numeric columns become float64, nulls become NaN; temporal columns become seconds (datetimes and
  dates since the epoch, times since midnight, durations their length);
- a subsample is drawn without replacement by a ``numpy.random.Generator`` that the caller passes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from fairdistill.errors import DataError

NULL_CATEGORY = "<null>"
COLUMNS_MISSING = (
    "column(s) {missing} not in the {role} table (found: {found}); pass tables that hold every "
    "column listed in `categorical`, `numeric`, `sensitive` and `target`"
)
NOT_FITTED = "this TableEmbedding is not fitted yet; call `fit(real_train)` before `transform`"
NO_COLUMNS = "no columns to compare; list at least one column in `categorical` or `numeric`"


def _numeric(table: pl.DataFrame, column: str) -> pl.Expr:
    """A numeric column as float64; a temporal one in seconds (since the epoch, since midnight for
    times, the length of a duration)."""
    dtype, col = table.schema[column], pl.col(column)
    if dtype == pl.Duration:
        return col.dt.total_microseconds().cast(pl.Float64) / 1e6
    if dtype == pl.Time:
        return col.to_physical().cast(pl.Float64) / 1e9  # nanoseconds since midnight
    if dtype.is_temporal():  # Datetime, Date
        return col.dt.epoch("us").cast(pl.Float64) / 1e6
    return col.cast(pl.Float64)


def to_pandas(
    table: pl.DataFrame, *, categorical: list[str], numeric: list[str], role: str = "input"
) -> pd.DataFrame:
    """Convert a Polars table into the pandas frame that the sklearn pipelines read.

    Parameters
    ----------
    table : polars.DataFrame
        The table; extra columns are ignored.
    categorical : list of str
        Columns cast to strings; a null becomes the category ``NULL_CATEGORY``.
    numeric : list of str
        Columns cast to float64 (nulls → NaN); temporal columns become seconds since the epoch.
    role : str
        Name of the table in the error message (``"synthetic"``, ``"holdout"``, …).

    Returns
    -------
    pandas.DataFrame
        Columns ``[*categorical, *numeric]`` in that order.

    Examples
    --------
    >>> import datetime as dt
    >>> t = pl.DataFrame({"job": ["a", None], "when": [dt.date(1970, 1, 2), None]})
    >>> to_pandas(t, categorical=["job"], numeric=["when"]).values.tolist()
    [['a', 86400.0], ['<null>', nan]]
    """
    missing = [c for c in (*categorical, *numeric) if c not in table.columns]
    if missing:
        raise DataError(COLUMNS_MISSING.format(missing=missing, role=role, found=table.columns))
    exprs = [pl.col(c).cast(pl.String).fill_null(NULL_CATEGORY) for c in categorical]
    frame = table.select(*exprs, *(_numeric(table, c) for c in numeric)).to_pandas()
    return frame.astype({c: object for c in categorical})


def subsample(table: pl.DataFrame, max_rows: int | None, rng: np.random.Generator) -> pl.DataFrame:
    """At most ``max_rows`` rows of ``table``, drawn without replacement by ``rng`` (row order kept).

    Parameters
    ----------
    table : polars.DataFrame
        The table.
    max_rows : int or None
        Row cap; ``None`` keeps every row. The table is returned whole when it is not larger.
    rng : numpy.random.Generator
        The caller's generator (no hidden seed); advanced only when rows are dropped.

    Returns
    -------
    polars.DataFrame

    Examples
    --------
    >>> t = pl.DataFrame({"a": range(10)})
    >>> subsample(t, 3, np.random.default_rng(0)).height
    3
    """
    if max_rows is None or table.height <= max_rows:
        return table
    return table[np.sort(rng.choice(table.height, size=max_rows, replace=False))]


def linear_features(categorical: list[str], numeric: list[str]) -> ColumnTransformer:
    """One-hot categoricals (unseen → all zeros) and median-imputed, standardised numerics."""
    if not categorical and not numeric:
        raise DataError(NO_COLUMNS)
    numeric_steps = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()
    )
    return ColumnTransformer(
        [
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                categorical,
            ),
            ("numeric", numeric_steps, numeric),
        ]
    )


class TableEmbedding(BaseEstimator):
    """A fixed, scaled embedding of table rows: the space of the distance-based metrics.

    φ(x) = [one-hot(categoricals), (numerics − mean) / std], fitted on real train (nulls: their own
    category; numeric NaN → the train median), optionally followed by a PCA fitted on the same rows.
    Not a trained network (Alaa et al. 2022 embed with a one-class network; a fixed map keeps the
    metrics comparable across runs). One categorical mismatch adds √2 to a Euclidean distance; one
    standard deviation of a numeric adds 1.

    Parameters
    ----------
    categorical : list of str
        Columns one-hot encoded.
    numeric : list of str
        Columns standardised (temporal columns as epoch seconds).
    n_components : int or None
        Keep this many principal components; ``None`` keeps the full embedding.

    Attributes
    ----------
    transformer_ : sklearn.compose.ColumnTransformer
        The fitted encoding.
    pca_ : sklearn.decomposition.PCA or None
        The fitted projection.

    Examples
    --------
    >>> real = pl.DataFrame({"c": ["a", "b", "b"], "x": [0.0, 1.0, 2.0]})
    >>> TableEmbedding(["c"], ["x"]).fit(real).transform(real).round(3).tolist()
    [[1.0, 0.0, -1.225], [0.0, 1.0, 0.0], [0.0, 1.0, 1.225]]
    """

    def __init__(self, categorical: list[str], numeric: list[str], n_components: int | None = None):
        self.categorical = categorical
        self.numeric = numeric
        self.n_components = n_components

    def fit(self, table: pl.DataFrame) -> TableEmbedding:
        """Fit the encoding (and the PCA) on ``table`` (real train); return self."""
        frame = to_pandas(table, categorical=self.categorical, numeric=self.numeric, role="real")
        self.transformer_ = linear_features(self.categorical, self.numeric).fit(frame)
        self.pca_ = None
        if self.n_components is not None:
            # svd_solver="full" is exact and deterministic: no seed needed
            self.pca_ = PCA(self.n_components, svd_solver="full").fit(
                self.transformer_.transform(frame)
            )
        return self

    def transform(self, table: pl.DataFrame, role: str = "input") -> np.ndarray:
        """Embed the rows of ``table``: an array of shape (n_rows, n_dims), float64."""
        if not hasattr(self, "transformer_"):
            raise NotFittedError(NOT_FITTED)
        frame = to_pandas(table, categorical=self.categorical, numeric=self.numeric, role=role)
        x = np.asarray(self.transformer_.transform(frame), dtype=np.float64)
        return x if self.pca_ is None else self.pca_.transform(x)
