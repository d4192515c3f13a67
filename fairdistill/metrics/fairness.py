"""Group fairness of a table's labels (data level) and of a classifier's predictions (model level).

Data level (DESIGN §5): P(y = 1 | s) per group, its ratio min/max and difference max − min.
Model level, on the predictions of a classifier for real holdout rows: demographic parity and
equalized odds, ratio and difference, computed by `fairlearn.metrics`; `prediction_fairness`
returns the four at once from one vectorised pass (`group_rates`), equal to fairlearn's values
(tested) and ~300x faster, for `bootstrap_ci`.

``sensitive`` is one array of group labels, or several sensitive columns at once (a 2-D array of
shape (n_samples, n_columns), a pandas or a Polars DataFrame); several columns are combined into
intersectional groups by `intersectional_groups` (e.g. ``"Female & Black"``), so every metric is
computed over the intersections.

References
----------
Feldman et al., "Certifying and removing disparate impact", KDD 2015, doi:10.1145/2783258.2783311
(the ratio, "80% rule"). Hardt, Price, Srebro, "Equality of opportunity in supervised learning",
NeurIPS 2016, arXiv:1610.02413 (equalized odds). Bird et al., "Fairlearn", MSR-TR-2020-32.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import polars as pl
from fairlearn import metrics as flm

from fairdistill.metrics.bootstrap import rate_ratio_interval

NULL_GROUP = "<null>"


def intersectional_groups(*columns, sep: str = " & ") -> np.ndarray:
    """One group label per row from one or several sensitive columns.

    g_i = str(s1_i) + sep + str(s2_i) + …; a null value is written ``NULL_GROUP``.

    Parameters
    ----------
    *columns : array-like of shape (n_samples,)
        The sensitive columns, all of the same length.
    sep : str
        Separator between the values of one row.

    Returns
    -------
    numpy.ndarray of str, shape (n_samples,)

    Examples
    --------
    >>> intersectional_groups(["F", "M", None], [1, 2, 1]).tolist()
    ['F & 1', 'M & 2', '<null> & 1']
    """
    labels = [np.asarray(c, dtype=object) for c in columns]
    labels = [np.where(pd.isna(v), NULL_GROUP, v.astype(str)) for v in labels]
    if len(labels) == 1:
        return labels[0]
    frame = pl.DataFrame({f"s{i}": v for i, v in enumerate(labels)})
    return frame.select(pl.concat_str(pl.all(), separator=sep)).to_series().to_numpy().astype(str)


def as_groups(sensitive) -> np.ndarray:
    """One string group label per row: one column as text, several as their intersection.

    Parameters
    ----------
    sensitive : array-like of shape (n_samples,) or (n_samples, n_columns), or a DataFrame
        Group labels, or several sensitive columns (2-D array, pandas or Polars DataFrame).

    Returns
    -------
    numpy.ndarray, shape (n_samples,)

    Examples
    --------
    >>> as_groups(np.array([["F", "x"], ["M", "y"]])).tolist()
    ['F & x', 'M & y']
    """
    if isinstance(sensitive, pl.DataFrame):
        return intersectional_groups(*sensitive.get_columns())
    if isinstance(sensitive, pd.DataFrame):
        return intersectional_groups(*(sensitive[c] for c in sensitive.columns))
    if isinstance(sensitive, np.ndarray) and sensitive.ndim == 1 and sensitive.dtype.kind in "iuU":
        return sensitive  # already one label (or group code) per row, e.g. a bootstrap resample's
    values = np.asarray(sensitive, dtype=object)
    return intersectional_groups(*values.T) if values.ndim == 2 else intersectional_groups(values)


def _hits(y, positive_label) -> np.ndarray:
    return (np.asarray(y, dtype=object) == positive_label).astype(int)


def positive_rates(y, *, sensitive, positive_label=1) -> dict[str, float]:
    """P(y = positive_label | s = g) for every group g of a table (data level).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        The label column of the table.
    sensitive : array-like or DataFrame
        Group labels, or several sensitive columns (intersections; see `as_groups`).
    positive_label : object
        The value of ``y`` counted as positive.

    Returns
    -------
    dict of str to float
        ``{group: rate}``, groups sorted; ideal: equal rates (demographic parity of the labels).

    Examples
    --------
    >>> positive_rates([1, 0, 1, 1], sensitive=["a", "a", "b", "b"])
    {'a': 0.5, 'b': 1.0}
    """
    hits = _hits(y, positive_label)
    frame = flm.MetricFrame(
        metrics=flm.selection_rate,
        y_true=hits,
        y_pred=hits,
        sensitive_features=as_groups(sensitive),
    )
    return {str(g): float(r) for g, r in sorted(frame.by_group.items())}


def data_parity_ratio(y, *, sensitive, positive_label=1) -> float:
    """Demographic parity ratio of a table's labels: min_g P(y=1|g) / max_g P(y=1|g).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        The label column of the table.
    sensitive : array-like or DataFrame
        Group labels, or several sensitive columns (intersections; see `as_groups`).
    positive_label : object
        The value of ``y`` counted as positive.

    Returns
    -------
    float
        In [0, 1]; ideal 1 (equal positive rates). Feldman et al. 2015 (the 80% rule).

    Examples
    --------
    >>> data_parity_ratio([1, 0, 1, 1], sensitive=["a", "a", "b", "b"])
    0.5
    """
    hits = _hits(y, positive_label)
    return float(flm.demographic_parity_ratio(hits, hits, sensitive_features=as_groups(sensitive)))


def data_parity_difference(y, *, sensitive, positive_label=1) -> float:
    """Demographic parity difference of a table's labels: max_g P(y=1|g) − min_g P(y=1|g).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        The label column of the table.
    sensitive : array-like or DataFrame
        Group labels, or several sensitive columns (intersections; see `as_groups`).
    positive_label : object
        The value of ``y`` counted as positive.

    Returns
    -------
    float
        In [0, 1]; ideal 0.

    Examples
    --------
    >>> data_parity_difference(["y", "n", "y", "y"], sensitive=["a", "a", "b", "b"], positive_label="y")
    0.5
    """
    hits = _hits(y, positive_label)
    return float(
        flm.demographic_parity_difference(hits, hits, sensitive_features=as_groups(sensitive))
    )


def demographic_parity_ratio(y_true, y_pred, *, sensitive) -> float:
    """Demographic parity ratio of predictions: min_g P(ŷ=1|g) / max_g P(ŷ=1|g) (fairlearn).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels in {0, 1} (unused by the metric; kept for the common signature).
    y_pred : array-like of shape (n_samples,)
        Predicted labels in {0, 1}.
    sensitive : array-like or DataFrame
        Group labels, or several sensitive columns (intersections; see `as_groups`).

    Returns
    -------
    float
        In [0, 1]; ideal 1.

    Examples
    --------
    >>> demographic_parity_ratio([0, 0, 1, 1], [1, 0, 1, 1], sensitive=["a", "a", "b", "b"])
    0.5
    """
    return float(
        flm.demographic_parity_ratio(y_true, y_pred, sensitive_features=as_groups(sensitive))
    )


def demographic_parity_difference(y_true, y_pred, *, sensitive) -> float:
    """Demographic parity difference of predictions: max_g P(ŷ=1|g) − min_g P(ŷ=1|g) (fairlearn).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels in {0, 1} (unused by the metric; kept for the common signature).
    y_pred : array-like of shape (n_samples,)
        Predicted labels in {0, 1}.
    sensitive : array-like or DataFrame
        Group labels, or several sensitive columns (intersections; see `as_groups`).

    Returns
    -------
    float
        In [0, 1]; ideal 0.

    Examples
    --------
    >>> demographic_parity_difference([0, 0, 1, 1], [1, 0, 1, 1], sensitive=["a", "a", "b", "b"])
    0.5
    """
    return float(
        flm.demographic_parity_difference(y_true, y_pred, sensitive_features=as_groups(sensitive))
    )


def equalized_odds_ratio(y_true, y_pred, *, sensitive) -> float:
    """Equalized odds ratio: the smaller of the TPR ratio and the FPR ratio, each min_g / max_g.

    EOR = min( min_g TPR_g / max_g TPR_g , min_g FPR_g / max_g FPR_g ) (Hardt et al. 2016,
    arXiv:1610.02413; fairlearn's ``agg="worst_case"``).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels in {0, 1}.
    y_pred : array-like of shape (n_samples,)
        Predicted labels in {0, 1}.
    sensitive : array-like or DataFrame
        Group labels, or several sensitive columns (intersections; see `as_groups`).

    Returns
    -------
    float
        In [0, 1]; ideal 1.

    Examples
    --------
    >>> equalized_odds_ratio([1, 0, 1, 0], [1, 0, 1, 1], sensitive=["a", "a", "b", "b"])
    0.0
    """
    return float(flm.equalized_odds_ratio(y_true, y_pred, sensitive_features=as_groups(sensitive)))


def equalized_odds_difference(y_true, y_pred, *, sensitive) -> float:
    """Equalized odds difference: the larger of the TPR and FPR gaps, each max_g − min_g.

    EOD = max( max_g TPR_g − min_g TPR_g , max_g FPR_g − min_g FPR_g ) (Hardt et al. 2016,
    arXiv:1610.02413; fairlearn's ``agg="worst_case"``).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels in {0, 1}.
    y_pred : array-like of shape (n_samples,)
        Predicted labels in {0, 1}.
    sensitive : array-like or DataFrame
        Group labels, or several sensitive columns (intersections; see `as_groups`).

    Returns
    -------
    float
        In [0, 1]; ideal 0.

    Examples
    --------
    >>> equalized_odds_difference([1, 0, 1, 0], [1, 0, 1, 1], sensitive=["a", "a", "b", "b"])
    1.0
    """
    return float(
        flm.equalized_odds_difference(y_true, y_pred, sensitive_features=as_groups(sensitive))
    )


def group_counts(y_true, y_pred, *, sensitive) -> dict[str, np.ndarray]:
    """Per group, the counts the model-level rates are made of, in one vectorised pass.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels in {0, 1}.
    y_pred : array-like of shape (n_samples,)
        Predicted labels in {0, 1}.
    sensitive : array-like or DataFrame
        Group labels, or several sensitive columns (intersections; see `as_groups`).

    Returns
    -------
    dict of str to numpy.ndarray
        ``{"group", "rows", "positives", "negatives", "selected", "true_positives",
        "false_positives"}``, one entry per group, groups sorted.

    Examples
    --------
    >>> group_counts([1, 0, 1, 0], [1, 0, 1, 1], sensitive=["a", "a", "b", "b"])["selected"].tolist()
    [1.0, 2.0]
    """
    groups, codes = np.unique(as_groups(sensitive), return_inverse=True)
    y_true, y_pred = np.asarray(y_true) == 1, np.asarray(y_pred) == 1

    def count(mask):
        return np.bincount(codes, weights=mask, minlength=groups.size)

    rows, positives = count(np.ones_like(y_true)), count(y_true)
    return {
        "group": groups,
        "rows": rows,
        "positives": positives,
        "negatives": rows - positives,
        "selected": count(y_pred),
        "true_positives": count(y_true & y_pred),
        "false_positives": count(~y_true & y_pred),
    }


# Each model-level rate as (numerator, denominator) of `group_counts`: the one place that says
# which counts make a rate, for the rates, their intervals and their values at parity.
RATE_COUNTS = {
    "selection_rate": ("selected", "rows"),
    "tpr": ("true_positives", "positives"),
    "fpr": ("false_positives", "negatives"),
}


def _each_rate(counts: dict[str, np.ndarray], f) -> dict:
    """``f(numerator, denominator)`` for each rate of `RATE_COUNTS`."""
    return {rate: f(counts[num], counts[den]) for rate, (num, den) in RATE_COUNTS.items()}


def group_rates(y_true, y_pred, *, sensitive) -> dict[str, np.ndarray]:
    """Selection rate, TPR and FPR of every group (fairlearn's definitions), from `group_counts`.

    SR_g = P(ŷ=1 | g), TPR_g = P(ŷ=1 | y=1, g), FPR_g = P(ŷ=1 | y=0, g); a rate whose denominator is
    empty is 0, as in ``fairlearn.metrics.true_positive_rate``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels in {0, 1}.
    y_pred : array-like of shape (n_samples,)
        Predicted labels in {0, 1}.
    sensitive : array-like or DataFrame
        Group labels, or several sensitive columns (intersections; see `as_groups`).

    Returns
    -------
    dict of str to numpy.ndarray
        ``{"group", "selection_rate", "tpr", "fpr"}``, one entry per group, groups sorted.
        Ideal: each rate equal across groups.

    Examples
    --------
    >>> group_rates([1, 0, 1, 0], [1, 0, 1, 1], sensitive=["a", "a", "b", "b"])["fpr"].tolist()
    [0.0, 1.0]
    """
    c = group_counts(y_true, y_pred, sensitive=sensitive)

    def rate(num, den):
        return np.divide(num, den, out=np.zeros_like(num), where=den > 0)

    return {"group": c["group"], **_each_rate(c, rate)}


def _ratio(rates: np.ndarray) -> float:
    return float(rates.min() / rates.max()) if rates.max() > 0 else float("nan")


def prediction_fairness(y_true, y_pred, *, sensitive) -> dict[str, float]:
    """The four model-level numbers at once: ``{"dpr", "dpd", "eor", "eod"}``.

    DPR = min_g SR_g / max_g SR_g, DPD = max_g SR_g − min_g SR_g, EOR = min(TPR ratio, FPR ratio),
    EOD = max(TPR gap, FPR gap), from `group_rates`. The values equal fairlearn's
    (`demographic_parity_ratio` … `equalized_odds_difference`, ``agg="worst_case"``; tested
    against them), computed in one pass: a bootstrap (`bootstrap_ci`) calls it on every resample, and
    one fairlearn MetricFrame costs ~0.1 s on 16k rows.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels in {0, 1}.
    y_pred : array-like of shape (n_samples,)
        Predicted labels in {0, 1}.
    sensitive : array-like or DataFrame
        Group labels, or several sensitive columns (intersections; see `as_groups`).

    Returns
    -------
    dict of str to float
        Ideal values: dpr 1, dpd 0, eor 1, eod 0. A ratio whose largest rate is 0 is NaN.

    Examples
    --------
    >>> prediction_fairness([1, 0, 1, 0], [1, 0, 1, 1], sensitive=["a", "a", "b", "b"])
    {'dpr': 0.5, 'dpd': 0.5, 'eor': 0.0, 'eod': 1.0}
    """
    r = group_rates(y_true, y_pred, sensitive=sensitive)
    gap = {k: float(np.ptp(r[k])) for k in ("selection_rate", "tpr", "fpr")}
    return {
        "dpr": _ratio(r["selection_rate"]),
        "dpd": gap["selection_rate"],
        # builtin min, in fairlearn's order: a NaN TPR ratio gives NaN, a NaN FPR ratio is skipped
        "eor": min(_ratio(r["tpr"]), _ratio(r["fpr"])),
        "eod": max(gap["tpr"], gap["fpr"]),
    }


def prediction_fairness_intervals(
    y_true,
    y_pred,
    *,
    sensitive,
    confidence: float = 0.95,
    n_resamples: int = 200,
    random_state: int,
) -> dict[str, tuple[float, float]]:
    """Intervals of the two model-level ratios, ``{"dpr", "eor"}``, each ``(low, high)``.

    DPR's is `rate_ratio_interval` of the groups' selected rows among their rows; EOR = min(TPR
    ratio, FPR ratio) takes the smaller bound of the TPR ratio's interval (true positives among the
    positives) and the FPR ratio's (false positives among the negatives), each bound skipping a NaN
    as `prediction_fairness` does. The percentile bootstrap is not valid for these minima over
    groups (see `fairdistill.metrics.bootstrap`).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels in {0, 1}.
    y_pred : array-like of shape (n_samples,)
        Predicted labels in {0, 1}.
    sensitive : array-like or DataFrame
        Group labels, or several sensitive columns (intersections; see `as_groups`).
    confidence : float
        Coverage of each interval, in (0, 1).
    n_resamples : int
        Tables drawn for each likelihood-ratio test.
    random_state : int
        Seed of the draws.

    Returns
    -------
    dict of str to tuple of float
        ``{"dpr": (low, high), "eor": (low, high)}``. Ideal: narrow intervals reaching 1.

    Examples
    --------
    >>> y = np.array([1, 0] * 100)
    >>> groups = np.repeat(["a", "b"], 100)
    >>> out = prediction_fairness_intervals(y, y, sensitive=groups, random_state=0)
    >>> out["dpr"][1], out["eor"][1]
    (1.0, 1.0)
    """
    c = group_counts(y_true, y_pred, sensitive=sensitive)
    interval = partial(
        rate_ratio_interval,
        confidence=confidence,
        n_resamples=n_resamples,
        random_state=random_state,
    )
    r = _each_rate(c, interval)
    eor = np.fmin(r["tpr"], r["fpr"])
    return {"dpr": r["selection_rate"], "eor": (float(eor[0]), float(eor[1]))}


def prediction_fairness_at_parity(
    y_true, y_pred, *, sensitive, n_resamples: int = 200, random_state: int
) -> dict[str, float]:
    """What a classifier with equal rates in every group would score on these rows, on average:
    ``{"dpr", "eor"}``.

    A ratio min/max over groups is biased down by small groups: each group's rate is drawn as
    Binomial(n_g, pooled rate) / n_g (the pooled selection rate over the group's rows for DPR;
    the pooled TPR over its positives and FPR over its negatives for EOR), and the ratio of the
    draws is averaged. Compare the measured ratio with it: on Adult's holdout with sex × race
    (ten groups, the smallest 46 rows) a perfectly fair classifier averages DPR ≈ 0.56.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels in {0, 1}.
    y_pred : array-like of shape (n_samples,)
        Predicted labels in {0, 1}.
    sensitive : array-like or DataFrame
        Group labels, or several sensitive columns (intersections; see `as_groups`).
    n_resamples : int
        Draws averaged.
    random_state : int
        Seed of the draws.

    Returns
    -------
    dict of str to float
        ``{"dpr", "eor"}``, near 1 where every group is large. Ideal: the measured ratio at or
        above it (as fair as these rows can show).

    Examples
    --------
    >>> y = np.array([1, 0] * 100)
    >>> groups = np.repeat(["a", "b"], 100)
    >>> out = prediction_fairness_at_parity(y, y, sensitive=groups, random_state=0)
    >>> bool(0.7 < out["dpr"] < 1.0)
    True
    """
    c = group_counts(y_true, y_pred, sensitive=sensitive)
    rng = np.random.default_rng(random_state)

    def mean_ratio(successes, trials):
        trials = trials[trials > 0]
        if trials.size < 2:
            return float("nan")
        rate = successes.sum() / trials.sum()
        draws = rng.binomial(trials.astype(np.int64), rate, (n_resamples, trials.size)) / trials
        top = draws.max(1)
        ratios = np.divide(draws.min(1), top, out=np.full(n_resamples, np.nan), where=top > 0)
        return float(np.nanmean(ratios)) if np.isfinite(ratios).any() else float("nan")

    r = _each_rate(c, mean_ratio)  # drawn in RATE_COUNTS' order
    return {"dpr": r["selection_rate"], "eor": float(np.fmin(r["tpr"], r["fpr"]))}
