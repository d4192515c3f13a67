"""Latent leakage: how well the sensitive attribute can be read from a fair representation.

FairDisCo's "sauc" (Liu et al., KDD 2022, arXiv:2206.00934, §5): the AUROC of a classifier that
predicts s from the latent means of held-out rows. DESIGN §4 found it tracks model-level DPR.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fairdistill.errors import FairdistillError
from fairdistill.metrics.fairness import as_groups

ONE_GROUP = (
    "latent leakage needs at least two sensitive groups with two rows each in both halves; got "
    "groups {groups} with counts {counts}; pass more held-out rows"
)


def latent_leakage_auroc(latent, sensitive, *, test_size: float = 0.5, random_state) -> float:
    """AUROC of a logistic regression predicting s from latent means (0.5 = no leakage).

    The rows are split once (seeded, stratified on s) into a fitting part and a scoring part;
    standardise → LogisticRegression is fitted on the first and scored on the second. Binary s:
    AUROC of P(s = the second group in sorted order); K > 2 groups: one-vs-rest macro AUROC,
    (1/K) Σ_k AUROC(1[s = k], p_k). Several sensitive columns: their intersections.

    Parameters
    ----------
    latent : array-like of shape (n_samples, n_latent)
        Latent means μ of held-out rows (rows the encoder did not train on).
    sensitive : array-like or DataFrame
        Group labels of the rows, or several sensitive columns.
    test_size : float
        Share of rows in the scoring part.
    random_state : int or None
        Seed of the split.

    Returns
    -------
    float
        In [0, 1]; ideal 0.5 (s cannot be read from z); 1 = s is fully recoverable.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = np.repeat(["F", "M"], 100)
    >>> latent_leakage_auroc(np.c_[s == "M", rng.normal(size=200)], s, random_state=0)
    1.0
    """
    groups = as_groups(sensitive)
    labels, counts = np.unique(groups, return_counts=True)
    if labels.size < 2 or counts.min() < 4:
        raise FairdistillError(ONE_GROUP.format(groups=labels.tolist(), counts=counts.tolist()))
    x_fit, x_score, s_fit, s_score = train_test_split(
        np.asarray(latent, dtype=float),
        groups,
        test_size=test_size,
        stratify=groups,
        random_state=random_state,
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_fit, s_fit)
    proba = model.predict_proba(x_score)
    if labels.size == 2:
        return float(roc_auc_score(s_score == model.classes_[1], proba[:, 1]))
    return float(
        roc_auc_score(s_score, proba, multi_class="ovr", average="macro", labels=model.classes_)
    )
