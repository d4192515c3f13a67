"""`TabularCodec`: a reversible encoding of a Polars table into model inputs (x, s) and back.

Layout of x (exposed as data in ``blocks_``): one block per categorical feature (one-hot; a null is
its own category), one per numeric or datetime feature (quantile-to-normal), a 2-way "at the point
mass" block after each numeric column where one value holds at least half the known training values
and 500 rows hold others (`point_mass`: a capital gain of 0), a 2-way "is missing" block after each
numeric/datetime column that had nulls in train, and the target as a categorical block (so
synthetic rows carry labels). s is separate: the one-hot of the sensitive column(s), or of their
combination when there are several, so s is one categorical variable with K groups (``groups_``).

Unseen values at encode time (a category, or a sensitive combination, not met in train) map to the
most frequent train category: encoding never fails on new data. Never FairDisCo's lossy binning
(DESIGN §3).

Point masses and nulls are indicators, not values: on such a row the column's normal score is 0
and carries nothing. The quantile table describes only the other values, the teacher does not fit
the score there (`models.teacher.reconstruction_loss`), and the decoder's drawn score is not read
(the decoded value is the point mass, or null). A point mass smeared into one Gaussian head came
back as a spread of small values (Adult capital gain: 925 distinct synthetic values against 119).

Functional dependencies: a column that determines another in ≥ 99.5% of the training rows
(``education`` → ``education_num``) is found at fit time (``dependencies_``) and the dependent
column is rewritten from it in every decoded frame (`fairdistill.dependencies`).

Rare values: a feature category seen in fewer than ``min_category_rows`` training rows is not kept
(it encodes as the column's most frequent category), so the decoder can never write it: a value
that singles out a few people (a unique name, a 200,000-character cell) never reaches a synthetic
row. The target's classes are always kept; a missing value (null) is never rare.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import polars as pl
from scipy.special import ndtr, ndtri

from fairdistill.dependencies import Dependency, enforce_dependencies, functional_dependencies

NOT_FITTED = "this TabularCodec is not fitted yet; call `fit(frame)` before `{method}`"
COLUMN_MISSING = (
    "{role} column {column!r} is not in the frame (found: {found}); pass the frame the codec "
    "was built for or fix the column lists given to TabularCodec"
)
# Blocks that say a numeric column's row holds no drawn value: a null, or the point mass.
INDICATOR_ROLES = ("missing", "mass")
_DTYPES = {
    t.__name__: t
    for t in (
        pl.Int8,
        pl.Int16,
        pl.Int32,
        pl.Int64,
        pl.UInt8,
        pl.UInt16,
        pl.UInt32,
        pl.UInt64,
        pl.Float32,
        pl.Float64,
        pl.String,
    )
}


@dataclass(frozen=True)
class Block:
    """A contiguous slice ``x[:, start:stop]`` that encodes one source column.

    ``role`` is ``"feature"``, ``"target"``, ``"missing"`` (the is-missing indicator of a numeric
    column, categories ``[False, True]``) or ``"mass"`` (its "at the point mass" indicator, the same
    categories). An ``"image"`` block (`fairdistill.images.ImageCodec`) holds the pixels of one
    image, ``shape`` = (channels, height, width).
    """

    column: str
    kind: Literal["categorical", "numeric", "image"]
    start: int
    stop: int
    categories: list | None = None
    role: str = "feature"
    shape: list[int] | None = None


def _dtype_to_dict(dtype: pl.DataType) -> dict:
    if isinstance(dtype, pl.Datetime):
        return {"name": "Datetime", "time_unit": dtype.time_unit, "time_zone": dtype.time_zone}
    return {"name": type(dtype).__name__}


def _dtype_from_dict(spec: dict) -> pl.DataType:
    if spec["name"] == "Datetime":
        return pl.Datetime(spec["time_unit"], spec["time_zone"])
    if spec["name"] == "Date":
        return pl.Date()
    return _DTYPES[spec["name"]]


def _common_categories(counts: dict, min_rows: int) -> dict:
    """Category → rows, with each category of fewer than `min_rows` rows folded into the most
    frequent remaining one (null, the missing category, always remains). When no value is that
    common, the column keeps only null: it carries nothing that could be released.

    >>> _common_categories({"a": 9, "b": 2, "c": 5, None: 1}, 5)
    {'a': 11, 'c': 5, None: 1}
    >>> _common_categories({"x": 1, "y": 1}, 5)
    {None: 2}
    """
    common = {v: n for v, n in counts.items() if v is None or n >= min_rows}
    rare = sum(counts.values()) - sum(common.values())
    if rare:
        values = [v for v in common if v is not None]
        mode = max(sorted(values), key=lambda v: common[v]) if values else None
        common[mode] = common.get(mode, 0) + rare
    return common


# Steps a decoded number is rounded to, finest last: whole days … microseconds for times (in
# seconds), 10^-d for decimals. A column keeps the coarsest step every training value sits on.
_TIME_STEPS = (86_400.0, 3_600.0, 60.0, 1.0, 1e-3, 1e-6)
_MAX_DECIMALS = 6


def value_step(values: np.ndarray, kind: str) -> float | None:
    """The coarsest step all ``values`` are multiples of: the resolution a column keeps.

    ``kind`` is ``"time"`` (seconds since the epoch: whole days, hours, …) or ``"number"``
    (10^-d for d ≤ 6 decimals); ``None`` when no step fits (a real-valued column).

    >>> value_step(np.array([1.25, 3.5, 2.0]), "number"), value_step(np.array([1.0, 2.0]), "number")
    (0.01, 1.0)
    >>> value_step(np.array([0.0, 86_400.0 * 3]), "time"), value_step(np.array([np.pi]), "number")
    (86400.0, None)
    """
    values = values[np.isfinite(values)]
    steps = _TIME_STEPS if kind == "time" else [10.0**-d for d in range(_MAX_DECIMALS + 1)]
    for step in steps:
        scaled = values / step
        if np.allclose(scaled, np.round(scaled), rtol=0, atol=1e-6):
            return step
    return None


_CLIP = 1e-7
_SUBSAMPLE = 200_000
# A value held by at least this share of a numeric column's known training values is its point mass,
# modelled apart when at least `POINT_MASS_MIN_OTHER_ROWS` training rows hold other values: the
# label model's 16 bins (`models.label_model.NUMERIC_BINS`) are cut at the quantiles of those rows,
# about 30 rows a bin at 500. With fewer, the bins fit noise: COMPAS's juvenile counts (163–359 rows
# off 0 of 4,938) modelled apart lowered its `dp` model DPR in expectation from 0.890 to 0.835–0.855
# (docs/benchmarks.md, session 17); Adult's capital gain and loss (2,712 and 1,519 rows) gained.
POINT_MASS_SHARE = 0.5
POINT_MASS_MIN_OTHER_ROWS = 500


def point_mass(
    values: np.ndarray,
    share: float = POINT_MASS_SHARE,
    min_other_rows: int = POINT_MASS_MIN_OTHER_ROWS,
) -> float | None:
    """The value held by at least ``share`` of ``values``, when at least ``min_other_rows`` values
    differ from it; else None.

    >>> point_mass(np.array([0.0, 0.0, 0.0, 7.0]), min_other_rows=1)
    0.0
    >>> point_mass(np.array([1.0, 2.0, 3.0]), min_other_rows=1)  # no value holds half the rows
    >>> point_mass(np.array([0.0, 0.0, 0.0, 7.0]), min_other_rows=2)  # one other value: too few
    """
    if values.size == 0:
        return None
    distinct, counts = np.unique(values, return_counts=True)
    top = int(np.argmax(counts))
    if counts[top] < share * values.size or values.size - counts[top] < min_other_rows:
        return None
    return float(distinct[top])


def _fit_table(values: np.ndarray, n_quantiles: int, random_state: int) -> np.ndarray:
    """Quantile table ``q`` of a numeric column (at most ``n_quantiles`` evenly spaced
    quantiles)."""
    if values.size == 0:
        return np.zeros(1)
    if values.size > _SUBSAMPLE:
        values = np.random.default_rng(random_state).choice(values, _SUBSAMPLE, replace=False)
    return np.quantile(values, np.linspace(0.0, 1.0, min(n_quantiles, values.size)))


def _to_normal(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantile-to-normal transform ``z = Φ⁻¹(F̂(v))``, F̂ interpolated on the table ``q``.

    Ties (e.g. the many zeros of a capital-gain column) map to the middle of their reference range,
    as in scikit-learn's QuantileTransformer (the average of the forward and the reversed
    interpolation). NaN stays NaN. ``p`` is clipped to ``[1e-7, 1 - 1e-7]`` (|z| ≤ 5.2).
    """
    if q.size < 2 or q[0] == q[-1]:
        return np.where(np.isnan(values), np.nan, 0.0)
    refs = np.linspace(0.0, 1.0, q.size)
    p = 0.5 * (np.interp(values, q, refs) - np.interp(-values, -q[::-1], -refs[::-1]))
    return ndtri(np.clip(p, _CLIP, 1.0 - _CLIP))


def _from_normal(z: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Inverse of `_to_normal`: ``v = F̂⁻¹(Φ(z))``; the result lies in the train range ``[q₀,
    q₋₁]``."""
    if q.size < 2:
        return np.full(z.shape, q[0] if q.size else 0.0)
    return np.interp(ndtr(z), np.linspace(0.0, 1.0, q.size), q)


class TabularCodec:
    """Encode a Polars frame into (x, s) float32 arrays and decode model outputs back into a frame.

    Parameters
    ----------
    categorical, numeric, datetime : list of str
        Feature columns by kind (the target and sensitive columns are not listed here).
    target : str
        Label column (String or integer); encoded as a categorical block of x.
    sensitive : list of str
        Sensitive column(s); s is the one-hot of their combination.
    n_quantiles : int
        Size of each numeric column's quantile table (see `_to_normal`).
    min_category_rows : int
        Feature categories seen in fewer training rows are folded into the most frequent one
        (`_common_categories`); 1 keeps every category.
    random_state : int
        Seed of the row subsample used for the quantile tables of very large tables.
    """

    def __init__(
        self,
        categorical: list[str],
        numeric: list[str],
        datetime: list[str],
        target: str,
        sensitive: list[str],
        n_quantiles: int = 1000,
        random_state: int = 0,
        min_category_rows: int = 1,
    ):
        self.categorical = categorical
        self.numeric = numeric
        self.datetime = datetime
        self.target = target
        self.sensitive = sensitive
        self.n_quantiles = n_quantiles
        self.random_state = random_state
        self.min_category_rows = min_category_rows

    # ------------------------------------------------------------------ fit
    def fit(self, frame: pl.DataFrame) -> TabularCodec:
        """Learn categories, quantile tables, missing indicators, sensitive groups and functional
        dependencies from ``frame``."""
        self._check_columns(frame)
        names = [*self.categorical, self.target, *self.numeric, *self.datetime, *self.sensitive]
        self.columns_ = [c for c in frame.columns if c in set(names)]
        self.dtypes_ = {c: _dtype_to_dict(frame.schema[c]) for c in self.columns_}
        self.categories_, self.modes_ = {}, {}
        for col in [*self.categorical, self.target]:
            counts = dict(frame[col].value_counts().iter_rows())
            if col != self.target:
                counts = _common_categories(counts, self.min_category_rows)
            cats = sorted(counts, key=lambda v: (v is None, v))
            self.categories_[col] = cats
            self.modes_[col] = max(range(len(cats)), key=lambda i: (counts[cats[i]], -i))
        self.quantiles_, self.has_missing_, self.steps_, self.point_masses_ = {}, {}, {}, {}
        for col in [*self.numeric, *self.datetime]:
            values = self._as_number(frame[col])
            known = values.drop_nulls().to_numpy().astype(np.float64)
            self.has_missing_[col] = bool(values.null_count())
            self.steps_[col] = value_step(known, "time" if col in self.datetime else "number")
            mass = point_mass(known) if col in self.numeric else None
            if mass is not None:
                self.point_masses_[col] = mass
                known = known[known != mass]
            self.quantiles_[col] = _fit_table(known, self.n_quantiles, self.random_state)
        groups = frame.group_by(self.sensitive).len().sort(self.sensitive, nulls_last=True)
        self.groups_ = groups.select(self.sensitive).rows()
        self.group_freq_ = (groups["len"].to_numpy() / frame.height).tolist()
        self.dependencies_ = functional_dependencies(
            frame,
            [*self.categorical, *self.numeric, self.target, *self.sensitive],
            exclude_dependents=[self.target, *self.sensitive],
            min_pair_rows=self.min_category_rows,
            random_state=self.random_state,
        )
        self._build_layout()
        return self

    def _check_columns(self, frame: pl.DataFrame) -> None:
        roles = [
            ("categorical", self.categorical),
            ("numeric", self.numeric),
            ("datetime", self.datetime),
            ("target", [self.target]),
            ("sensitive", self.sensitive),
        ]
        for role, cols in roles:
            for col in cols:
                if col not in frame.columns:
                    raise ValueError(
                        COLUMN_MISSING.format(role=role, column=col, found=", ".join(frame.columns))
                    )

    def _build_layout(self) -> None:
        blocks, start = [], 0
        for col in [*self.categorical, *self.numeric, *self.datetime, self.target]:
            if col in self.categories_:
                cats = self.categories_[col]
                role = "target" if col == self.target else "feature"
                blocks.append(Block(col, "categorical", start, start + len(cats), cats, role))
                start += len(cats)
                continue
            blocks.append(Block(col, "numeric", start, start + 1))
            start += 1
            if col in self.point_masses_:
                blocks.append(Block(col, "categorical", start, start + 2, [False, True], "mass"))
                start += 2
            if self.has_missing_[col]:
                blocks.append(Block(col, "categorical", start, start + 2, [False, True], "missing"))
                start += 2
        self.blocks_ = blocks
        self.target_block_ = next(b for b in blocks if b.role == "target")
        self.n_features_out_ = start

    # --------------------------------------------------------------- encode
    def _check_fitted(self, method: str) -> None:
        if not hasattr(self, "blocks_"):
            raise RuntimeError(NOT_FITTED.format(method=method))

    @staticmethod
    def _as_number(series: pl.Series) -> pl.Series:
        """Numbers as float64; dates and datetimes as seconds since the epoch (with fractions)."""
        if series.dtype == pl.Date:
            return series.cast(pl.Int32).cast(pl.Float64) * 86_400.0
        if isinstance(series.dtype, pl.Datetime):
            return series.dt.epoch("us").cast(pl.Float64) / 1e6
        return series.cast(pl.Float64)

    def _category_index(self, series: pl.Series, col: str) -> np.ndarray:
        cats = self.categories_[col]
        known = [c for c in cats if c is not None]
        null_idx = cats.index(None) if None in cats else self.modes_[col]
        expr = (
            pl.when(pl.col(col).is_null())
            .then(pl.lit(null_idx, pl.Int64))
            .otherwise(
                pl.col(col).replace_strict(
                    known,
                    [cats.index(c) for c in known],
                    default=self.modes_[col],
                    return_dtype=pl.Int64,
                )
            )
        )
        return series.to_frame(col).select(expr).to_series().to_numpy()

    def encode(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Return ``x`` (float32, ``[n, n_features_out_]``) and ``s`` (float32 one-hot, ``[n,
        K]``)."""
        self._check_fitted("encode")
        self._check_columns(frame)
        x = np.zeros((frame.height, self.n_features_out_), dtype=np.float32)
        rows = np.arange(frame.height)
        at_mass = {}  # column → whether each row holds its point mass (the number's block is first)
        for block in self.blocks_:
            series = frame[block.column]
            if block.role == "missing":
                x[rows, block.start + series.is_null().to_numpy().astype(int)] = 1.0
            elif block.role == "mass":
                x[rows, block.start + at_mass[block.column].astype(int)] = 1.0
            elif block.kind == "categorical":
                x[rows, block.start + self._category_index(series, block.column)] = 1.0
            else:
                values = self._as_number(series).to_numpy().astype(np.float64)
                z = _to_normal(values, self.quantiles_[block.column])
                if block.column in self.point_masses_:
                    at_mass[block.column] = values == self.point_masses_[block.column]
                    z[at_mass[block.column]] = 0.0
                x[:, block.start] = np.nan_to_num(z, nan=0.0)
        s = np.zeros((frame.height, len(self.groups_)), dtype=np.float32)
        s[rows, self.s_index(frame)] = 1.0
        return x, s

    def s_index(self, frame: pl.DataFrame) -> np.ndarray:
        """Index into ``groups_`` of each row's sensitive combination (unseen → most frequent
        group)."""
        self._check_fitted("s_index")
        table = pl.DataFrame(
            [
                pl.Series(c, [g[i] for g in self.groups_], frame.schema[c])
                for i, c in enumerate(self.sensitive)
            ]
        ).with_row_index("_g")
        joined = frame.select(self.sensitive).join(
            table, on=self.sensitive, how="left", nulls_equal=True, maintain_order="left"
        )
        mode = int(np.argmax(self.group_freq_))
        return joined["_g"].fill_null(mode).cast(pl.Int64).to_numpy(writable=True)

    # --------------------------------------------------------------- decode
    def decode(self, x: np.ndarray, s_index: np.ndarray) -> pl.DataFrame:
        """Decode an ``[n, n_features_out_]`` array (one-hot/probabilities → argmax) and group
        indices."""
        self._check_fitted("decode")
        values = [
            np.asarray(x[:, b.start : b.stop]).argmax(1)
            if b.kind == "categorical"
            else np.asarray(x[:, b.start])
            for b in self.blocks_
        ]
        return self.decode_blocks(values, s_index)

    def decode_blocks(self, values: list[np.ndarray], s_index: np.ndarray) -> pl.DataFrame:
        """Decode per-block values: category indices for categorical blocks, normal scores for
        numeric.

        Numerics are mapped back through the quantile table, clipped to the train range, rounded for
        integer columns; a row whose "at the point mass" block says True gets the point mass, one
        whose "is missing" block says True a null. Then each dependent
        column of ``dependencies_`` is rewritten from its determinant.
        """
        self._check_fitted("decode_blocks")
        out: dict[str, pl.Series] = {}
        indicators = {
            (b.role, b.column): np.asarray(v).astype(bool)
            for b, v in zip(self.blocks_, values, strict=True)
            if b.role in INDICATOR_ROLES
        }
        for block, value in zip(self.blocks_, values, strict=True):
            if block.role in INDICATOR_ROLES:
                continue
            dtype = _dtype_from_dict(self.dtypes_[block.column])
            if block.kind == "categorical":
                out[block.column] = pl.Series(block.column, block.categories, dtype).gather(
                    np.asarray(value, dtype=np.int64)
                )
            else:
                out[block.column] = self._decode_number(
                    block.column,
                    value,
                    dtype,
                    indicators.get(("missing", block.column)),
                    indicators.get(("mass", block.column)),
                )
        s_index = np.asarray(s_index, dtype=np.int64)
        for i, col in enumerate(self.sensitive):
            dtype = _dtype_from_dict(self.dtypes_[col])
            out[col] = pl.Series(col, [g[i] for g in self.groups_], dtype).gather(s_index)
        frame = pl.DataFrame([out[c] for c in self.columns_])
        return enforce_dependencies(frame, self.dependencies_)

    def _decode_number(
        self,
        col: str,
        z: np.ndarray,
        dtype: pl.DataType,
        missing: np.ndarray | None,
        at_mass: np.ndarray | None = None,
    ) -> pl.Series:
        """Back through the quantile table, onto the column's step (whole days for dates, the
        source's decimals for numbers), then to its dtype; integers stay integers. Rows at the
        point mass take it."""
        values = _from_normal(np.asarray(z, dtype=np.float64), self.quantiles_[col])
        step = self.steps_.get(col)
        if dtype.is_integer():
            step = max(step or 1.0, 1.0)
        if step is not None:
            values = np.round(values / step) * step
        if at_mass is not None:
            values = np.where(at_mass, self.point_masses_[col], values)
        series = pl.Series(col, values)
        if missing is not None:
            series = series.scatter(np.flatnonzero(missing), None)
        if dtype == pl.Date:
            return (series / 86_400.0).round().cast(pl.Int32).cast(pl.Date).alias(col)
        if isinstance(dtype, pl.Datetime):
            micros = (series * 1e6).round().cast(pl.Int64)
            return pl.from_epoch(micros, time_unit="us").cast(dtype).alias(col)
        return series.cast(dtype)

    # -------------------------------------------------------- serialisation
    _FITTED = (
        "columns_",
        "dtypes_",
        "categories_",
        "modes_",
        "quantiles_",
        "has_missing_",
        "steps_",
        "point_masses_",
        "groups_",
        "group_freq_",
        "dependencies_",
    )

    def to_dict(self) -> dict:
        """JSON-able state (hyperparameters and fitted tables); no pickle needed to save it."""
        self._check_fitted("to_dict")
        params = {
            k: getattr(self, k)
            for k in (
                "categorical",
                "numeric",
                "datetime",
                "target",
                "sensitive",
                "n_quantiles",
                "random_state",
                "min_category_rows",
            )
        }
        fitted = {k: getattr(self, k) for k in self._FITTED}
        fitted["quantiles_"] = {k: v.tolist() for k, v in self.quantiles_.items()}
        fitted["groups_"] = [list(g) for g in self.groups_]
        fitted["dependencies_"] = [d.to_dict() for d in self.dependencies_]
        return {"params": params, "fitted": fitted, "blocks": [asdict(b) for b in self.blocks_]}

    @classmethod
    def from_dict(cls, state: dict) -> TabularCodec:
        """Rebuild a fitted codec from `to_dict` output."""
        codec = cls(**state["params"])
        # Codecs saved before steps_ (dependencies_, point_masses_) existed decode without rounding
        # onto a step (without rewriting dependent columns, with no point-mass block).
        fitted = {"steps_": {}, "dependencies_": [], "point_masses_": {}, **state["fitted"]}
        for key in cls._FITTED:
            setattr(codec, key, fitted[key])
        codec.quantiles_ = {k: np.asarray(v, dtype=np.float64) for k, v in codec.quantiles_.items()}
        codec.groups_ = [tuple(g) for g in codec.groups_]
        codec.dependencies_ = [Dependency(**d) for d in codec.dependencies_]
        codec._build_layout()
        return codec
