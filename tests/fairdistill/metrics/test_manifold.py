"""α-precision / β-recall / authenticity and density / coverage: hand cases and a brute-force oracle."""

import numpy as np
import polars as pl
import pytest

from fairdistill.metrics.manifold import (
    alpha_precision_beta_recall,
    density_coverage,
    embedding_fidelity,
)
from fairdistill.metrics.tables import TableEmbedding


def prdc_oracle(real, fake, k):
    """Naeem et al. 2020, eq. 5-6, with an explicit distance matrix."""
    rr = np.sqrt(((real[:, None, :] - real[None, :, :]) ** 2).sum(-1))
    radii = np.sort(rr, axis=1)[:, k]
    rf = np.sqrt(((real[:, None, :] - fake[None, :, :]) ** 2).sum(-1))
    inside = rf < radii[:, None]
    return inside.sum() / (k * len(fake)), inside.any(axis=1).mean()


def test_density_coverage_by_hand():
    # k = 1: every real point's ball has radius 1; 0.5 lies in the balls of 0 and 1
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    assert density_coverage(real, np.array([[0.5]]), k=1) == {"density": 2.0, "coverage": 0.5}
    assert density_coverage(real, np.array([[10.0]]), k=1) == {"density": 0.0, "coverage": 0.0}


@pytest.mark.parametrize("seed", range(3))
def test_density_coverage_against_oracle(seed):
    rng = np.random.default_rng(seed)
    real, fake = rng.normal(size=(120, 4)), rng.normal(0.3, 1.1, size=(90, 4))
    density, coverage = prdc_oracle(real, fake, k=5)
    out = density_coverage(real, fake, k=5)
    assert out["density"] == pytest.approx(density) and out["coverage"] == pytest.approx(coverage)


def test_identical_sets_score_one():
    x = np.random.default_rng(0).normal(size=(300, 5))
    assert density_coverage(x, x.copy()) == {"density": 1.0, "coverage": 1.0}
    out = alpha_precision_beta_recall(x, x.copy())
    assert out["alpha_precision"] == pytest.approx(1.0, abs=0.01)
    assert out["beta_recall"] == pytest.approx(1.0, abs=0.01)
    assert out["authenticity"] == 0.0  # every synthetic point is a copy


def test_far_away_synthetic_points():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 3))
    far = rng.normal(size=(100, 3)) + 50.0
    out = alpha_precision_beta_recall(real, far)
    # no synthetic point inside any α-ball: P_α = 0, IP = 1 − 2·mean(α) = 0
    assert out["alpha_precision"] == 0.0
    assert (
        out["beta_recall"] == 0.0
    )  # no real point has a synthetic point nearer than its neighbour
    assert out["authenticity"] == 1.0


def test_fresh_sample_scores_in_between():
    rng = np.random.default_rng(0)
    real, fresh = rng.normal(size=(500, 3)), rng.normal(size=(500, 3))
    out = alpha_precision_beta_recall(real, fresh)
    assert out["alpha_precision"] > 0.9 and 0.3 < out["authenticity"] < 0.7


def test_embedding_fidelity_reuses_the_embedding():
    t = pl.DataFrame({"c": ["a", "b", "c"] * 20, "x": np.arange(60.0)})
    emb = TableEmbedding(["c"], ["x"]).fit(t)
    kw = dict(categorical=["c"], numeric=["x"], random_state=0)
    assert embedding_fidelity(t, t, embedding=emb, **kw) == embedding_fidelity(t, t, **kw)
    out = embedding_fidelity(t, t, max_rows=30, **kw)  # independent subsamples of each side
    assert out["authenticity"] > 0.0 and set(out) == {
        "alpha_precision",
        "beta_recall",
        "authenticity",
        "density",
        "coverage",
    }
