"""Decode modes on a hand-built decoder with a planted bias: P(y=1|s=0) = 0.1, P(y=1|s=1) = 0.9."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from fairdistill.errors import ModelError
from fairdistill.settings import GenerationSettings
from models.decoding import decode_latent
from models.teacher import HeadLayout

P_S = [0.4, 0.6]
FAIR = 0.4 * 0.1 + 0.6 * 0.9  # Σ_s' P(s') P(y=1|s') = 0.58
LAYOUT = HeadLayout([["categorical", 2], ["numeric", 1], ["categorical", 2]])  # job, hours, label
N = 20000


def logit(p):
    return math.log(p / (1 - p))


# dp offsets worked by hand: logit(0.1) + c₀ = logit(0.58) = logit(0.9) + c₁ (positive class 1)
DP_OFFSETS = [[0.0, logit(FAIR) - logit(0.1)], [0.0, logit(FAIR) - logit(0.9)]]


class BiasedDecoder(nn.Module):
    """job logit ±4 by s; hours ~ N(z₀, 1); label logit = logit(0.1) or logit(0.9) by s."""

    def forward(self, z, s):
        male = s[:, 1]
        zero = torch.zeros_like(male)
        label = torch.where(male > 0, math.log(9), -math.log(9))
        return torch.stack([zero, 4 * (2 * male - 1), z[:, 0], zero, zero, label], 1)


def run(mode, seed=0, n=N, offsets=DP_OFFSETS, fair_temperature=1.0, **kw):
    values, s = decode_latent(
        BiasedDecoder(),
        LAYOUT,
        torch.zeros(n, 2),
        P_S,
        2,
        GenerationSettings(mode=mode, **kw),
        torch.Generator().manual_seed(seed),
        label_offsets=offsets,
        fair_temperature=fair_temperature,
    )
    return values, s


def rate(values, s, block, group):
    return float(values[block][s == group].mean())


def test_faithful_keeps_the_bias():
    values, s = run("faithful")
    assert rate(values, s, 2, 0) == pytest.approx(0.1, abs=0.02)
    assert rate(values, s, 2, 1) == pytest.approx(0.9, abs=0.02)
    assert float((s == 1).mean()) == pytest.approx(0.6, abs=0.02)


def test_dp_offsets_equalise_the_label_and_keep_features_coherent():
    values, s = run("dp")
    assert rate(values, s, 2, 0) == pytest.approx(FAIR, abs=0.02)
    assert rate(values, s, 2, 1) == pytest.approx(FAIR, abs=0.02)
    sig4 = 1 / (1 + math.exp(-4))
    assert rate(values, s, 0, 1) == pytest.approx(sig4, abs=0.01)  # features keep their own s
    assert rate(values, s, 0, 0) == pytest.approx(1 - sig4, abs=0.01)


def test_eo_is_the_same_pass_with_its_own_offsets():
    values, s = run("eo", offsets=[[0.0, 0.0], [0.0, logit(0.5) - logit(0.9)]])
    assert rate(values, s, 2, 0) == pytest.approx(0.1, abs=0.02)
    assert rate(values, s, 2, 1) == pytest.approx(0.5, abs=0.02)


def test_fairness_dial_scales_the_offsets():
    values, s = run("dp", fairness=0.5)
    halfway = 1 / (1 + math.exp(-(logit(0.1) + 0.5 * DP_OFFSETS[0][1])))  # σ(logit p + λ·c)
    assert rate(values, s, 2, 0) == pytest.approx(halfway, abs=0.02)
    values, s = run("dp", fairness=0.0)
    assert rate(values, s, 2, 0) == pytest.approx(0.1, abs=0.02)
    assert rate(values, s, 2, 1) == pytest.approx(0.9, abs=0.02)


def test_label_temperature_sharpens_before_the_offset():
    values, s = run("faithful", label_temperature=0.5)
    p0, p1 = 0.01 / (0.01 + 0.81), 0.81 / (0.81 + 0.01)  # softmax(2·logits)
    assert rate(values, s, 2, 0) == pytest.approx(p0, abs=0.01)
    assert rate(values, s, 2, 1) == pytest.approx(p1, abs=0.01)


@pytest.mark.parametrize("mode", ["dp", "eo"])
def test_the_fair_temperature_sharpens_the_label_with_the_dial(mode):
    zero = [[0.0, 0.0], [0.0, 0.0]]  # no shift: only the sharpening τ_λ = 1 − λ(1 − τ) acts
    for fairness, tau in ((1.0, 0.5), (0.5, 0.75), (0.0, 1.0)):
        values, s = run(mode, offsets=zero, fair_temperature=0.5, fairness=fairness)
        sharpened = 1 / (1 + math.exp(-logit(0.1) / tau))  # σ(logit p / τ_λ)
        assert rate(values, s, 2, 0) == pytest.approx(sharpened, abs=0.01)
    values, s = run("faithful", fair_temperature=0.5)  # the faithful mode is never sharpened
    assert rate(values, s, 2, 0) == pytest.approx(0.1, abs=0.02)


@pytest.mark.parametrize("mode", ["dp", "eo"])
def test_the_criterion_modes_need_the_models_offsets(mode):
    with pytest.raises(ModelError, match=f"no label offsets for decode mode '{mode}'"):
        run(mode, offsets=None)
    run("faithful", offsets=None)  # faithful and counterfactual need none
    run("counterfactual", offsets=None, n=10)


def test_counterfactual_twins_share_a_fair_label():
    values, s = run("counterfactual", n=10000)
    assert len(s) == 20000 and s[:4].tolist() == [0, 1, 0, 1]
    label = values[2].reshape(-1, 2)
    assert (label[:, 0] == label[:, 1]).all()
    assert float(label.mean()) == pytest.approx(FAIR, abs=0.02)
    assert rate(values, s, 0, 1) > 0.95 and rate(values, s, 0, 0) < 0.05


def test_numerics_are_sampled_with_their_variance():
    values, _ = run("dp")
    assert float(values[1].mean()) == pytest.approx(0.0, abs=0.03)
    assert float(values[1].std()) == pytest.approx(1.0, abs=0.03)


def test_given_groups_are_kept():
    given = torch.tensor([1, 0] * 50)
    values, s = decode_latent(
        BiasedDecoder(),
        LAYOUT,
        torch.zeros(100, 2),
        P_S,
        2,
        GenerationSettings(),
        torch.Generator().manual_seed(0),
        s_index=given,
        label_offsets=DP_OFFSETS,
    )
    np.testing.assert_array_equal(s, given.numpy())


@pytest.mark.parametrize("mode", ["faithful", "dp", "eo", "counterfactual"])
def test_deterministic_given_seed(mode):
    a, sa = run(mode, seed=5, n=500)
    b, sb = run(mode, seed=5, n=500)
    c, _ = run(mode, seed=6, n=500)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    np.testing.assert_array_equal(sa, sb)
    assert not np.array_equal(a[1], c[1])
