"""Bootstrap intervals: the percentile bootstrap against an oracle loop, dict metrics, constant
metrics, errors; the likelihood-ratio interval of a ratio of group rates."""

import numpy as np
import pytest

from fairdistill.errors import FairdistillError
from fairdistill.metrics.bootstrap import LENGTHS_DIFFER, bootstrap_ci, rate_ratio_interval
from fairdistill.metrics.fairness import demographic_parity_ratio, prediction_fairness_intervals


def test_matches_an_explicit_resampling_loop():
    x = np.random.default_rng(1).normal(size=50)
    rng = np.random.default_rng(7)
    idx = rng.integers(0, 50, size=(100, 50))
    oracle = np.percentile([x[i].mean() for i in idx], [5, 95])
    assert bootstrap_ci(
        np.mean, x, n_resamples=100, confidence=0.9, random_state=7
    ) == pytest.approx(tuple(oracle))


def test_constant_metric_and_coverage():
    assert bootstrap_ci(lambda a: 3.0, np.zeros(10), random_state=0) == (3.0, 3.0)
    y = np.random.default_rng(0).random(400) < 0.3
    low, high = bootstrap_ci(np.mean, y, random_state=0)
    assert low < 0.3 < high and high - low < 0.15


def test_keyword_arrays_and_dict_metrics():
    y_pred = np.array([1, 0] * 50)
    groups = np.array(["a"] * 50 + ["b"] * 50)
    low, high = bootstrap_ci(
        demographic_parity_ratio, y_pred, y_pred, sensitive=groups, n_resamples=50, random_state=0
    )
    assert 0.5 < low <= 1.0 and high <= 1.0

    def both(a, *, b):
        return {"a": float(np.mean(a)), "b": float(np.mean(b))}

    out = bootstrap_ci(both, np.ones(20), b=np.zeros(20), n_resamples=20, random_state=0)
    assert out == {"a": (1.0, 1.0), "b": (0.0, 0.0)}


def test_lengths_must_agree():
    with pytest.raises(FairdistillError) as info:
        bootstrap_ci(np.mean, np.ones(3), b=np.ones(4), random_state=0)
    assert str(info.value) == LENGTHS_DIFFER.format(lengths=[3, 4])


# ------------------------------------------------------------------ rate_ratio_interval
SMALL_GROUPS = np.array([40, 60, 400, 800])  # rows per group, two of them small


def test_ratio_interval_reaches_parity_when_rates_are_equal_in_small_groups():
    # Equal rates: the min/max estimate sits well below 1 (noise in the small groups), and the
    # percentile bootstrap's top too; the likelihood-ratio interval still reaches 0.8.
    rng = np.random.default_rng(0)
    trials = [rng.binomial(SMALL_GROUPS, 0.2) for _ in range(30)]
    estimates = [(k / SMALL_GROUPS).min() / (k / SMALL_GROUPS).max() for k in trials]
    highs = [rate_ratio_interval(k, SMALL_GROUPS, random_state=0)[1] for k in trials]
    assert np.mean(estimates) < 0.8
    assert np.mean(np.array(highs) >= 0.8) >= 0.9


def test_ratio_interval_excludes_a_gap_the_rows_show():
    low, high = rate_ratio_interval([200, 400], [2000, 2000], random_state=0)
    assert 0.4 < low < 0.5 < high < 0.6
    # a large group well below the others is caught even beside small groups
    low, high = rate_ratio_interval([8, 12, 80, 64], SMALL_GROUPS, random_state=0)
    assert low < 0.4 < high < 0.7


def test_ratio_interval_edge_cases_and_seed():
    assert np.isnan(rate_ratio_interval([0, 0], [10, 10], random_state=0)).all()
    assert np.isnan(rate_ratio_interval([3, 0], [10, 0], random_state=0)).all()  # one group left
    with_empty = rate_ratio_interval([3, 5, 0], [10, 10, 0], random_state=0)
    assert with_empty == rate_ratio_interval([3, 5], [10, 10], random_state=0)
    assert rate_ratio_interval([0, 5], [10, 10], random_state=0)[0] == 0.0
    assert rate_ratio_interval([9, 12], [50, 60], random_state=1) == rate_ratio_interval(
        [9, 12], [50, 60], random_state=1
    )
    # the groups' order does not matter
    assert rate_ratio_interval([0, 5, 2], [5, 5, 9], random_state=0) == rate_ratio_interval(
        [5, 2, 0], [5, 9, 5], random_state=0
    )


def test_fairness_intervals_over_intersectional_groups_with_equal_rates():
    # Two sensitive columns, six groups, two of them 40 rows: every group predicts 20% positives
    # exactly, but the true positives are spread unevenly. DPR's interval is [·, 1]; EOR's is the
    # lower of its TPR and FPR intervals.
    sizes = [40, 40, 200, 200, 600, 600]
    sex = np.concatenate([np.full(n, "F" if g % 2 else "M") for g, n in enumerate(sizes)])
    race = np.concatenate([np.full(n, "abc"[g // 2]) for g, n in enumerate(sizes)])
    y_pred = np.concatenate([np.arange(n) < n // 5 for n in sizes]).astype(int)
    y_true = np.concatenate([np.arange(n) < n // (4 + g) for g, n in enumerate(sizes)])
    out = prediction_fairness_intervals(y_true, y_pred, sensitive=np.c_[sex, race], random_state=0)
    assert out["dpr"][1] == 1.0 and 0.3 < out["dpr"][0] < 0.7  # 40-row groups: wide
    tp = (y_true & (y_pred == 1)).astype(float)
    groups = np.unique(np.char.add(sex, race), return_inverse=True)[1]
    counts = [np.bincount(groups, weights=w) for w in (tp, y_true, y_pred - tp, 1 - y_true)]
    tpr = rate_ratio_interval(counts[0], counts[1], random_state=0)
    fpr = rate_ratio_interval(counts[2], counts[3], random_state=0)
    assert out["eor"] == (min(tpr[0], fpr[0]), min(tpr[1], fpr[1]))
