"""Latent leakage: none, full, multi-class, errors."""

import numpy as np
import pytest

from fairdistill.errors import FairdistillError
from fairdistill.metrics.leakage import ONE_GROUP, latent_leakage_auroc


def test_no_and_full_leakage():
    rng = np.random.default_rng(0)
    s = rng.choice(["F", "M"], 2000)
    noise = rng.normal(size=(2000, 4))
    assert latent_leakage_auroc(noise, s, random_state=0) == pytest.approx(0.5, abs=0.05)
    assert latent_leakage_auroc(np.c_[noise, s == "M"], s, random_state=0) == 1.0


def test_multiclass_one_vs_rest():
    rng = np.random.default_rng(0)
    s = rng.choice(["a", "b", "c"], 900)
    codes = np.searchsorted(["a", "b", "c"], s)
    perfect = np.eye(3)[codes] + rng.normal(scale=0.01, size=(900, 3))
    assert latent_leakage_auroc(perfect, s, random_state=0) == 1.0
    partial = np.eye(3)[codes] + rng.normal(scale=1.0, size=(900, 3))
    assert 0.6 < latent_leakage_auroc(partial, s, random_state=0) < 0.95


def test_one_group_message():
    with pytest.raises(FairdistillError) as info:
        latent_leakage_auroc(np.zeros((10, 2)), ["F"] * 10, random_state=0)
    assert str(info.value) == ONE_GROUP.format(groups=["F"], counts=[10])
