"""The label model ``p(y | x, s)``: a synthetic row's label from its own decoded features and group.

The decoder's label head sees only ``(z, s)``, so a row's label and its sampled features are drawn
independently given z; and once the ``dp`` offsets cancel the head's dependence on s, the label no
longer follows the features that s shapes (relationship, marital status on Adult). A classifier
trained on such a table ranks real rows worse: on Adult (seed 0, default model, TSTR with HGB) the
decoder's label gave AUROC 0.893 faithful and 0.869 under ``dp``; a label drawn from a classifier of
``(x, s)`` fitted on the real training rows and shifted per group gave 0.880 under ``dp`` (seeds 0
and 1), model DPR 0.91–0.97 — the construction of the fair reference (`fairdistill.audit`), applied
to synthetic features. The decoder then factorises as ``p(x | z, s) · p(y | x, s)``: the label is
drawn last, from the features already drawn (Menon & Williamson 2018: the DP-optimal label is a
group-wise shift of ``p(y | x, s)``; `models.calibration` fits the shifts).

A small MLP on the codec's encoding of the feature blocks (one-hot categories, normal scores) and
the one-hot group, trained with the library's loop (`models.training.fit_loop`: seeded, early
stopping on a validation split). Tables only: an image's label stays the decoder's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from fairdistill.settings import TrainingSettings
from models.device import resolve_device
from models.teacher import HeadLayout, as_tensor
from models.training import fit_loop

# ≈ 10 passes over a 30k-row table at its batch of 512; Adult's fit costs ≈ 2 CPU s.
SETTINGS = TrainingSettings(
    steps=600, rounds=10, patience=3, hidden=[64, 64], penalty="none", beta=0.0
)


class LabelModel(nn.Module):
    """MLP ``[x_features, s] → label logits`` (``[n, c]``)."""

    def __init__(self, in_dim: int, n_classes: int, hidden: Sequence[int] = (64, 64)):
        super().__init__()
        layers, width = [], in_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.net = nn.Sequential(*layers, nn.Linear(width, n_classes))

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        return self.net(torch.cat([x, s], 1))

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor]) -> LabelModel:
        """The model whose weights are ``state`` (the sizes are read from the weight shapes)."""
        shapes = [state[k].shape for k in sorted(state, key=_layer) if k.endswith("weight")]
        model = cls(shapes[0][1], shapes[-1][0], [s[0] for s in shapes[:-1]])
        model.load_state_dict(state)
        return model.eval()


def _layer(key: str) -> int:
    return int(key.split(".")[1])


def feature_columns(layout: HeadLayout) -> np.ndarray:
    """The columns of the encoded x that are features: every block but the label's."""
    keep = np.ones(layout.x_dim, dtype=bool)
    keep[layout.target] = False
    return np.flatnonzero(keep)


def encoded_features(values: Sequence[Tensor], layout: HeadLayout, target_index: int) -> Tensor:
    """The encoded x of decoded rows, label block left out: a categorical block's drawn index as
    its one-hot, a numeric block's drawn normal score as it is (the codec's own encoding)."""
    parts = []
    for b, ((kind, width, *_), value) in enumerate(zip(layout.spec, values, strict=False)):
        if b == target_index:
            continue
        if kind == "categorical":
            parts.append(nn.functional.one_hot(value.long(), width).float())
        else:
            parts.append(value.float()[:, None])
    return torch.cat(parts, 1)


def fit_label_model(
    x: np.ndarray, s: np.ndarray, layout: HeadLayout, *, seed: int, device: str = "auto"
) -> tuple[LabelModel, list[dict]]:
    """Fit ``p(y | x, s)`` on the encoded training rows (cross-entropy; `SETTINGS`, seeded)."""
    config = SETTINGS.model_copy(update={"seed": seed, "device": device}).for_table(*np.shape(x))
    torch_device = resolve_device(config.device)
    features = as_tensor(np.asarray(x)[:, feature_columns(layout)], torch_device)
    y = as_tensor(np.asarray(x)[:, layout.target].argmax(1), torch_device).long()
    st = as_tensor(s, torch_device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LabelModel(
            features.shape[1] + st.shape[1], layout.target.stop - layout.target.start, config.hidden
        ).to(torch_device)

    def loss(batch, generator, round_):
        xb, sb, yb = batch
        return {"total": nn.functional.cross_entropy(model(xb, sb), yb)}

    history = fit_loop(model, loss, (features, st, y), config, desc="label model")
    return model, history
