"""The label model p(y | x, s): the codec's encoding of drawn rows, its fit, and the decoder drawing
the label from the features it drew."""

import numpy as np
import polars as pl
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from fairdistill.codec import TabularCodec
from fairdistill.settings import GenerationSettings
from models.decoding import decode_latent
from models.label_model import LabelModel, drawn_features, feature_columns, fit_label_model
from models.teacher import HeadLayout, head_spec


def block_values(codec, x: np.ndarray) -> list[torch.Tensor]:
    """Per-block values as the decoder draws them: category indices, normal scores."""
    return [
        torch.as_tensor(
            x[:, b.start : b.stop].argmax(1) if b.kind == "categorical" else x[:, b.start]
        )
        for b in codec.blocks_
    ]


def test_the_label_model_of_drawn_blocks_is_the_label_model_of_their_encoding(toy):
    _, codec, x, s = toy
    layout = HeadLayout(head_spec(codec.blocks_))
    target = codec.blocks_.index(codec.target_block_)
    model, _ = fit_label_model(x, s, layout, seed=0, device="cpu")
    values = block_values(codec, x)
    values[target] = None  # drawn after the features
    positions, numerics = drawn_features(values, layout, target)
    assert positions.shape[1] + numerics.shape[1] == len(codec.blocks_) - 1
    with torch.no_grad():
        encoded = model(torch.as_tensor(x[:, feature_columns(layout)]), torch.as_tensor(s))
        drawn = model.forward_drawn(positions, numerics, torch.as_tensor(s))
    torch.testing.assert_close(drawn, encoded, atol=1e-5, rtol=1e-5)


def test_the_label_model_learns_the_label_from_features_and_group(toy, make_biased_frame):
    _, codec, x, s = toy
    layout = HeadLayout(head_spec(codec.blocks_))
    model, history = fit_label_model(x, s, layout, seed=0, device="cpu")
    assert history and all(np.isfinite(r["val_total"]) for r in history)
    fresh = make_biased_frame(n=2000, seed=9)
    xf, sf = codec.encode(fresh)
    with torch.no_grad():
        logits = model(torch.as_tensor(xf[:, feature_columns(layout)]), torch.as_tensor(sf))
    positive = [str(c) for c in codec.target_block_.categories].index(">50K")
    y = xf[:, layout.target].argmax(1) == positive
    # the planted P(y | hours, s): a fresh sample's labels are ranked well
    assert roc_auc_score(y, logits[:, positive].numpy()) > 0.8
    again, _ = fit_label_model(x, s, layout, seed=0, device="cpu")
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])  # deterministic given the seed


def test_a_label_model_is_rebuilt_from_its_weights():
    model = LabelModel(7, 3, [5, 4])
    rebuilt = LabelModel.from_state_dict(model.state_dict())
    x, s = torch.randn(10, 5), torch.eye(2)[torch.arange(10) % 2]
    assert torch.equal(model(x, s), rebuilt(x, s))


LAYOUT = HeadLayout([["categorical", 2], ["numeric", 1], ["categorical", 2, "target"]])


class JobDecoder(nn.Module):
    """job ~ 50/50 whatever z and s; the decoder's own label head says y = 1 with P 0.5."""

    def forward(self, z, s):
        zero = torch.zeros(len(z))
        return torch.stack([zero, zero, zero, zero, zero, zero], 1)


class LabelIsJob(nn.Module):
    """p(y = 1 | x, s) ≈ 1 when the drawn job is category 1, ≈ 0 otherwise."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(12.0))

    def forward_drawn(self, positions, numerics, s):
        logit = self.scale * ((positions[:, 0] == 1).float() - 0.5)  # job's one-hot at position 1
        return torch.stack([-logit, logit], 1)


@pytest.mark.parametrize("mode", ["faithful", "counterfactual"])
def test_the_label_is_drawn_from_the_features_drawn_before_it(mode):
    def decode(label_model):
        values, s = decode_latent(
            JobDecoder(),
            LAYOUT,
            torch.zeros(4000, 2),
            [0.5, 0.5],
            2,
            GenerationSettings(mode=mode),
            torch.Generator().manual_seed(0),
            label_model=label_model,
        )
        return values, s

    values, s = decode(LabelIsJob())
    agree = float((values[2] == values[0]).mean())
    if mode == "faithful":
        assert agree > 0.99
    else:  # twins share one label, drawn from the mixture of their two label probabilities
        twins = values[2].reshape(-1, 2)
        assert (twins[:, 0] == twins[:, 1]).all()
        assert agree == pytest.approx(0.75, abs=0.03)  # both twins' jobs agree half the time
    values, _ = decode(None)  # the decoder's head: a label independent of the job
    assert float((values[2] == values[0]).mean()) == pytest.approx(0.5, abs=0.05)


def test_a_point_mass_row_reads_the_same_whatever_score_was_drawn_for_it():
    rng = np.random.default_rng(0)
    n = 2000  # ≈ 600 gains: the codec models the zeros apart
    gain = np.where(rng.random(n) < 0.7, 0, rng.integers(1, 10_000, n))
    frame = pl.DataFrame(
        {
            "gain": gain,
            "sex": rng.choice(["F", "M"], n),
            "income": np.where((gain > 5000) | (rng.random(n) < 0.2), ">50K", "<=50K"),
        }
    )
    codec = TabularCodec([], ["gain"], [], "income", ["sex"]).fit(frame)
    x, s = codec.encode(frame)
    layout = HeadLayout(head_spec(codec.blocks_))
    assert layout.indicators == [(0, codec.blocks_[1].start + 1)]
    model, _ = fit_label_model(x, s, layout, seed=0, device="cpu")
    at_mass = gain == 0
    # the bins of the piecewise-linear encoding cover the gains, not the zeros
    assert model.edges[0, 1] > model.edges[0, 0]
    target = codec.blocks_.index(codec.target_block_)
    values = block_values(codec, x)
    values[target] = None
    values[0] = torch.where(torch.as_tensor(at_mass), torch.randn(n) * 3, values[0])
    positions, numerics = drawn_features(values, layout, target)
    with torch.no_grad():
        encoded = model(torch.as_tensor(x[:, feature_columns(layout)]), torch.as_tensor(s))
        drawn = model.forward_drawn(positions, numerics, torch.as_tensor(s))
    torch.testing.assert_close(drawn, encoded, atol=1e-5, rtol=1e-5)
    rebuilt = LabelModel.from_state_dict(model.state_dict())
    torch.testing.assert_close(
        rebuilt.forward_drawn(positions, numerics, torch.as_tensor(s)), drawn
    )
