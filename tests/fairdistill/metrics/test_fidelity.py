"""Marginals, associations and detection against hand-worked values and independent oracles."""

import numpy as np
import polars as pl
import pytest
from scipy.stats import ks_2samp
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import OneHotEncoder

from fairdistill.metrics.fidelity import (
    association_similarity,
    correlation_ratio,
    cramers_v,
    detection_auc,
    ks_statistic,
    marginal_similarity,
    total_variation_distance,
)


def test_tvd_by_hand():
    assert total_variation_distance(["a", "b", "c"], ["c", "b", "a"]) == 0.0
    assert total_variation_distance(["a", "a"], ["b", "b"]) == 1.0
    # p = (a 1/2, b 1/2), q = (a 1/4, b 3/4)
    assert total_variation_distance(["a", "b"], ["a", "b", "b", "b"]) == 0.25
    # a null is a category of its own
    assert total_variation_distance(["a", None], ["a", "a"]) == 0.5


@pytest.mark.parametrize("seed", range(4))
def test_ks_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=rng.integers(5, 300)).round(1)  # rounding makes ties
    b = rng.normal(0.3, 1.2, size=rng.integers(5, 300)).round(1)
    assert ks_statistic(a, b) == pytest.approx(ks_2samp(a, b).statistic)


def test_ks_drops_nan_and_identical_is_zero():
    assert ks_statistic([1.0, np.nan, 2.0], [2.0, 1.0]) == 0.0
    assert ks_statistic([np.nan], [1.0]) == 1.0


def test_cramers_v_by_hand():
    assert cramers_v(["a", "a", "b", "b", "c"], [1, 1, 2, 2, 3]) == 1.0
    assert cramers_v(["a", "b", "a", "b"], ["x", "x", "y", "y"]) == 0.0
    assert cramers_v(["a", "a"], ["x", "y"]) == 0.0  # one level: no association
    # table [[10, 0], [5, 5]]: chi2 = 20/3, V = sqrt(chi2 / 20) = sqrt(1/3)
    x = ["r1"] * 10 + ["r2"] * 10
    y = ["c1"] * 10 + ["c1"] * 5 + ["c2"] * 5
    assert cramers_v(x, y) == pytest.approx(np.sqrt(1 / 3))


def test_correlation_ratio_by_hand_and_against_r2():
    # means 2 and 6, grand mean 4: SS_between 16, SS_total 20
    assert correlation_ratio(["a", "a", "b", "b"], [1.0, 3.0, 5.0, 7.0]) == pytest.approx(
        np.sqrt(0.8)
    )
    rng = np.random.default_rng(0)
    g = rng.choice(list("pqrs"), 300)
    v = rng.normal(size=300) + (g == "q") * 0.8
    onehot = OneHotEncoder().fit_transform(g[:, None]).toarray()
    r2 = LinearRegression().fit(onehot, v).score(onehot, v)  # η² = R² of v on the one-hot
    assert correlation_ratio(g, v) == pytest.approx(np.sqrt(r2))
    assert correlation_ratio(["a", "b"], [1.0, 1.0]) == 0.0


def test_marginal_similarity_keys_and_values():
    real = pl.DataFrame({"c": ["a", "b"], "x": [1.0, 2.0]})
    fake = pl.DataFrame({"c": ["a", "a"], "x": [1.0, 2.0]})
    out = marginal_similarity(real, fake, categorical=["c"], numeric=["x"])
    assert out == {"marginal": 0.75, "marginal.c": 0.5, "marginal.x": 1.0}


def test_association_similarity_by_hand():
    real = pl.DataFrame({"u": [0.0, 1.0, 2.0, 3.0], "v": [0.0, 1.0, 2.0, 3.0]})
    assert association_similarity(real, real, categorical=[], numeric=["u", "v"]) == 1.0
    # Pearson +1 against -1: |Δ| = 2, halved → similarity 0
    fake = real.with_columns(pl.col("v").reverse())
    assert association_similarity(real, fake, categorical=[], numeric=["u", "v"]) == 0.0
    # one categorical-numeric pair: η = 1 in real, 0 in fake
    real = pl.DataFrame({"c": ["a", "a", "b", "b"], "x": [1.0, 1.0, 3.0, 3.0]})
    fake = pl.DataFrame({"c": ["a", "b", "a", "b"], "x": [1.0, 1.0, 3.0, 3.0]})
    assert association_similarity(real, fake, categorical=["c"], numeric=["x"]) == 0.0
    assert association_similarity(real, fake, categorical=["c"], numeric=[]) == 1.0


def test_detection_auc_extremes():
    real = pl.DataFrame({"x": np.arange(90.0), "c": ["a", "b", "c"] * 30})
    far = real.with_columns(pl.col("x") + 1000)
    assert detection_auc(real, far, categorical=["c"], numeric=["x"], random_state=0) == 1.0
    # copies share a fold with their source: nothing to learn
    assert detection_auc(real, real, categorical=["c"], numeric=["x"], random_state=0) == 0.5
