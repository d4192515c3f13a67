"""Percentile bootstrap: an oracle resampling loop, dict metrics, constant metrics, errors."""

import numpy as np
import pytest

from fairdistill.errors import FairdistillError
from fairdistill.metrics.bootstrap import LENGTHS_DIFFER, bootstrap_ci
from fairdistill.metrics.fairness import demographic_parity_ratio


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
