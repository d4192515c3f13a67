"""Labels made fair by a criterion: per-group shifts of the label's log-odds (numpy; scikit-learn
for a balanced accuracy).

One mechanism serves the generator and the audit. A row's label probability ``p = P(y=1 | ·)``
becomes ``q = σ(logit p + λ·c_s)``: a per-group shift of the log-odds, so the ranking of the rows
inside each group is kept and the dial λ runs from the faithful label (0) to the fair one (1).

- ``dp``, demographic parity: ``c_s`` makes the mean of ``q`` over group s equal to the pooled
  rate ``Σ_s P̂(s) E[p | s]`` (`dp_group_shifts`). The Bayes-optimal classifier under demographic
  parity thresholds the group-wise score at group-specific cut-offs, i.e. shifts each group's
  log-odds (Menon & Williamson, "The cost of fairness in binary classification", FAT* 2018, §4;
  Zeng, Dobriban & Cheng, "Bayes-optimal classifiers under group fairness", arXiv 2202.09724).
- ``eo``, equalized odds: ``c_s = −logit t_s`` with per-group cut-offs ``t_s`` on a score of real
  rows such that ``1[score > t_s]`` has (nearly) equal true- and false-positive rates across groups
  (`eo_group_thresholds`; Hardt, Price & Srebro 2016, arXiv 1610.02413, without their coin flip: a
  classifier learnt from labels cannot reproduce one, measured EOR 0.37 on Adult against 0.84).

A classifier trained on labels ``~ q`` learns ``≈ q``; at its cut-off ½ it predicts 1 iff
``p > σ(−c_s)``. The generator's shifts are refined through a proxy of that classifier
(`calibrate_through_proxy`): fitted on a generated table and scored on real rows, its per-group
cut-offs are composed into the shifts. The audit's fair reference (`fair_reference_labels`) makes
the labels of real train fair the same way, from out-of-fold scores. Measured in
research/RESULTS.md (issue #10).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import balanced_accuracy_score

EPS = 1e-6
# Equalized-odds cut-offs: the ratio asked on the estimation rows, and the band of accuracy and of
# balanced accuracy the search stays in (beyond it, cut-offs that predict almost nothing, or almost
# everything, have noisy, meaningless ratios).
EO_MIN_RATIO = 0.88
EO_MAX_ACCURACY_LOSS = 0.03
CRITERION_UNKNOWN = "unknown fairness criterion {criterion!r}; choose 'dp' or 'eo'"


def logit(p) -> np.ndarray:
    """``log p − log(1 − p)``, p clipped to ``[1e-6, 1 − 1e-6]``.

    >>> logit([0.5]).tolist()
    [0.0]
    """
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def sigmoid(x) -> np.ndarray:
    """``1 / (1 + e^{−x})``, numerically stable for large |x|.

    >>> sigmoid([0.0, 800.0, -800.0]).tolist()
    [0.5, 1.0, 0.0]
    """
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _bisect(rate_at: Callable[[np.ndarray], np.ndarray], target, k: int, iterations: int = 60):
    """The ``c`` in [−30, 30]^k with ``rate_at(c) = target`` for an increasing ``rate_at``
    (all groups at once; 60 halvings leave |error| < 1e-16 in c)."""
    low, high = np.full(k, -30.0), np.full(k, 30.0)
    for _ in range(iterations):
        mid = 0.5 * (low + high)
        above = rate_at(mid) > target
        high, low = np.where(above, mid, high), np.where(above, low, mid)
    return 0.5 * (low + high)


def dp_group_shifts(p_by_group: np.ndarray, group_weights: Sequence[float]) -> np.ndarray:
    """Per-group log-odds shifts ``c_k`` with ``mean_i σ(logit p_ki + c_k) = r`` for every group k.

    Parameters
    ----------
    p_by_group : array of shape (K, n)
        ``p_ki = P(y=1 | z_i, s=k)``: the label probability of the same n latent codes decoded in
        each group k (in synthetic rows z ⊥ s, so ``mean_i`` is the synthetic P(y=1 | s=k)).
    group_weights : K floats
        ``P̂(s=k)``; the target ``r = Σ_k w_k mean_i p_ki`` is the pooled rate, so the table's
        overall positive rate is kept (the mean of the groups' Wasserstein barycentre).

    Returns
    -------
    numpy.ndarray of shape (K,)
        ``c_k`` (a group whose scores are all ≈ 0 or ≈ 1 ends at the bound ±30).

    Examples
    --------
    >>> p = np.array([[0.1, 0.2, 0.3], [0.5, 0.6, 0.7]])
    >>> c = dp_group_shifts(p, [0.5, 0.5])
    >>> np.round(sigmoid(logit(p) + c[:, None]).mean(1), 6).tolist()
    [0.4, 0.4]
    """
    log_odds = logit(p_by_group)
    w = np.asarray(group_weights, dtype=np.float64)
    target = float((w / w.sum()) @ sigmoid(log_odds).mean(1))
    return _bisect(lambda c: sigmoid(log_odds + c[:, None]).mean(1), target, len(w))


def dp_threshold_shifts(score: np.ndarray, s_index: np.ndarray, n_groups: int) -> np.ndarray:
    """Shifts ``−logit t_k`` that move a score's cut-off ½ to per-group cut-offs ``t_k`` with
    equal positive rates: ``t_k`` is the ``(1 − r̄)``-quantile of group k's scores, ``r̄`` the pooled
    share of scores above ½ (Hardt et al. 2016 §3, demographic parity by thresholds). A group with
    no rows keeps its cut-off (shift 0).

    >>> dp_threshold_shifts(np.array([0.2, 0.4, 0.6, 0.8]), np.array([0, 0, 1, 1]), 2).round(3).tolist()
    [0.847, -0.847]
    """
    score, s_index = np.asarray(score, dtype=np.float64), np.asarray(s_index)
    rate = float((score > 0.5).mean())
    cutoffs = [
        np.quantile(score[s_index == k], 1 - rate) if (s_index == k).any() else 0.5
        for k in range(n_groups)
    ]
    return -logit(cutoffs)


# ------------------------------------------------------------------------- equalized odds
def _roc_table(score: np.ndarray, y: np.ndarray, cuts: np.ndarray) -> tuple[np.ndarray, ...]:
    """TPR and FPR of ``1[score > t]`` for each cut-off t (one sort, no loop over t)."""
    order = np.argsort(score)
    sorted_score, sorted_y = score[order], y[order]
    positives_below = np.concatenate([[0.0], np.cumsum(sorted_y)])
    negatives_below = np.concatenate([[0.0], np.cumsum(1 - sorted_y)])
    below = np.searchsorted(sorted_score, cuts, side="right")
    n_pos, n_neg = max(positives_below[-1], 1.0), max(negatives_below[-1], 1.0)
    tpr = (positives_below[-1] - positives_below[below]) / n_pos
    fpr = (negatives_below[-1] - negatives_below[below]) / n_neg
    return tpr, fpr


def equalized_odds_ratio(tpr: np.ndarray, fpr: np.ndarray) -> np.ndarray:
    """``min(min_k TPR_k / max_k TPR_k, min_k FPR_k / max_k FPR_k)`` over the last axis
    (fairlearn's equalized-odds ratio; 0 where a rate is 0 in every group). Ideal value 1.

    >>> float(equalized_odds_ratio(np.array([0.8, 0.4]), np.array([0.1, 0.1])))
    0.5
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.minimum(tpr.min(-1) / tpr.max(-1), fpr.min(-1) / fpr.max(-1))
    return np.nan_to_num(ratio, nan=0.0)


@dataclass
class EOThresholds:
    """Per-group cut-offs on P(y=1 | x, s) and what they achieve on the rows they were chosen on."""

    thresholds: np.ndarray
    ratio: float  # equalized-odds ratio of 1[score > t_s] on those rows
    accuracy: float  # accuracy of 1[score > t_s] on those rows

    @property
    def shifts(self) -> np.ndarray:
        """``c_k = −logit t_k``: ``σ(logit p + c_k) > ½ ⇔ p > t_k``."""
        return -logit(self.thresholds)


def eo_group_thresholds(
    score: np.ndarray,
    y: np.ndarray,
    s_index: np.ndarray,
    n_groups: int,
    *,
    min_ratio: float = EO_MIN_RATIO,
    max_accuracy_loss: float = EO_MAX_ACCURACY_LOSS,
    n_cuts: int = 201,
    n_targets: int = 60,
    shrink: float = 20.0,
) -> EOThresholds:
    """Deterministic per-group cut-offs with (nearly) equal TPR and FPR across groups.

    Hardt et al. (2016, §4) pick per group a (possibly randomised) threshold rule on a score so that
    ``P(ŷ=1 | y, s)`` is the same in every group. Here each group gets one cut-off, and equality is
    relaxed to the audit's ratio: the most accurate cut-offs whose equalized-odds ratio on these
    rows is ≥ ``min_ratio``, among operating points within ``max_accuracy_loss`` of the best
    accuracy and of the best balanced accuracy (else the largest ratio in that band; where no point
    is within both, the accuracy band alone). Accuracy alone let a rare positive class be given
    up: it barely falls when every group's cut-off rises until few rows are positive, and there
    small FPRs reach any ratio by chance (Adult sub-sampled to 6,000 rows: the proxy steps settled
    there, holdout F1 0.47–0.53, the table's classifier EOR 0.66; with both bands 0.75, full Adult
    0.868 → 0.873). Balanced accuracy alone gave up the other class on ten sex × race groups
    (accuracy 0.83 → 0.74). `benchmarks/fair_modes.md`, session 20. When the common cut-off ½
    already reaches ``min_ratio`` nothing needs changing, and every group keeps ½.

    Search: for each common target ``(τ, φ)`` on a log-spaced grid, every group takes the cut-off
    (among ``n_cuts`` quantiles of the pooled score) closest to it in ``max(|log TPR/τ|, |log
    FPR/φ|)``. A group's rates are shrunk toward the pooled ones with ``shrink`` pseudo-rows, so
    tiny (intersectional) groups do not steer the choice with noise; the reported ratio uses the
    raw rates.

    Parameters
    ----------
    score : array (n,)
        P(y=1 | x, s) of real rows the score was not fitted on.
    y : array (n,)
        Their labels in {0, 1}.
    s_index : array (n,)
        Their groups in ``range(n_groups)``.

    Returns
    -------
    EOThresholds
    """
    score, y, s_index = np.asarray(score, float), np.asarray(y, float), np.asarray(s_index)
    groups = [s_index == k for k in range(n_groups)]
    n_pos = np.array([y[rows].sum() for rows in groups])
    n_neg = np.array([(1 - y[rows]).sum() for rows in groups])
    present = (n_pos > 0) & (n_neg > 0)
    common = np.array([0.5])
    rates = [_roc_table(score[rows], y[rows], common) for rows in groups]
    tpr_half, fpr_half = (np.array([r[i][0] for r in rates]) for i in (0, 1))
    ratio_half = float(equalized_odds_ratio(tpr_half[present], fpr_half[present]))
    if ratio_half >= min_ratio:
        accuracy = float((n_pos @ tpr_half + n_neg @ (1 - fpr_half)) / len(y))
        return EOThresholds(np.full(n_groups, 0.5), ratio_half, accuracy)
    cuts = np.unique(np.quantile(score, np.linspace(0.0, 1.0, n_cuts)))
    pooled_t, pooled_f = _roc_table(score, y, cuts)
    by_group = [_roc_table(score[rows], y[rows], cuts) for rows in groups]
    tprs, fprs = np.array([t for t, _ in by_group]), np.array([f for _, f in by_group])  # [K, C]
    w_t, w_f = (n / (n + shrink) for n in (n_pos[:, None], n_neg[:, None]))
    log_t = np.log(w_t * tprs + (1 - w_t) * pooled_t + 1e-4)
    log_f = np.log(w_f * fprs + (1 - w_f) * pooled_f + 1e-4)
    targets = np.log(np.geomspace(1e-3, 1.0, n_targets))
    k = np.arange(n_groups)[:, None]
    choices, ratios, accuracies, balanced = [], [], [], []
    for tau in targets:  # [K, F, C] distances, one τ at a time
        distance = np.maximum(
            np.abs(log_t - tau)[:, None, :], np.abs(log_f[:, None, :] - targets[None, :, None])
        )
        choice = distance.argmin(-1)  # [K, F]
        tpr, fpr = tprs[k, choice], fprs[k, choice]
        choices.append(choice.T)
        ratios.append(equalized_odds_ratio(tpr[present].T, fpr[present].T))
        accuracies.append((n_pos[:, None] * tpr + n_neg[:, None] * (1 - fpr)).sum(0) / len(y))
        balanced.append((n_pos @ tpr / n_pos.sum() + n_neg @ (1 - fpr) / n_neg.sum()) / 2)
    choices = np.concatenate(choices)
    ratios, accuracies = np.concatenate(ratios), np.concatenate(accuracies)
    balanced = np.concatenate(balanced)
    band = accuracies >= accuracies.max() - max_accuracy_loss
    if (both := band & (balanced >= balanced.max() - max_accuracy_loss)).any():
        band = both
    feasible = band & (ratios >= min_ratio)
    if feasible.any():
        pick = np.where(feasible, accuracies, -np.inf)
    else:
        pick = np.where(band, ratios + 1e-6 * accuracies, -np.inf)
    best = int(np.argmax(pick))
    thresholds = np.where(present, cuts[choices[best]], 0.5)
    return EOThresholds(
        np.clip(thresholds, EPS, 1 - EPS), float(ratios[best]), float(accuracies[best])
    )


def criterion_shifts(
    score: np.ndarray, y: np.ndarray, s_index: np.ndarray, n_groups: int, criterion: str
) -> np.ndarray:
    """The shifts that make ``1[score > ½]`` fair by ``criterion`` on these rows: equal positive
    rates (`dp_threshold_shifts`) or equalized odds (`eo_group_thresholds`)."""
    if criterion == "dp":
        return dp_threshold_shifts(score, s_index, n_groups)
    if criterion == "eo":
        return eo_group_thresholds(score, y, s_index, n_groups).shifts
    raise ValueError(CRITERION_UNKNOWN.format(criterion=criterion))


def criterion_ratio(
    score: np.ndarray, y: np.ndarray, s_index: np.ndarray, n_groups: int, criterion: str
) -> float:
    """The criterion's ratio of ``1[score > ½]`` on these rows: demographic parity (min/max of the
    groups' positive rates) or `equalized_odds_ratio`; groups without rows (or, for ``eo``, without
    both labels) are left out, as `eo_group_thresholds` leaves them out. Ideal value 1. (The
    audit's `fairdistill.metrics.prediction_fairness` counts such a group's rate as 0.)

    >>> score, y, s = np.array([0.9, 0.1, 0.9, 0.9]), np.array([1, 0, 1, 0]), np.array([0, 0, 1, 1])
    >>> criterion_ratio(score, y, s, 2, "dp")  # positive rates ½ and 1
    0.5
    """
    predicted = np.asarray(score, dtype=np.float64) > 0.5
    y, s_index = np.asarray(y), np.asarray(s_index)
    groups = [s_index == k for k in range(n_groups)]
    if criterion == "dp":
        rates = np.array([predicted[g].mean() for g in groups if g.any()])
        return float(rates.min() / rates.max()) if rates.max() > 0 else 0.0
    if criterion == "eo":
        both = [g for g in groups if (y[g] == 1).any() and (y[g] == 0).any()]
        tpr = np.array([predicted[g & (y == 1)].mean() for g in both])
        fpr = np.array([predicted[g & (y == 0)].mean() for g in both])
        return float(equalized_odds_ratio(tpr, fpr))
    raise ValueError(CRITERION_UNKNOWN.format(criterion=criterion))


def proxies_fitted(steps: int, keep_fairest: bool) -> int:
    """The proxies `calibrate_through_proxy` fits: one a step, and one for the last shifts when it
    keeps the fairest.

    >>> proxies_fitted(3, False), proxies_fitted(3, True), proxies_fitted(0, True)
    (3, 4, 0)
    """
    return steps + int(keep_fairest and steps > 0)


def calibrate_through_proxy(
    generate: Callable[[np.ndarray], object],
    score_real: Callable[[object], np.ndarray],
    y_real: np.ndarray,
    s_real: np.ndarray,
    n_groups: int,
    criterion: str,
    shifts: np.ndarray,
    steps: int,
    keep_fairest: bool = False,
) -> np.ndarray:
    """Refine label shifts so that a proxy of the downstream classifier is fair on real rows.

    The shift acts on the generator's ``p(y | z, s)``, but what counts is a classifier trained on
    the table and applied to real rows, whose score is ``≈ P_synthetic(y | x, s)``; the two differ
    wherever the synthetic features are an imperfect copy. Each step: ``table = generate(shifts)``;
    ``f = score_real(table)`` (a classifier fitted on the table scores the real rows);
    ``shifts += criterion_shifts(f, …)``. A classifier that learns ``σ(logit f + c)`` from the
    shifted labels then cuts at the criterion's per-group cut-offs. Measured on Adult: one step
    took the dp model DPR from 0.90 ± 0.10 to 0.95–0.97 ± 0.01–0.02 over seeds; three steps gave eo
    an EOR of 0.83–0.87 (research/RESULTS.md §2).

    Without ``keep_fairest`` the last shifts are returned. With it, the last shifts get a proxy
    too, and the shifts returned are those whose proxy was fairest on the real rows
    (`criterion_ratio`, the latest on a tie), among those whose proxy's balanced accuracy is
    within `EO_MAX_ACCURACY_LOSS` of the best after a step. Each step solves its cut-offs anew from
    one noisy proxy, so the iteration need not settle: on Adult (seed 2, ``eo``) the proxies'
    ratios ran 0.20, 0.86, 0.60, 0.74, 0.86, 0.87 and the holdout EORs of the same tables 0.21,
    0.86, 0.39, 0.74, 0.86, 0.88; the 0.86 of the first step came with cut-offs that predict few
    positives (F1 0.47 against 0.68), which the accuracy band leaves out.
    """
    shifts = np.asarray(shifts, dtype=np.float64).copy()
    tried = []  # with keep_fairest: (shifts, ratio, balanced accuracy) of each proxy
    for step in range(proxies_fitted(steps, keep_fairest)):
        score = np.asarray(score_real(generate(shifts.copy())), dtype=np.float64)
        if keep_fairest:
            ratio = criterion_ratio(score, y_real, s_real, n_groups, criterion)
            tried.append((shifts, ratio, balanced_accuracy_score(y_real, score > 0.5)))
        if step < steps:
            shifts = shifts + criterion_shifts(score, y_real, s_real, n_groups, criterion)
    if not tried:
        return shifts
    # the band is drawn from the corrected shifts: the starting ones (for `eo` the faithful label)
    # are the most accurate, and fairness costs more than the band on a strongly biased table
    best_accuracy = max(accuracy for *_, accuracy in tried[1:])
    band = [t for t in tried if t[2] >= best_accuracy - EO_MAX_ACCURACY_LOSS]
    return max(reversed(band), key=lambda t: t[1])[0]


# ------------------------------------------------------------------------------ fair reference
def coupled_labels(y: np.ndarray, p: np.ndarray, q: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Labels ``y'`` that follow ``q`` where ``y`` follows ``p``, changing as few as possible.

    The maximal coupling of Bernoulli(p) and Bernoulli(q): ``P(y'=1 | y=1) = min(1, q/p)``,
    ``P(y'=1 | y=0) = max(0, (q − p)/(1 − p))``, drawn with the uniforms ``u``. Then
    ``P(y'=1) = p·min(1, q/p) + (1 − p)·max(0, (q − p)/(1 − p)) = q``, and ``y' = y`` wherever
    ``q = p``: a label flips only where the fair probability moved, most likely where it moved most.

    >>> coupled_labels(np.array([1, 0, 1, 0]), np.full(4, 0.5), np.array([0.5, 0.5, 0.0, 1.0]),
    ...                np.full(4, 0.3)).tolist()
    [1, 0, 0, 1]
    """
    p, q = np.clip(p, EPS, 1 - EPS), np.clip(q, 0.0, 1.0)
    keep_one = np.minimum(1.0, q / p)
    become_one = np.maximum(0.0, (q - p) / (1 - p))
    return np.where(np.asarray(y) == 1, u < keep_one, u < become_one).astype(int)


def fair_reference_labels(
    score: np.ndarray,
    y: np.ndarray,
    s_index: np.ndarray,
    n_groups: int,
    criterion: str,
    *,
    random_state: int,
) -> np.ndarray:
    """The labels of real rows made fair by ``criterion``: the audit's fair reference.

    ``score`` is an out-of-fold P(y=1 | x, s) of the rows (seeded), ``y`` their labels. The fair
    label probability is ``q = σ(logit score + c_s)``; the new labels are `coupled_labels` of ``y``,
    so a label changes only where fairness asks it to.

    - ``dp``: ``c_s`` solves ``mean_{i ∈ s} P(y'_i = 1) = ȳ`` (the pooled rate) for the coupled
      labels, so every group's expected positive rate is the pooled one, and ``c_s = 0`` for a
      group already at it: labels that already have equal rates come back unchanged.
    - ``eo``: ``c_s = −logit t_s`` from `eo_group_thresholds` on (score, y); 0 when the common
      cut-off ½ already meets the ratio.

    Deterministic given ``random_state`` (the coupling's uniforms).
    """
    score, y, s_index = np.asarray(score, float), np.asarray(y).astype(int), np.asarray(s_index)
    p = np.clip(score, EPS, 1 - EPS)
    if criterion == "dp":
        members = np.eye(n_groups)[s_index].T  # [K, n]
        counts = np.maximum(members.sum(1), 1)

        def rate_at(c: np.ndarray) -> np.ndarray:
            q = sigmoid(logit(p) + c[s_index])
            expected = np.where(y == 1, np.minimum(1, q / p), np.maximum(0, (q - p) / (1 - p)))
            return members @ expected / counts

        shifts = _bisect(rate_at, float(y.mean()), n_groups)
        rates = members @ y / counts
        shifts = np.where(np.isclose(rates, y.mean(), rtol=0, atol=1e-12), 0.0, shifts)
    elif criterion == "eo":
        shifts = eo_group_thresholds(score, y, s_index, n_groups).shifts
    else:
        raise ValueError(CRITERION_UNKNOWN.format(criterion=criterion))
    q = sigmoid(logit(p) + shifts[s_index])
    u = np.random.default_rng(random_state).random(len(y))
    return coupled_labels(y, p, q, u)
