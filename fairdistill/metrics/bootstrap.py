"""Bootstrap intervals of the audit's numbers over the real holdout, for a fixed classifier.

- `bootstrap_ci`: the percentile interval over resampled rows (their labels, scores and groups
  together), for smooth numbers such as AUROC, accuracy and F1.
- `rate_ratio_interval`: the interval of a ratio min_g r_g / max_g r_g of group rates (DPR, and
  the TPR and FPR ratios of EOR), by inverting likelihood-ratio tests of the groups' binomial
  rates (the upper bound's calibrated by a parametric bootstrap). The percentile bootstrap is not
  valid for a minimum over groups: each resample adds noise to every small group, so the
  resampled minima sit below the estimate, which itself sits below the true ratio. On Adult's
  holdout with sex × race (ten groups, the smallest of 46 rows) a classifier with exactly equal
  rates scores DPR 0.57 on average, and the percentile interval's top is below 0.8 in 100% of
  trials; this interval's, in 1% or less (benchmarks/gate_power.py).

The holdout is resampled, never the training table.

References
----------
Efron, Tibshirani, "An Introduction to the Bootstrap", Chapman & Hall 1993, ch. 13 (percentile
interval), doi:10.1201/9780429246593. Andrews, "Inconsistency of the bootstrap when a parameter
is on the boundary of the parameter space", Econometrica 68(2), 2000 (why extrema break the
percentile bootstrap). Casella, Berger, "Statistical Inference", 2nd ed., §8.2.1 and §9.2.1
(likelihood-ratio tests and the intervals they invert); Berger, "Multiparameter hypothesis
testing and acceptance sampling", Technometrics 24(4), 1982 (intersection-union tests); Davison,
Hinkley, "Bootstrap Methods and their Application", 1997, §4.2.3 (a test calibrated by a
parametric bootstrap).
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import NormalDist

import numpy as np

from fairdistill.errors import FairdistillError

# The likelihood-ratio interval: halvings of the bisection on the ratio (precision 2^-14); steps
# of the golden-section search of each constrained fit (0.618^40 ≈ 4e-9 of its range); the pairs
# searched for the lower bound: those between the RATIO_PAIR_GROUPS lowest and highest rates (all
# pairs up to that many groups).
RATIO_BISECTIONS, FIT_ITERATIONS, RATIO_PAIR_GROUPS = 14, 40, 8
GOLDEN = (np.sqrt(5) - 1) / 2
TINY = 1e-12
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
    indices = bootstrap_indices(lengths[0], n_resamples, random_state)
    names = list(keyword_arrays)
    values = [
        metric_fn(
            *(c[i] for c in columns[: len(arrays)]),
            **dict(zip(names, (c[i] for c in columns[len(arrays) :]), strict=True)),
        )
        for i in indices
    ]
    if isinstance(values[0], dict):
        return {key: percentile_interval([v[key] for v in values], confidence) for key in values[0]}
    return percentile_interval(values, confidence)


def bootstrap_indices(n: int, n_resamples: int, random_state) -> np.ndarray:
    """The rows of each resample, ``[n_resamples, n]``, drawn with replacement (`bootstrap_ci`'s
    draw, for callers that score every resample at once)."""
    return np.random.default_rng(random_state).integers(0, n, size=(n_resamples, n))


def percentile_interval(samples, confidence: float) -> tuple[float, float]:
    """The (1−c)/2 and (1+c)/2 percentiles of the resampled values, NaN values ignored."""
    tails = [50 * (1 - confidence), 50 * (1 + confidence)]
    low, high = np.nanpercentile(np.asarray(samples, dtype=float), tails)
    return float(low), float(high)


# ------------------------------------------------------------------ ratio of group rates
def _log_likelihood_terms(successes, trials, rates):
    """Binomial log-likelihood of each rate (elementwise)."""
    rates = np.clip(rates, TINY, 1 - TINY)
    return successes * np.log(rates) + (trials - successes) * np.log1p(-rates)


def _log_likelihood(successes, trials, rates):
    """Binomial log-likelihood of the rates, summed over the last axis (the groups)."""
    return _log_likelihood_terms(successes, trials, rates).sum(-1)


def _maximise(f, low, high):
    """The argmax of a concave f over [low, high], elementwise (golden-section search: one new
    evaluation of f per step)."""
    a, b = high - GOLDEN * (high - low), low + GOLDEN * (high - low)
    fa, fb = f(a), f(b)
    for _ in range(FIT_ITERATIONS):
        left = fa > fb  # the maximum lies in [low, b]: b becomes the new upper point a
        high, low = np.where(left, b, high), np.where(left, low, a)
        new = np.where(left, high - GOLDEN * (high - low), low + GOLDEN * (high - low))
        f_new = f(new)
        a, b = np.where(left, new, b), np.where(left, a, new)
        fa, fb = np.where(left, f_new, fb), np.where(left, fa, f_new)
    return 0.5 * (low + high)


def _fit_ratio_at_least(successes, trials, rho):
    """The rates of highest likelihood with min r ≥ ρ·max r, one row per table of ``[B, K]``
    successes: each group's rate clipped to a band [a, a/ρ], the log-likelihood concave in a."""
    observed = successes / trials

    def rates(a):
        return np.clip(observed, a[:, None], a[:, None] / rho)

    band = _maximise(
        lambda a: _log_likelihood(successes, trials, rates(a)),
        np.full(len(successes), TINY),
        np.full(len(successes), rho),
    )
    return rates(band)


def _fit_ratio_at_most(successes, trials, rho):
    """The rates of highest likelihood with r_i ≤ ρ·r_j for some pair of groups, per row of
    ``[B, K]`` successes: the best pair's rates on the line r_i = ρ·r_j, the others observed."""
    observed = successes / trials
    order = np.argsort(observed.mean(0))
    low, high = order[:RATIO_PAIR_GROUPS], order[-RATIO_PAIR_GROUPS:]
    i, j = (a.ravel() for a in np.meshgrid(low, high, indexing="ij"))
    i, j = i[i != j], j[i != j]

    def pair(rate_i, rate_j):
        return _log_likelihood_terms(successes[:, i], trials[i], rate_i) + (
            _log_likelihood_terms(successes[:, j], trials[j], rate_j)
        )

    shape = (len(successes), i.size)
    r = _maximise(
        lambda r: pair(rho * r, r),
        np.full(shape, TINY),
        np.full(shape, min(1.0, 1 / max(rho, TINY))),
    )
    as_observed = pair(observed[:, i], observed[:, j])
    gain = np.where(observed[:, i] <= rho * observed[:, j], 0.0, pair(rho * r, r) - as_observed)
    best, rows = gain.argmax(1), np.arange(len(successes))
    rates = observed.copy()
    moved = gain[rows, best] < 0  # the best pair already satisfies the constraint otherwise
    rates[rows, i[best]] = np.where(moved, rho * r[rows, best], rates[rows, i[best]])
    rates[rows, j[best]] = np.where(moved, r[rows, best], rates[rows, j[best]])
    return rates


def _statistic(successes, trials, fit, rho):
    """The likelihood-ratio statistic 2·(ℓ(observed) − ℓ(constrained fit)), per row of tables."""
    return 2 * (
        _log_likelihood(successes, trials, successes / trials)
        - _log_likelihood(successes, trials, fit(successes, trials, rho))
    )


def _rejects_at_least(successes, trials, rho, level, n_resamples, seed) -> bool:
    """Whether the test rejects ``min r ≥ ρ·max r``: the statistic beyond the ``level`` quantile
    of its distribution over tables drawn from the constrained fit (a parametric bootstrap)."""
    observed = _statistic(successes[None], trials, _fit_ratio_at_least, rho)[0]
    if observed <= 1e-9:
        return False
    null = _fit_ratio_at_least(successes[None], trials, rho)[0]
    draws = np.random.default_rng(seed).binomial(
        trials.astype(np.int64), null, (n_resamples, trials.size)
    )
    null_statistics = _statistic(draws.astype(float), trials, _fit_ratio_at_least, rho)
    return bool(observed > np.quantile(null_statistics, level))


def rate_ratio_interval(
    successes,
    trials,
    *,
    confidence: float = 0.95,
    n_resamples: int = 200,
    random_state: int,
) -> tuple[float, float]:
    """Interval of ρ = min_g r_g / max_g r_g from per-group binomial counts.

    The ρ not rejected by a likelihood-ratio test, each side at level (1 − c)/2, with the statistic
    2·(ℓ(r̂) − max_{r ∈ H₀} ℓ(r)) over binomial rates r:

    - upper bound: the largest ρ₀ whose ``min r ≥ ρ₀·max r`` (every pair within ρ₀) is not
      rejected. The statistic is compared with its distribution over tables drawn from the
      constrained fit (a parametric bootstrap, not χ²: with many small groups it is heavier-tailed);
      draws are seeded by ``random_state``, shared by every ρ₀ and independent of the
      groups' order.
    - lower bound: the smallest ρ₀ whose ``r_i ≤ ρ₀·r_j for some pair`` is not rejected: a union
      of one-constraint hypotheses, rejected only if each pair's one-sided test rejects at
      (1 − c)/2 (an intersection-union test, Berger 1982, needs no multiplicity correction), i.e.
      the smallest pairwise statistic beyond χ²₁'s c-quantile.

    Each bound is found by bisection. Groups without trials carry no information and are left out;
    with fewer than two groups, or no success at all, the interval is NaN. Ideal: a narrow interval.

    Parameters
    ----------
    successes, trials : array-like of shape (n_groups,)
        Per group, the count of positive predictions and of rows (DPR), or the same among the
        rows with y = 1 (TPR) or y = 0 (FPR).
    confidence : float
        Coverage c of the interval, in (0, 1).
    n_resamples : int
        Tables drawn for each test.
    random_state : int
        Seed of the draws.

    Returns
    -------
    tuple of float
        ``(low, high)`` within [0, 1].

    Examples
    --------
    >>> low, high = rate_ratio_interval([20, 40], [100, 100], random_state=0)
    >>> bool(low < 0.5 < high < 0.8)
    True
    """
    successes, trials = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    successes, trials = successes[trials > 0], trials[trials > 0]
    order = np.lexsort((successes, trials))  # the draws, and so the bounds, ignore group order
    successes, trials = successes[order], trials[order]
    if trials.size < 2 or successes.sum() == 0:
        return float("nan"), float("nan")
    observed = successes / trials
    estimate = observed.min() / observed.max()
    level = (1 + confidence) / 2
    critical = NormalDist().inv_cdf(level) ** 2  # χ²₁ at `confidence`: one side at (1 − c)/2

    def above(rho):  # the upper bound's test rejects ρ
        return _rejects_at_least(successes, trials, rho, level, n_resamples, random_state)

    def below(rho):  # the lower bound's test rejects ρ
        return _statistic(successes[None], trials, _fit_ratio_at_most, rho)[0] > critical

    def bisect(low, high, too_high):
        for _ in range(RATIO_BISECTIONS):
            middle = 0.5 * (low + high)
            low, high = (low, middle) if too_high(middle) else (middle, high)
        return low, high

    high = bisect(estimate, 1.0, above)[0] if above(1.0) else 1.0
    low = bisect(0.0, estimate, lambda rho: not below(rho))[1] if below(0.0) else 0.0
    return float(low), float(high)
