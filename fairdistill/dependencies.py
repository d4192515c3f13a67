"""Functional dependencies between columns: found in the training rows, kept in generated rows.

A column A *determines* B when every value of A comes with one value of B (``education`` →
``education_num`` in Adult). A generator that models columns jointly but not exactly breaks such
rules (20% of Adult's synthetic rows paired "12th" with an education_num of 9, and a detector found
them at once). The codec finds the dependencies that hold in at least `MIN_RATE` of the training
rows (`functional_dependencies`) and rewrites each dependent column from its determinant in every
decoded chunk (`enforce_dependencies`, Polars expressions); the audit reports the share of rows
where each holds, real against synthetic (`dependency_rates`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import polars as pl

# Least share of rows in which A determines B for A → B to count as a dependency.
MIN_RATE = 0.995
# Candidate columns: 2 to MAX_CARDINALITY distinct values and, on average, MIN_ROWS_PER_VALUE rows
# per value (a near-key column "determines" everything on a small table).
MAX_CARDINALITY = 100
MIN_ROWS_PER_VALUE = 20
# Detection reads at most this many rows (a seeded sample): rates are shares, and a sample of this
# size estimates a 99.5% rate to within ±0.05%.
MAX_ROWS = 100_000


@dataclass(frozen=True)
class Dependency:
    """``determinant → dependent``, with the train mapping (``keys[i]`` → ``values[i]``)."""

    determinant: str
    dependent: str
    keys: list
    values: list
    rate: float  # share of the rows it was found on where the mapping holds

    @property
    def name(self) -> str:
        return f"{self.determinant}->{self.dependent}"

    def to_dict(self) -> dict:
        return asdict(self)


def dependency_rate(frame: pl.DataFrame, determinant: str, dependent: str) -> float:
    """Share of rows whose B is the most frequent B of their A: ``Σ_a max_b n(a, b) / n``.

    >>> t = pl.DataFrame({"a": [1, 1, 1, 2], "b": ["x", "x", "y", "z"]})
    >>> dependency_rate(t, "a", "b")
    0.75
    """
    counts = frame.group_by(determinant, dependent).len()
    best = counts.group_by(determinant).agg(pl.col("len").max())
    return float(best["len"].sum() / max(frame.height, 1))


def _candidates(frame: pl.DataFrame, columns: Sequence[str]) -> dict[str, int]:
    cardinality = frame.select(pl.col(c).n_unique() for c in columns).row(0, named=True)
    return {
        c: k
        for c, k in cardinality.items()
        if 2 <= k <= MAX_CARDINALITY and frame.height / k >= MIN_ROWS_PER_VALUE
    }


def _mapping(frame: pl.DataFrame, a: str, b: str, min_pair_rows: int) -> tuple[list, list]:
    """Each non-null A value's most frequent B (ties: the smallest B), kept when that pair is seen
    in at least ``min_pair_rows`` rows: a value rarer than that never reaches a synthetic row."""
    pairs = (
        frame.filter(pl.col(a).is_not_null())
        .group_by(a, b)
        .len()
        .sort([a, "len", b], descending=[False, True, False], nulls_last=True)
        .group_by(a, maintain_order=True)
        .first()
        .filter(pl.col("len") >= min_pair_rows)
    )
    return pairs[a].to_list(), pairs[b].to_list()


def functional_dependencies(
    frame: pl.DataFrame,
    columns: Sequence[str],
    *,
    exclude_dependents: Sequence[str] = (),
    min_pair_rows: int = 1,
    random_state: int = 0,
) -> list[Dependency]:
    """The dependencies A → B among ``columns`` that hold in ≥ `MIN_RATE` of the rows of ``frame``.

    Candidates: see `MAX_CARDINALITY` and `MIN_ROWS_PER_VALUE`. B is never one of
    ``exclude_dependents`` (the target and the sensitive columns: their values are the fair
    decoder's business). When A → B and B → A both hold (``education`` ↔ ``education_num``), only
    the direction from the column with more distinct values is kept (ties: the earlier column); a
    column is rewritten from one determinant only and a dependent never determines another, so
    enforcing is one pass without cycles. Every distinct (A, B) pair beyond one per A value holds
    at least one row that breaks A → B, so pairs with more than ``(1 − MIN_RATE)·n`` such extra
    pairs are ruled out from one batch of distinct counts before any rate is computed.

    Parameters
    ----------
    frame : polars.DataFrame
        The training rows (at most `MAX_ROWS` of them are read, sampled with ``random_state``).
    columns : list of str
        The columns that may take part.
    exclude_dependents : list of str
        Columns never rewritten.
    min_pair_rows : int
        A mapping entry needs this many rows (the codec's ``min_category_rows``).

    Returns
    -------
    list of Dependency
        In the order they are enforced.
    """
    if frame.height > MAX_ROWS:
        frame = frame.sample(MAX_ROWS, seed=random_state)
    cardinality = _candidates(frame, columns)
    order = {c: i for i, c in enumerate(columns)}
    pairs = [(a, b) for a in cardinality for b in cardinality if a != b]
    pairs = [(a, b) for a, b in pairs if b not in exclude_dependents]
    if not pairs:
        return []
    distinct = frame.select(
        pl.struct(a, b).n_unique().alias(str(i)) for i, (a, b) in enumerate(pairs)
    ).row(0)
    slack = (1 - MIN_RATE) * frame.height
    found = {
        (a, b): rate
        for (a, b), n_pairs in zip(pairs, distinct, strict=True)
        if n_pairs - cardinality[a] <= slack and (rate := dependency_rate(frame, a, b)) >= MIN_RATE
    }
    dependencies: list[Dependency] = []
    taken: set[str] = set()
    for a, b in sorted(found, key=lambda ab: (-cardinality[ab[0]], order[ab[0]], order[ab[1]])):
        if a in taken or b in taken:
            continue
        if (b, a) in found and (cardinality[b], -order[b]) > (cardinality[a], -order[a]):
            continue
        keys, values = _mapping(frame, a, b, min_pair_rows)
        dependencies.append(Dependency(a, b, keys, values, found[(a, b)]))
        taken.add(b)
    return dependencies


def _mapped(frame: pl.DataFrame, dependency: Dependency, default) -> pl.Expr:
    dtype = frame.schema[dependency.dependent]
    return pl.col(dependency.determinant).replace_strict(
        dependency.keys,
        pl.Series(dependency.values, dtype=dtype),
        default=default,
        return_dtype=dtype,
    )


def enforce_dependencies(frame: pl.DataFrame, dependencies: Sequence[Dependency]) -> pl.DataFrame:
    """Rewrite each dependent column from its determinant by the train mapping (one expression per
    dependency, no row loop); a determinant value without a mapping keeps the decoded value.

    >>> d = Dependency("a", "b", [1, 2], ["x", "y"], 1.0)
    >>> enforce_dependencies(pl.DataFrame({"a": [1, 2, 3], "b": ["y", "y", "q"]}), [d])["b"].to_list()
    ['x', 'y', 'q']
    """
    if not dependencies:
        return frame
    return frame.with_columns(
        _mapped(frame, d, pl.col(d.dependent)).alias(d.dependent) for d in dependencies
    )


def dependency_rates(frame: pl.DataFrame, dependencies: Sequence[Dependency]) -> dict[str, float]:
    """Share of the rows of ``frame`` where each dependency's train mapping holds (a determinant
    value the mapping does not know counts as broken). Ideal value 1."""
    if not dependencies or frame.height == 0:
        return {d.name: float("nan") for d in dependencies}
    holds = frame.select(
        (_mapped(frame, d, None) == pl.col(d.dependent)).fill_null(False).mean().alias(d.name)
        for d in dependencies
    )
    return {name: float(value) for name, value in holds.row(0, named=True).items()}
