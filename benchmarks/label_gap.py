"""Where a `dp` table's utility gap lies: in its label model or in its features (issue #10).

A synthetic row's label is drawn from a label model p(y | x, s) on the row's drawn features, its
log-odds shifted per group (`models.calibration`). What a classifier trained on the table loses
against the fair reference comes from either part, and this script crosses them:

- label model: the library's MLP (`models.label_model`), or gradient-boosted trees (scikit-learn's
  HistGradientBoosting on the same encoded features and group; not the library's: Adult's
  generation on one thread fell from 43k to 24k rows/s with it);
- features: the model's synthetic rows (`dp` mode, the label model's own calibrated shifts), or
  the real training rows themselves, relabelled from the same label model fitted out of fold
  (5 folds) with the same shifts.

Each of the four tables trains the audit's HGB (sensitive columns among its features), scored on
the real holdout: AUROC, accuracy, F1, model DPR, and the accuracy on the holdout rows at and off
each numeric column's most frequent value (a point mass such as a capital gain of 0). One model,
seeded; not part of `make test`.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/label_gap.py --table adult --seed 0
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("FAIRDISTILL_GENERATE_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import torch  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # fair_modes

from fair_modes import fit, table  # noqa: E402

from fairdistill.audit import classifier_columns  # noqa: E402
from fairdistill.metrics.utility import fit_predict, score_predictions  # noqa: E402
from fairdistill.settings import GenerationSettings  # noqa: E402
from models.calibration import calibrate_labels  # noqa: E402
from models.label_model import feature_columns, fit_label_model  # noqa: E402
from models.pipeline import synthetic_rows  # noqa: E402

FOLDS = 5


class TreeLabelModel(nn.Module):
    """p(y | x, s) from HistGradientBoosting on the encoded features and the one-hot group, with
    the label model's interface (`forward_drawn`: log-probabilities of drawn rows)."""

    def __init__(self, x: np.ndarray, s: np.ndarray, layout, seed: int):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # the decoder asks a label model for its device
        self.columns = feature_columns(layout)
        self.numeric = np.searchsorted(self.columns, layout.num_x.numpy())
        # (numeric, indicator's "True" feature) pairs: as encoded, a null or point mass reads 0
        self.indicators = [(j, np.searchsorted(self.columns, c)) for j, c in layout.indicators]
        self.trees = HistGradientBoostingClassifier(random_state=seed)
        self.trees.fit(np.c_[x[:, self.columns], s], x[:, layout.target].argmax(1))

    def log_proba(self, features: np.ndarray, s: np.ndarray) -> np.ndarray:
        return np.log(np.clip(self.trees.predict_proba(np.c_[features, s]), 1e-7, 1.0))

    def forward_drawn(self, positions, numerics, s):
        features = np.zeros((len(positions), len(self.columns)))
        np.put_along_axis(features, positions.numpy(), 1.0, 1)
        features[:, self.numeric] = numerics.numpy()
        for j, on in self.indicators:
            features[:, self.numeric[j]] *= 1.0 - features[:, on]
        return torch.as_tensor(self.log_proba(features, s.numpy()), dtype=torch.float32)


def mlp_log_proba(x, s, layout, seed, rows) -> np.ndarray:
    """The library's label model fitted on the other rows, log-probabilities of ``rows``."""
    model, _ = fit_label_model(x[~rows], s[~rows], layout, seed=seed, device="cpu")
    with torch.no_grad():
        logits = model(
            torch.as_tensor(x[rows][:, feature_columns(layout)]), torch.as_tensor(s[rows])
        )
    return torch.log_softmax(logits.double(), 1).numpy()


def tree_log_proba(x, s, layout, seed, rows) -> np.ndarray:
    trees = TreeLabelModel(x[~rows], s[~rows], layout, seed)
    return trees.log_proba(x[rows][:, trees.columns], s[rows])


def relabelled(train, x, s, model, out_of_fold, seed: int) -> pl.DataFrame:
    """The real training rows (encoded: ``x``, ``s``) with labels drawn from
    ``softmax(log p(y | x, s) + offsets[s])``, ``log p`` out of fold, the offsets ``model``'s `dp`
    ones."""
    codec, layout = model.codec, model.teacher.layout
    fold = np.random.default_rng(seed).integers(0, FOLDS, train.height)
    log_p = np.zeros((train.height, layout.target.stop - layout.target.start))
    for k in range(FOLDS):
        log_p[fold == k] = out_of_fold(x, s, layout, seed, fold == k)
    q = np.exp(log_p + np.asarray(model.labels.offsets("dp"))[codec.s_index(train)])
    q /= q.sum(1, keepdims=True)
    u = np.random.default_rng(seed + 1).random((train.height, 1))
    drawn = np.minimum((q.cumsum(1) < u).sum(1), q.shape[1] - 1)
    target = codec.target_block_
    labels = pl.Series(target.column, target.categories).gather(drawn)
    return train.with_columns(labels.cast(train.schema[target.column]))


def scores(synthetic, holdout, spec, seed: int) -> dict[str, float]:
    """The audit's HGB trained on ``synthetic``, on the holdout: overall, and the accuracy at and
    off each numeric column's most frequent holdout value."""
    columns = classifier_columns(spec)
    p = fit_predict(synthetic, holdout, **columns, model="hgb", random_state=seed)
    row = score_predictions(p.y_true, p.y_score, sensitive=p.sensitive)
    right = (p.y_score >= 0.5) == (p.y_true == 1)
    for column in spec.numeric:
        values = holdout[column]
        at = (values == values.mode().sort()[0]).fill_null(False).to_numpy()
        row[f"{column} at mode"] = float(right[at].mean())
        row[f"{column} off mode"] = float(right[~at].mean()) if (~at).any() else float("nan")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default="adult")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec, train, holdout = table(args.table)
    model, _ = fit(spec, train, args.seed)
    x, s = model.codec.encode(train)
    trees = dataclasses.replace(
        model, label_model=TreeLabelModel(x, s, model.teacher.layout, args.seed)
    )
    # the MLP's shifts are the model's own (`fit` calibrated them with this seed); the trees' anew
    trees = dataclasses.replace(trees, labels=calibrate_labels(trees, train, spec, seed=args.seed))
    settings = GenerationSettings(mode="dp", seed=args.seed)
    results = {}
    for name, labelled, out_of_fold in (
        ("MLP (the library's)", model, mlp_log_proba),
        ("gradient-boosted trees", trees, tree_log_proba),
    ):
        synthetic = pl.concat(synthetic_rows(labelled, train.height, settings, exclude=train))
        real = relabelled(train, x, s, labelled, out_of_fold, args.seed)
        results[(name, "synthetic")] = scores(synthetic, holdout, spec, args.seed)
        results[(name, "real training rows")] = scores(real, holdout, spec, args.seed)
    keys = ["auroc", "accuracy", "f1", "dpr"]
    keys += [k for k in next(iter(results.values())) if k.endswith("mode")]
    print(f"{args.table}, seed {args.seed}, `dp`\n")
    print("| label model | features | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for (name, features), row in results.items():
        print(f"| {name} | {features} | " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
