"""Latent samplers: shape, determinism, fit quality, JSON round trip."""

import json

import numpy as np
import pytest

from models.samplers import SAMPLERS, make_sampler


@pytest.fixture(scope="module")
def latents():
    rng = np.random.default_rng(0)
    cov = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, 0.0], [0.0, 0.0, 0.25]])
    return rng.multivariate_normal([2.0, -1.0, 0.5], cov, size=3000).astype(np.float32), cov


PARAMS = {
    "prior": {},
    "gmm": {"n_components": 3},
    "ddpm": {"steps": 50, "train_steps": 600, "hidden": 64},
}


@pytest.fixture(scope="module")
def fitted(latents):
    z, _ = latents
    return {name: make_sampler(name, **params).fit(z) for name, params in PARAMS.items()}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_shape_dtype_determinism(fitted, name):
    sampler = fitted[name]
    a, b, c = sampler.sample(200, 1), sampler.sample(200, 1), sampler.sample(200, 2)
    assert a.shape == (200, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name, tol_mean, tol_cov", [("gmm", 0.08, 0.1), ("ddpm", 0.25, 0.3)])
def test_matches_mean_and_covariance(fitted, latents, name, tol_mean, tol_cov):
    z, cov = latents
    draws = fitted[name].sample(4000, 0)
    np.testing.assert_allclose(draws.mean(0), z.mean(0), atol=tol_mean)
    np.testing.assert_allclose(np.cov(draws.T), cov, atol=tol_cov)


def test_prior_is_standard_normal(fitted):
    draws = fitted["prior"].sample(20000, 0)
    np.testing.assert_allclose(draws.mean(0), 0.0, atol=0.03)
    np.testing.assert_allclose(np.cov(draws.T), np.eye(3), atol=0.04)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_json_round_trip(fitted, name):
    state = json.loads(json.dumps(fitted[name].to_dict()))
    clone = SAMPLERS[state["name"]].from_dict(state)
    np.testing.assert_array_equal(clone.sample(50, 3), fitted[name].sample(50, 3))


def test_unfitted_and_unknown():
    with pytest.raises(RuntimeError, match="not fitted"):
        make_sampler("gmm").sample(3)
    with pytest.raises(ValueError, match="unknown sampler 'gan'"):
        make_sampler("gan")
