"""Image audit metrics (DESIGN §5 for images): pure functions of arrays, no torch.

The image audit (`models.image_audit`) trains its classifiers and its embedding with torch and
passes their outputs here: per-group accuracy, the group-balanced resample behind the fair
reference, the Fréchet distance and precision/recall of two embedded image sets, and the pixel
distances to the training images behind the privacy numbers.

References
----------
Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter, "GANs trained by a two time-scale update rule
converge to a local Nash equilibrium", NeurIPS 2017, arXiv:1706.08500 (Fréchet distance).
Kynkäänniemi, Karras, Laine, Lehtinen, Aila, "Improved precision and recall metric for assessing
generative models", NeurIPS 2019, arXiv:1904.06991. Kamiran, Calders, "Data preprocessing
techniques for classification without discrimination", KAIS 33, 2012, doi:10.1007/s10115-011-0463-8
(uniform sampling).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg
from sklearn.metrics import pairwise_distances_chunked

from fairdistill.metrics.fairness import as_groups
from fairdistill.metrics.privacy import closest_record_distances


def accuracy_per_group(y_true, y_pred, *, sensitive) -> dict[str, float]:
    """Accuracy of the predictions inside each group, ``acc_g = mean(ŷ_i = y_i | s_i = g)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    sensitive : array-like or DataFrame
        Group labels (or several sensitive columns: their intersections).

    Returns
    -------
    dict of str to float
        One accuracy per group, groups sorted; ideal: all equal (a gap max − min of 0).

    Examples
    --------
    >>> accuracy_per_group([1, 0, 1, 0], [1, 0, 0, 0], sensitive=["a", "a", "b", "b"])
    {'a': 1.0, 'b': 0.5}
    """
    groups, codes = np.unique(as_groups(sensitive), return_inverse=True)
    hits = np.asarray(y_true) == np.asarray(y_pred)
    counts = np.bincount(codes, minlength=groups.size)
    return {
        str(g): float(h / n)
        for g, h, n in zip(groups, np.bincount(codes, hits, groups.size), counts, strict=True)
    }


def balanced_resample(y, *, sensitive, random_state) -> np.ndarray | None:
    """Row indices of a resample in which the label is independent of the group.

    Kamiran & Calders (2012), uniform sampling: each cell (g, c) gets
    ``round(n · P̂(s = g) · P̂(y = c))`` rows, drawn with replacement from its own rows, so the
    marginals stay and ``P(y | s)`` becomes ``P(y)``. None when a cell that should get rows has
    none (a group that never has some label cannot be balanced by resampling).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels.
    sensitive : array-like or DataFrame
        Group labels.
    random_state : int or numpy.random.Generator
        Seed of the draws.

    Returns
    -------
    numpy.ndarray of int, or None
        Indices into the rows; ideal: every cell populated (never None).

    Examples
    --------
    >>> y = np.array([1, 1, 0, 1, 0, 0, 0, 1])
    >>> idx = balanced_resample(y, sensitive=list("aaaabbbb"), random_state=0)
    >>> len(idx), float(y[idx[:4]].mean()), float(y[idx[4:]].mean())
    (8, 0.5, 0.5)
    >>> balanced_resample([1, 1, 0, 0], sensitive=list("aabb"), random_state=0) is None
    True
    """
    rng = np.random.default_rng(random_state)
    y, groups = np.asarray(y), as_groups(sensitive)
    chosen = []
    for group in np.unique(groups):
        for label in np.unique(y):
            rows = np.flatnonzero((groups == group) & (y == label))
            size = round(len(y) * np.mean(groups == group) * np.mean(y == label))
            if size and not len(rows):
                return None
            chosen.append(rng.choice(rows, size, replace=True) if size else rows[:0])
    return np.sort(np.concatenate(chosen))


def frechet_distance(real_x, synth_x) -> float:
    """Fréchet distance between Gaussians fitted to two embedded sets (Heusel et al. 2017, Eq. 6).

    ``d² = ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^{1/2})``, with sample means and
    covariances; the matrix square root by `scipy.linalg.sqrtm` (imaginary round-off dropped).

    Parameters
    ----------
    real_x : array-like of shape (n_real, n_dims)
        Embedded real images.
    synth_x : array-like of shape (n_synthetic, n_dims)
        Embedded synthetic images.

    Returns
    -------
    float
        ≥ 0; ideal 0 (the same mean and covariance). Depends on the embedding: compare numbers
        of one embedding only.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(500, 2))
    >>> frechet_distance(x, x) < 1e-6, round(frechet_distance(x, x + [3.0, 0.0]), 3)
    (True, 9.0)
    """
    real_x, synth_x = np.asarray(real_x, float), np.asarray(synth_x, float)
    mean_gap = float(np.sum((real_x.mean(0) - synth_x.mean(0)) ** 2))
    cov_r, cov_g = (
        np.atleast_2d(np.cov(real_x, rowvar=False)),
        np.atleast_2d(np.cov(synth_x, rowvar=False)),
    )
    root = linalg.sqrtm(cov_r @ cov_g).real
    return max(0.0, mean_gap + float(np.trace(cov_r + cov_g - 2.0 * root)))


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each point to its k-th nearest other point of the same set."""
    return np.concatenate(
        list(
            pairwise_distances_chunked(
                x, reduce_func=lambda d, start: np.partition(d, k, axis=1)[:, k]
            )
        )
    )


def _covered(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each point: whether it lies in at least one ball ``B(centre_i, radius_i)``."""

    def inside(d, start):
        return (d <= radii[None, :]).any(axis=1)

    return np.concatenate(list(pairwise_distances_chunked(points, centres, reduce_func=inside)))


def precision_recall(real_x, synth_x, *, k: int = 3) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019, arXiv:1904.06991, Eq. 1–3).

    Each set's manifold is the union of balls around its points reaching their k-th nearest
    neighbour; precision = the share of synthetic points inside the real manifold, recall = the
    share of real points inside the synthetic manifold.

    Parameters
    ----------
    real_x : array-like of shape (n_real, n_dims)
        Embedded real images (more than ``k``).
    synth_x : array-like of shape (n_synthetic, n_dims)
        Embedded synthetic images (more than ``k``).
    k : int
        Neighbourhood size (the paper's default, 3).

    Returns
    -------
    dict of str to float
        ``{"precision", "recall"}``, each in [0, 1]; ideal 1 and 1 (fidelity and diversity).

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(200, 2))
    >>> precision_recall(x, x)
    {'precision': 1.0, 'recall': 1.0}
    >>> precision_recall(x, x + 100.0)
    {'precision': 0.0, 'recall': 0.0}
    """
    real_x, synth_x = np.asarray(real_x, float), np.asarray(synth_x, float)
    precision = _covered(synth_x, real_x, _knn_radii(real_x, k)).mean()
    recall = _covered(real_x, synth_x, _knn_radii(synth_x, k)).mean()
    return {"precision": float(precision), "recall": float(recall)}


def pixel_privacy(train_px, holdout_px, synth_px) -> dict[str, float]:
    """Nearest-neighbour pixel distances to the training images: copies and near-copies.

    Images are flattened intensities in [0, 1]; the distance is the root mean square pixel
    difference ``‖a − b‖ / √d`` (`closest_record_distances`). Reported: the share of synthetic
    images identical to a training image (exact copies), the same share of the real holdout images
    (the natural rate of the gate's copy check, as for tables), the share closer to a training
    image than the closest real holdout image is (near-copies: closer than any unseen real image),
    and the median and 5th percentile of the synthetic and the holdout distances.

    Parameters
    ----------
    train_px : array-like of shape (n_train, n_pixels)
        Training images (the generator's input).
    holdout_px : array-like of shape (n_holdout, n_pixels)
        Real images the generator never saw.
    synth_px : array-like of shape (n_synthetic, n_pixels)
        Synthetic images.

    Returns
    -------
    dict of str to float
        ``{"exact_copy_rate", "holdout_copy_rate", "near_copy_rate", "nn_synthetic_median",
        "nn_synthetic_p5", "nn_holdout_median", "nn_holdout_p5"}``; ideal: exact and near copies
        0 (at most the holdout's copy rate) and the synthetic quantiles ≈ the holdout's (copies of
        train give 1, 1 and 0).

    Examples
    --------
    >>> t = np.eye(4)
    >>> r = pixel_privacy(t, t[:2] * 0.5, t)
    >>> r["exact_copy_rate"], r["holdout_copy_rate"], r["near_copy_rate"]
    (1.0, 0.0, 1.0)
    """
    train_px, holdout_px, synth_px = (
        np.asarray(a, dtype=np.float32) for a in (train_px, holdout_px, synth_px)
    )
    scale = np.sqrt(train_px.shape[1])
    synthetic = closest_record_distances(train_px, synth_px) / scale
    holdout = closest_record_distances(train_px, holdout_px) / scale
    stats = {
        f"nn_{name}_{q}": float(np.percentile(d, p))
        for name, d in (("synthetic", synthetic), ("holdout", holdout))
        for q, p in (("median", 50), ("p5", 5))
    }
    return {
        "exact_copy_rate": float(np.mean(synthetic == 0.0)),
        "holdout_copy_rate": float(np.mean(holdout == 0.0)),
        "near_copy_rate": float(np.mean(synthetic < holdout.min())),
        **stats,
    }
