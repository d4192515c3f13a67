"""The image audit: every number about a set of synthetic images, and the gate that decides
publishing (the image counterpart of `fairdistill.audit`, chosen by the spec's modality).

It needs torch for its classifiers and its embedding, so it lives here; the metrics themselves are
the pure functions of `fairdistill.metrics`. Names are stable and dotted, as for tables:

- ``tstr.cnn.*``: a small CNN trained on the synthetic images, tested on the real holdout
  (accuracy, F1, AUROC, DPR/DPD/EOR/EOD with respect to s, accuracy per group and its gap);
  ``trtr.cnn.*`` the same CNN trained on the real train images; ``fair.cnn.*`` the same
  CNN trained on real train resampled so that the label is independent of s (Kamiran & Calders
  2012), when every group has every label;
- ``latent.leakage_auroc``: AUROC of s from the student's latent means of the holdout images;
- ``fidelity.*``: Fréchet distance, precision/recall, density/coverage in the embedding of a
  convolutional autoencoder trained here on the real train images (no downloaded weights);
- ``privacy.*``: nearest-neighbour pixel distances to the training images, copies and near-copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fairdistill.audit import (
    GATE_CLASSIFIER,
    GateCheck,
    audited_rows,
    check_gate,
    comparable,
    holdout_scores,
    run_audit,
)
from fairdistill.image_report import render_image_html
from fairdistill.images import pixel_array
from fairdistill.metrics import (
    density_coverage,
    intersectional_groups,
    latent_leakage_auroc,
)
from fairdistill.metrics.images import (
    accuracy_per_group,
    balanced_resample,
    frechet_distance,
    pixel_privacy,
    precision_recall,
)
from fairdistill.report import write_audit
from fairdistill.settings import Criterion, GateThresholds, GenerationSettings
from fairdistill.spec import DatasetSpec
from models.conv import feature_sizes
from models.device import torch_threads

CLASSIFIER = GATE_CLASSIFIER["image"]
CNN_EPOCHS = 8
EMBEDDING_EPOCHS = 10
EMBEDDING_DIM = 32
BATCH = 64
LEARNING_RATE = 2e-3


class ImageClassifier(nn.Module):
    """The audit's CNN: two 3×3 convolutions (16, 32 channels) each followed by 2×2 max-pooling,
    then a 64-unit layer and one logit of P(y = 1). Small on purpose: the audit compares the
    training sets, not the classifier."""

    def __init__(self, image_shape: Sequence[int]):
        super().__init__()
        depth, height, width = image_shape
        self.net = nn.Sequential(
            nn.Conv2d(depth, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * (height // 4) * (width // 4), 64),
            nn.ReLU(),
            nn.Linear(64, 1),
        )

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images).squeeze(1)


class ImageAutoencoder(nn.Module):
    """The fidelity embedding: stride-2 convolutions (16, 32 channels) to a 32-dimensional code,
    and their mirror back to the image; trained to reconstruct the real train images."""

    def __init__(self, image_shape: Sequence[int]):
        super().__init__()
        depth, height, width = image_shape
        heights, widths = feature_sizes(height, 2), feature_sizes(width, 2)
        self.start = (32, heights[2], widths[2])
        flat = int(np.prod(self.start))
        self.encode = nn.Sequential(
            nn.Conv2d(depth, 16, 3, 2, 1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, 2, 1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(flat, EMBEDDING_DIM),
        )
        pads = [
            (heights[i] - 2 * heights[i + 1] + 1, widths[i] - 2 * widths[i + 1] + 1) for i in (1, 0)
        ]
        self.expand = nn.Linear(EMBEDDING_DIM, flat)
        self.decode = nn.Sequential(
            nn.ConvTranspose2d(32, 16, 3, 2, 1, output_padding=pads[0]),
            nn.ReLU(),
            nn.ConvTranspose2d(16, depth, 3, 2, 1, output_padding=pads[1]),
        )

    def forward(self, images: Tensor) -> Tensor:
        return self.decode(F.relu(self.expand(self.encode(images))).reshape(-1, *self.start))


def fit_network(model: nn.Module, loss, inputs: Tensor, targets: Tensor, epochs: int, seed: int):
    """Adam over seeded shuffled mini-batches of ``(inputs, targets)``; returns the model in eval
    mode."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss(model(inputs[rows]), targets[rows]).backward()
            optimizer.step()
    return model.eval()


def _seeded(build, seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def cnn_scores(
    train_px: Tensor, train_y: np.ndarray, holdout_px: Tensor, *, random_state: int
) -> np.ndarray:
    """P(y = 1) of the holdout images from an `ImageClassifier` trained on ``(train_px,
    train_y)``."""
    model = _seeded(lambda: ImageClassifier(train_px.shape[1:]), random_state)
    targets = torch.as_tensor(train_y, dtype=torch.float32)
    fit_network(
        model, F.binary_cross_entropy_with_logits, train_px, targets, CNN_EPOCHS, random_state
    )
    with torch.no_grad():
        return torch.sigmoid(model(holdout_px)).numpy()


def embedding(train_px: Tensor, *, random_state: int) -> ImageAutoencoder:
    """The fidelity embedding: an `ImageAutoencoder` fitted on the real train images (mean
    Bernoulli cross-entropy of the reconstruction)."""
    model = _seeded(lambda: ImageAutoencoder(train_px.shape[1:]), random_state)
    return fit_network(
        model,
        F.binary_cross_entropy_with_logits,
        train_px,
        train_px,
        EMBEDDING_EPOCHS,
        random_state,
    )


def classifier_metrics(
    prefix: str,
    y_true: np.ndarray,
    y_score: np.ndarray,
    groups: np.ndarray,
    n_resamples: int,
    seed: int,
) -> dict[str, float]:
    """`holdout_scores` (with intervals), accuracy per group and its largest gap."""
    scores = holdout_scores(y_true, y_score, groups, n_resamples=n_resamples, random_state=seed)
    accuracy = accuracy_per_group(y_true, (y_score >= 0.5).astype(int), sensitive=groups)
    scores |= {f"group_accuracy.{group}": value for group, value in accuracy.items()}
    scores["accuracy_gap"] = max(accuracy.values()) - min(accuracy.values())
    return {f"{prefix}.{CLASSIFIER}.{key}": value for key, value in scores.items()}


def _arrays(table: pl.DataFrame, spec: DatasetSpec) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """Pixel intensities ``[n, C, H, W]`` in [0, 1], labels in {0, 1} and group labels."""
    size = spec.image_format
    pixels = pixel_array(table[spec.image[0]], (size.channels, size.height, size.width))
    labels = (table[spec.target].cast(pl.String) == spec.positive_label).to_numpy().astype(int)
    groups = intersectional_groups(*(table[c].to_numpy() for c in spec.sensitive_columns))
    return torch.as_tensor(pixels, dtype=torch.float32) / 255.0, labels, groups


def audit_images(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    spec: DatasetSpec,
    *,
    random_state: int = 0,
    n_resamples: int = 200,
    holdout_latents: np.ndarray | None = None,
    max_rows: int | None = 100_000,
    criterion: Criterion = "dp",
) -> dict[str, float]:
    """Every audit number of a set of synthetic images against the real train and holdout images
    (see the module docstring for the names), on at most ``max_rows`` images of each set drawn with
    the seed (`fairdistill.audit.audited_rows`; copies are counted among those). Images are judged
    by demographic parity (their fair reference is a label-balanced resample)."""
    if criterion != "dp":
        raise ValueError(f"images are audited for demographic parity (dp), not {criterion!r}")
    train, holdout, synthetic = (comparable(t, spec) for t in (train, holdout, synthetic))
    drawn = {"max_rows": max_rows, "random_state": random_state}
    metrics, (train, holdout, synthetic, holdout_latents) = audited_rows(
        train, holdout, synthetic, spec, holdout_latents, **drawn
    )
    real, test, fake = (_arrays(t, spec) for t in (train, holdout, synthetic))
    sets = {"tstr": fake, "trtr": real}
    balanced = balanced_resample(real[1], sensitive=real[2], random_state=random_state)
    if balanced is not None:
        sets["fair"] = (real[0][balanced], real[1][balanced], real[2][balanced])
    with torch_threads("train"):
        for prefix, (pixels, labels, _) in sets.items():
            scores = cnn_scores(pixels, labels, test[0], random_state=random_state)
            metrics |= classifier_metrics(
                prefix, test[1], scores, test[2], n_resamples, random_state
            )
        encoder = embedding(real[0], random_state=random_state).encode
        with torch.no_grad():
            real_x, fake_x = encoder(real[0]).numpy(), encoder(fake[0]).numpy()
    metrics["fidelity.frechet_distance"] = frechet_distance(real_x, fake_x)
    fidelity = precision_recall(real_x, fake_x) | density_coverage(real_x, fake_x)
    metrics |= {f"fidelity.{key}": value for key, value in fidelity.items()}
    flat = [t[0].flatten(1).numpy() for t in (real, test, fake)]
    metrics |= {f"privacy.{key}": value for key, value in pixel_privacy(*flat).items()}
    if holdout_latents is not None:
        metrics["latent.leakage_auroc"] = latent_leakage_auroc(
            holdout_latents, test[2], random_state=random_state
        )
    return metrics


def check_image_gate(
    metrics: dict[str, float], gate: GateThresholds, criterion: Criterion = "dp"
) -> list[GateCheck]:
    """`fairdistill.audit.check_gate` on the image audit's numbers: the CNN's DPR and AUROC, the
    AUROC held to the fair reference when there is one (real train whose labels are independent of
    s), else to the CNN on real train; copies are pixel-identical training images, against the
    holdout's."""
    return check_gate(metrics, gate, criterion, classifier=CLASSIFIER)


run_image_audit = partial(run_audit, measure=audit_images, gate=check_image_gate)
run_image_audit.__doc__ = """Audit synthetic images (`audit_images`) and check the image gate
(`check_image_gate`): `fairdistill.audit.run_audit` with the image audit's numbers and gate."""


COUNTERFACTUAL_CODES = 8  # latent codes a report shows in every group
# The one decode mode the image path names (`fairdistill.settings.DecodeMode`; the tuned
# datasets/colored-mnist/settings.yaml generates in it too): each latent code decoded in every
# group, the K twins one after the other, which the report's counterfactual grid reads.
COUNTERFACTUAL = "counterfactual"


def image_audit_parts(model=None, seed: int = 0) -> tuple:
    """What audits images where tables use `run_audit` and `write_audit`: ``(run_image_audit,
    writer)``. Given the trained model, the writer's report shows `COUNTERFACTUAL_CODES` of its
    latent codes decoded in every group."""
    twins = None
    if model is not None:
        rows = COUNTERFACTUAL_CODES * len(model.codec.groups_)
        twins = next(model.generate(rows, GenerationSettings(mode=COUNTERFACTUAL, seed=seed)))
    return (
        run_image_audit,
        partial(write_audit, render=partial(render_image_html, counterfactuals=twins)),
    )
