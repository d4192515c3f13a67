"""Privacy of a synthetic table against the real rows it was trained on (DESIGN §5).

Exact copies: synthetic rows identical to some training row. Rare values: categories that only a
few training rows hold, found again in the synthetic table (a value that singles out a person
should never be released). Distance to closest record (DCR): how
close synthetic rows come to training rows, against the same for real holdout rows, which the
generator never saw; synthetic rows much closer to train than holdout rows are signs of
memorisation. Distances are Euclidean in the `TableEmbedding` fitted on real train (one-hot +
standardised numerics), the space of the fidelity metrics.

References
----------
Park et al., "Data synthesis based on generative adversarial networks", VLDB 2018,
arXiv:1806.03384 (DCR). Platzer, Reutterer, "Holdout-based fidelity and privacy assessment of
mixed-type synthetic data", Frontiers in Big Data 2021, arXiv:2104.00635 (the holdout reference).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.neighbors import NearestNeighbors

from fairdistill.errors import DataError
from fairdistill.metrics.tables import COLUMNS_MISSING, TableEmbedding, subsample


def _comparable(table: pl.DataFrame, columns: list[str], schema: pl.Schema) -> pl.DataFrame:
    """Columns cast to one comparable type each: numbers and times as float64, the rest as text."""

    def cast(c: str) -> pl.Expr:
        dtype = schema[c]
        if dtype.is_numeric() or dtype.is_temporal():
            return pl.col(c).to_physical().cast(pl.Float64)
        return pl.col(c).cast(pl.String)

    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(
            COLUMNS_MISSING.format(missing=missing, role="synthetic", found=table.columns)
        )
    return table.select(cast(c) for c in columns)


def exact_copy_rate(
    train: pl.DataFrame, synthetic: pl.DataFrame, *, columns: list[str] | None = None
) -> float:
    """Share of synthetic rows identical to at least one training row on all modelled columns.

    copies = |{j : ∃ i, syn_j[c] = train_i[c] ∀ c ∈ columns}| / n_synthetic; nulls equal nulls;
    numbers compared as float64 (so 39 and 39.0 match), other values as text. All rows are
    compared (a hash semi-join, no subsampling).

    Parameters
    ----------
    train : polars.DataFrame
        Real training rows.
    synthetic : polars.DataFrame
        Synthetic rows.
    columns : list of str or None
        Modelled columns; ``None``: every column of ``train``.

    Returns
    -------
    float
        In [0, 1]; ideal 0 (the audit gate demands 0); a table of training rows scores 1.

    Examples
    --------
    >>> train = pl.DataFrame({"a": [1, 2, None], "b": ["x", "y", "z"]})
    >>> exact_copy_rate(train, pl.DataFrame({"a": [1.0, None, 2.0, 9.0], "b": ["x", "z", "x", "y"]}))
    0.5
    """
    columns = list(train.columns if columns is None else columns)
    real = _comparable(train, columns, train.schema)
    fake = _comparable(synthetic, columns, train.schema)
    # Only rows whose 64-bit hash both tables hold are joined on every column: a join of two
    # 800,000-row tables on all columns needs ≈ 800 MB, their hashes 8 bytes a row.
    real_hash, fake_hash = real.hash_rows(), fake.hash_rows()
    candidates = fake.filter(fake_hash.is_in(real_hash.implode()))
    real = real.filter(real_hash.is_in(fake_hash.implode())).unique()
    copies = candidates.join(real, on=columns, how="semi", nulls_equal=True).height
    return copies / fake.height if fake.height else float("nan")


def rare_values_reproduced(
    train: pl.DataFrame, synthetic: pl.DataFrame, *, columns: list[str], min_count: int
) -> int:
    """How many distinct rare training values appear in the synthetic table.

    rare = |{(c, v) : 0 < n_train(c, v) < min_count, v ∈ synthetic[c]}| over the given columns;
    values compared as text, nulls never counted. The same threshold as the codec's
    ``min_category_rows`` (`fairdistill.codec`), which keeps rare values out of generated rows.

    Parameters
    ----------
    train : polars.DataFrame
        Real training rows.
    synthetic : polars.DataFrame
        Synthetic rows.
    columns : list of str
        Categorical columns to check.
    min_count : int
        A value seen in fewer training rows than this is rare.

    Returns
    -------
    int
        ≥ 0; ideal 0. A copy of the training table scores the number of its rare values.

    Examples
    --------
    >>> train = pl.DataFrame({"job": ["a"] * 5 + ["b", "c", None]})
    >>> rare_values_reproduced(train, pl.DataFrame({"job": ["a", "b", "b", None]}), columns=["job"],
    ...                        min_count=5)
    1
    """
    found = 0
    for column in columns:
        counts = train.select(pl.col(column).cast(pl.String)).drop_nulls().group_by(column).len()
        rare = counts.filter(pl.col("len") < min_count)[column]
        found += int(rare.is_in(synthetic[column].cast(pl.String).drop_nulls()).sum())
    return found


def duplicate_rate(table: pl.DataFrame, *, columns: list[str] | None = None) -> float:
    """Share of rows that have an identical twin in the same table: the rate at which a table
    repeats itself, so the copy rate a fresh real sample of it shows against the rest.

    dup = |{i : ∃ j ≠ i, t_i[c] = t_j[c] ∀ c ∈ columns}| / n; nulls equal nulls.

    Parameters
    ----------
    table : polars.DataFrame
        Real rows (the training table).
    columns : list of str or None
        Modelled columns; ``None``: every column.

    Returns
    -------
    float
        In [0, 1]: 0 when every row is unique (Adult: 0.001), high for tables of few distinct rows.
        No ideal value: it describes a real table, the reference of `exact_copy_rate`.

    Examples
    --------
    >>> duplicate_rate(pl.DataFrame({"a": [1, 1, 2, 3], "b": ["x", "x", "y", None]}))
    0.5
    """
    table = table.select(columns) if columns is not None else table
    if not table.height:
        return float("nan")
    # rows with a repeated hash, compared in full (bounded memory as in `exact_copy_rate`)
    candidates = table.filter(table.hash_rows().is_duplicated())
    return float(candidates.is_duplicated().sum() / table.height)


def closest_record_distances(reference_x, query_x) -> np.ndarray:
    """Euclidean distance from each query row to its nearest reference row (DCR).

    DCR_j = min_i ‖q_j − r_i‖, by ``sklearn.neighbors.NearestNeighbors``.

    Parameters
    ----------
    reference_x : array-like of shape (n_reference, n_dims)
        Embedded training rows.
    query_x : array-like of shape (n_query, n_dims)
        Embedded synthetic (or holdout) rows.

    Returns
    -------
    numpy.ndarray of shape (n_query,)
        Distances ≥ 0; 0 for a copy. Ideal: distributed like the holdout's DCR.

    Examples
    --------
    >>> closest_record_distances([[0.0, 0.0], [3.0, 0.0]], [[0.0, 4.0], [3.0, 0.0]]).tolist()
    [4.0, 0.0]
    """
    return NearestNeighbors(n_neighbors=1).fit(reference_x).kneighbors(query_x)[0][:, 0]


def distance_to_closest_record(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    *,
    categorical: list[str],
    numeric: list[str],
    embedding: TableEmbedding | None = None,
    max_rows: int | None = 5_000,
    random_state,
) -> dict[str, float]:
    """DCR of synthetic rows to train against DCR of real holdout rows to train.

    φ = ``embedding`` (default: fitted on all of ``train``); at most ``max_rows`` synthetic and
    holdout rows are drawn (seeded, without replacement) and their distances to ALL training rows
    computed (`closest_record_distances`). Reported: the median and 5th percentile of each DCR and
    the share of synthetic rows closer to train than the holdout's 5th percentile, q = P(DCR_syn <
    p5(DCR_holdout)).

    Parameters
    ----------
    train : polars.DataFrame
        Real training rows (the generator's input).
    holdout : polars.DataFrame
        Real rows the generator never saw.
    synthetic : polars.DataFrame
        Synthetic rows.
    categorical : list of str
        Categorical columns of the embedding.
    numeric : list of str
        Numeric and temporal columns of the embedding.
    embedding : TableEmbedding or None
        A fitted embedding to reuse.
    max_rows : int or None
        Row cap of the synthetic and holdout sides (``None``: all rows).
    random_state : int or numpy.random.Generator
        Seed of the subsample.

    Returns
    -------
    dict of str to float
        ``{"dcr_synthetic_median", "dcr_synthetic_p5", "dcr_holdout_median", "dcr_holdout_p5",
        "dcr_closer_than_holdout_p5"}``. Ideal: synthetic quantiles ≈ holdout quantiles and the
        share ≈ 0.05; copies of train give 0, 0 and 1.

    Examples
    --------
    >>> t = pl.DataFrame({"x": np.arange(40.0)})
    >>> r = distance_to_closest_record(t[::2], t[1::2], t[::2], categorical=[], numeric=["x"],
    ...                                random_state=0)
    >>> r["dcr_synthetic_median"], r["dcr_closer_than_holdout_p5"]
    (0.0, 1.0)
    """
    rng = np.random.default_rng(random_state)
    embedding = embedding or TableEmbedding(categorical, numeric).fit(train)
    train_x = embedding.transform(train, role="train")
    dcr = {
        name: closest_record_distances(
            train_x, embedding.transform(subsample(t, max_rows, rng), role=name)
        )
        for name, t in (("synthetic", synthetic), ("holdout", holdout))
    }
    stats = {
        f"dcr_{n}_{q}": float(np.percentile(d, p))
        for n, d in dcr.items()
        for q, p in (("median", 50), ("p5", 5))
    }
    closer = float(np.mean(dcr["synthetic"] < stats["dcr_holdout_p5"]))
    return {**stats, "dcr_closer_than_holdout_p5": closer}
