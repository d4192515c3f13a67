"""Percentile bootstrap intervals over the rows of the test predictions.

The audit resamples the real holdout rows (their labels, scores and groups together), never the
training table: the interval is the uncertainty of the test estimate for a fixed classifier.

References
----------
Efron, Tibshirani, "An Introduction to the Bootstrap", Chapman & Hall 1993, ch. 13 (percentile
interval), doi:10.1201/9780429246593.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fairdistill.errors import FairdistillError

LENGTHS_DIFFER = (
    "bootstrap_ci needs arrays of one length (one entry per test row) but got lengths {lengths}; "
    "pass the columns of the same test rows"
)


def bootstrap_ci(
    metric_fn: Callable,
    *arrays,
    n_resamples: int = 200,
    confidence: float = 0.95,
    random_state,
    **keyword_arrays,
):
    """Percentile bootstrap interval of ``metric_fn(*arrays, **keyword_arrays)`` over row resamples.

    For b = 1..B, draw row indices i_b ~ Uniform{0..n−1}^n with replacement and evaluate
    θ_b = metric_fn(arrays[i_b]); the interval is the (1−c)/2 and (1+c)/2 percentiles of θ_b
    (NaN resamples, e.g. a group without positives, are ignored). Ideal: a narrow interval.

    Parameters
    ----------
    metric_fn : callable
        A metric of arrays (e.g. `score_predictions`, `demographic_parity_ratio`) returning a
        float or a dict of floats.
    *arrays : array-like of shape (n_samples,)
        Positional arguments of ``metric_fn``, resampled together by row.
    n_resamples : int
        Number of resamples B.
    confidence : float
        Coverage c of the interval, in (0, 1).
    random_state : int or numpy.random.Generator
        Seed of the resampling (no hidden seed).
    **keyword_arrays : array-like of shape (n_samples,)
        Keyword arguments of ``metric_fn`` (e.g. ``sensitive=groups``), resampled with the same rows.

    Returns
    -------
    tuple of float or dict of str to tuple of float
        ``(low, high)``; when ``metric_fn`` returns a dict, ``{key: (low, high)}``.

    Examples
    --------
    >>> y = np.array([0, 1] * 50)
    >>> low, high = bootstrap_ci(np.mean, y, n_resamples=100, random_state=0)
    >>> bool(low < 0.5 < high)
    True
    """
    columns = [np.asarray(a) for a in (*arrays, *keyword_arrays.values())]
    lengths = sorted({len(c) for c in columns})
    if len(lengths) != 1:
        raise FairdistillError(LENGTHS_DIFFER.format(lengths=lengths))
    rng = np.random.default_rng(random_state)
    indices = rng.integers(0, lengths[0], size=(n_resamples, lengths[0]))
    names = list(keyword_arrays)
    values = [
        metric_fn(
            *(c[i] for c in columns[: len(arrays)]),
            **dict(zip(names, (c[i] for c in columns[len(arrays) :]), strict=True)),
        )
        for i in indices
    ]
    tails = [50 * (1 - confidence), 50 * (1 + confidence)]

    def interval(samples) -> tuple[float, float]:
        low, high = np.nanpercentile(np.asarray(samples, dtype=float), tails)
        return float(low), float(high)

    if isinstance(values[0], dict):
        return {key: interval([v[key] for v in values]) for key in values[0]}
    return interval(values)
