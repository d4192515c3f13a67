"""The audit: every number about a synthetic table, and the gate that decides publishing.

`audit_table` is a pure function of three tables (real train, real holdout, synthetic), a spec and
the fairness criterion the table was made for; it returns a flat mapping of stable dotted names
(`tstr.hgb.dpr`, `fair.hgb.auroc`, `fidelity.detection_auc`, …) to floats, ready for MLflow,
`audit.json` and the report. `check_gate` compares that mapping with thresholds; `run_audit` does
both and returns an `AuditOutcome`: the numbers, the checks and the verdict.

Three tables train the same classifiers, all scored on the real holdout: the synthetic table
(TSTR), real train (TRTR) and the *fair reference*, real train whose labels were made fair by the
criterion (`fair_reference_table`). TRTR − fair is the price of fairness on this data, fair − TSTR
the price of synthesis; the gate charges only the second.
Images are audited by `models.image_audit` (it needs torch), which gives `run_audit` its own numbers
and gate; both audits start from `audited_rows`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import NamedTuple

import numpy as np
import polars as pl
from sklearn import config_context, get_config
from threadpoolctl import threadpool_limits

from fairdistill.dependencies import dependency_rates, functional_dependencies
from fairdistill.fair_labels import fair_reference_labels
from fairdistill.metrics import (
    association_similarity,
    data_parity_difference,
    data_parity_ratio,
    detection_auc,
    distance_to_closest_record,
    embedding_fidelity,
    exact_copy_rate,
    fit_predict,
    group_counts,
    group_rates,
    latent_leakage_auroc,
    marginal_similarity,
    out_of_fold_scores,
    positive_rates,
    prediction_fairness_at_parity,
    rare_values_reproduced,
    score_intervals,
    score_predictions,
    subsample,
)
from fairdistill.metrics.fairness import RATE_COUNTS
from fairdistill.settings import AuditSettings, Criterion, GateThresholds
from fairdistill.spec import DatasetSpec

CLASSIFIERS = ("hgb", "logistic")
# The headline classifier of the gate: gradient-boosted trees, sensitive attribute among the features.
HEADLINE = "hgb"
# The classifier whose numbers the gate reads, per modality (`DatasetSpec.modality`): the image
# audit (`models.image_audit`) trains a small CNN.
GATE_CLASSIFIER = {"table": HEADLINE, "image": "cnn"}
ROLES = ("train", "holdout", "synthetic")
# The fairness ratio each criterion is judged by (a key of `score_predictions`), and its check.
CRITERION_RATIO = {"dp": "dpr", "eo": "eor"}
FAIRNESS_CHECK = {"dp": "model_dpr", "eo": "model_eor"}


def classifier_columns(spec: DatasetSpec) -> dict:
    """The audit classifiers' columns, as `fit_predict` keywords: the sensitive columns are
    features too (a classifier needs s to cancel the proxies of s in real rows, DESIGN §4)."""
    return {
        "target": spec.target,
        "positive_label": spec.positive_label,
        "sensitive": spec.sensitive_columns,
        "categorical": spec.categorical,
        "numeric": [*spec.numeric, *spec.datetime],
    }


def comparable(table: pl.DataFrame, spec: DatasetSpec) -> pl.DataFrame:
    """The modelled columns, target as text (the positive label is text in the spec)."""
    return table.select(spec.modelled_columns).with_columns(pl.col(spec.target).cast(pl.String))


def data_fairness(table: pl.DataFrame, spec: DatasetSpec, prefix: str) -> dict[str, float]:
    """P(y=1|s) per group and the data-level parity ratio and difference of one table."""
    y, groups = table[spec.target].to_numpy(), table.select(spec.sensitive_columns).to_pandas()
    args = {"sensitive": groups, "positive_label": spec.positive_label}
    rates = positive_rates(y, **args)
    return {
        f"{prefix}.dpr": data_parity_ratio(y, **args),
        f"{prefix}.dpd": data_parity_difference(y, **args),
        **{f"{prefix}.positive_rate.{group}": rate for group, rate in rates.items()},
    }


class AuditedRows(NamedTuple):
    """The rows an audit measures: at most `max_rows` of each table, and the holdout's latents."""

    train: pl.DataFrame
    holdout: pl.DataFrame
    synthetic: pl.DataFrame
    holdout_latents: np.ndarray | None


def audited_rows(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    spec: DatasetSpec,
    holdout_latents: np.ndarray | None = None,
    *,
    max_rows: int | None,
    random_state: int,
) -> tuple[dict[str, float], AuditedRows]:
    """Where every audit (tables, images) starts: the rows of each table (``rows.*``), at most
    ``max_rows`` of each drawn with the seed (``rows.audited.*``; the holdout's latent means follow
    their rows), and the data-level fairness of the drawn real train and synthetic rows. Returns
    those numbers and the drawn rows, so an audit's time and memory do not grow with the table."""
    metrics = {
        f"rows.{n}": t.height for n, t in zip(ROLES, (train, holdout, synthetic), strict=True)
    }
    rng = np.random.default_rng(random_state)
    train, synthetic = subsample(train, max_rows, rng), subsample(synthetic, max_rows, rng)
    if max_rows is not None and holdout.height > max_rows:
        keep = np.sort(rng.choice(holdout.height, size=max_rows, replace=False))
        holdout = holdout[keep]
        holdout_latents = holdout_latents[keep] if holdout_latents is not None else None
    metrics |= {
        f"rows.audited.{n}": t.height
        for n, t in zip(ROLES, (train, holdout, synthetic), strict=True)
    }
    metrics |= data_fairness(train, spec, "data.real") | data_fairness(
        synthetic, spec, "data.synthetic"
    )
    return metrics, AuditedRows(train, holdout, synthetic, holdout_latents)


def holdout_scores(
    y_true: np.ndarray,
    y_score: np.ndarray,
    groups: np.ndarray,
    *,
    n_resamples: int,
    random_state: int,
) -> dict[str, float]:
    """`score_predictions` of a classifier's holdout predictions, each group's rows and rates
    (`group_scores`) and, when ``n_resamples`` > 0, each number's 95% interval over the holdout
    (``key.ci_low``, ``key.ci_high``: `score_intervals`, percentile bootstrap; likelihood-ratio for
    DPR and EOR) and the fairness ratios a classifier with equal rates in every group would average
    there (``dpr.at_parity``, ``eor.at_parity``: `prediction_fairness_at_parity`)."""
    y_pred = y_score >= 0.5  # score_predictions' threshold
    scores = score_predictions(y_true, y_score, sensitive=groups) | group_scores(
        y_true, y_pred, groups
    )
    if not n_resamples:
        return scores
    seeded = {"n_resamples": n_resamples, "random_state": random_state}
    for key, (low, high) in score_intervals(y_true, y_score, sensitive=groups, **seeded).items():
        scores |= {f"{key}.ci_low": low, f"{key}.ci_high": high}
    parity = prediction_fairness_at_parity(y_true, y_pred, sensitive=groups, **seeded)
    return scores | {f"{key}.at_parity": value for key, value in parity.items()}


GROUP_NUMBERS = ("rows", "positives", "selection_rate", "tpr", "fpr")
# The group rates each fairness ratio is the min/max of (EOR: the smaller of two ratios), with the
# group count each rate rests on, and their names in words.
RATIO_RATES = {"dpr": ("selection_rate",), "eor": ("tpr", "fpr")}
RATE_ROWS = {rate: rows for rate, (_, rows) in RATE_COUNTS.items()}
RATE_NAMES = {
    "selection_rate": "predicted positive rate",
    "tpr": "true positive rate",
    "fpr": "false positive rate",
}


def group_scores(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """Each group's holdout rows, its positives (true label) and the rates the fairness ratios
    are the min/max of (`group_rates`), as ``group.<group>.<number>`` (`GROUP_NUMBERS`): which
    group sets the ratio, and how few rows it rests on."""
    counts = group_counts(y_true, y_pred, sensitive=groups)
    numbers = {
        "rows": counts["rows"],
        "positives": counts["positives"],
        **group_rates(y_true, y_pred, sensitive=groups),
    }
    return {
        f"group.{group}.{number}": float(numbers[number][i])
        for i, group in enumerate(numbers["group"])
        for number in GROUP_NUMBERS
    }


def group_table(metrics: dict[str, float], prefix: str) -> dict[str, dict[str, float]]:
    """``{group: {number: value}}`` of the `group_scores` under ``prefix`` (e.g. ``tstr.hgb``)."""
    start, table = f"{prefix}.group.", {}
    for key, value in metrics.items():
        if key.startswith(start):
            group, number = key[len(start) :].rsplit(".", 1)
            table.setdefault(group, {})[number] = value
    return dict(sorted(table.items()))


def ratio_extremes(metrics: dict[str, float], prefix: str, ratio: str) -> str:
    """The groups that set a fairness ratio of the classifier under ``prefix`` (``tstr.hgb``),
    in words: ``predicted positive rate 0.111 in A (46 holdout rows) to 0.283 in B (9,561 holdout
    rows)``
    (for EOR, of the smaller of the TPR and FPR ratios); empty without `group_scores`."""
    table = group_table(metrics, prefix)
    if len(table) < 2:
        return ""
    for numbers in table.values():
        numbers["negatives"] = numbers["rows"] - numbers["positives"]

    def extremes(rate: str) -> tuple[float, str, str, str]:
        low = min(table, key=lambda g: table[g][rate])
        high = max(table, key=lambda g: table[g][rate])
        top = table[high][rate]
        return (table[low][rate] / top if top > 0 else np.inf), rate, low, high

    _, rate, low, high = min(extremes(rate) for rate in RATIO_RATES[ratio])
    count = RATE_ROWS[rate]

    def at(group: str) -> str:
        return f"{table[group][rate]:.3f} in {group} ({int(table[group][count]):,} holdout {count})"

    return f"{RATE_NAMES[rate]} {at(low)} to {at(high)}"


def model_utility(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    spec: DatasetSpec,
    prefix: str,
    *,
    random_state: int,
    n_resamples: int,
) -> dict[str, float]:
    """Each classifier fitted on `train`, scored on the real holdout (`holdout_scores`)."""
    columns = classifier_columns(spec)
    metrics = {}
    for model in CLASSIFIERS:
        p = fit_predict(train, holdout, **columns, model=model, random_state=random_state)
        scores = holdout_scores(
            p.y_true,
            p.y_score,
            p.sensitive,
            n_resamples=n_resamples,
            random_state=random_state,
        )
        metrics |= {f"{prefix}.{model}.{k}": v for k, v in scores.items()}
    return metrics


def fair_reference_table(
    train: pl.DataFrame, spec: DatasetSpec, criterion: Criterion, *, random_state: int
) -> pl.DataFrame:
    """Real train with its labels made fair by ``criterion``: the fair reference's table.

    Out-of-fold scores of the headline classifier (5 folds, seeded) rank the rows inside each
    group; `fairdistill.fair_labels.fair_reference_labels` shifts each group's log-odds (``dp``:
    to the pooled positive rate; ``eo``: to equalized-odds cut-offs) and changes only the labels
    that shift asks for: labels already fair by the criterion come back unchanged, and the fair
    reference is then TRTR. Deterministic given ``random_state``. A changed label becomes the
    positive label or the most frequent other class. ``train`` has the target as text
    (`comparable`).
    """
    columns = classifier_columns(spec)
    score, y, groups = out_of_fold_scores(
        train, **columns, model=HEADLINE, random_state=random_state
    )
    names, s_index = np.unique(groups, return_inverse=True)
    fair = fair_reference_labels(
        score, y, s_index, len(names), criterion, random_state=random_state
    )
    positive = str(spec.positive_label)
    others = train.filter(pl.col(spec.target) != positive)[spec.target]
    negative = others.mode().sort()[0] if others.len() else f"not {positive}"
    relabelled = pl.Series(np.where(fair == 1, positive, negative), dtype=pl.String)
    changed = pl.Series(fair != y)
    return train.with_columns(
        pl.when(changed).then(relabelled).otherwise(pl.col(spec.target)).alias(spec.target)
    )


def dependency_fidelity(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    spec: DatasetSpec,
    *,
    random_state: int,
) -> dict[str, float]:
    """The functional dependencies that hold in the real train rows (the codec's rule,
    `fairdistill.dependencies`) and the share of rows where each holds in the real holdout and in
    the synthetic table: ``fidelity.fd.<A>-><B>.real`` / ``.synthetic`` (ideal: 1, as in real)."""
    dependencies = functional_dependencies(
        train,
        [*spec.categorical, *spec.numeric, spec.target, *spec.sensitive_columns],
        exclude_dependents=[spec.target, *spec.sensitive_columns],
        min_pair_rows=spec.min_category_rows,
        random_state=random_state,
    )
    metrics = {}
    for role, table in (("real", holdout), ("synthetic", synthetic)):
        rates = dependency_rates(table, dependencies)
        metrics |= {f"fidelity.fd.{name}.{role}": rate for name, rate in rates.items()}
    return metrics


def column_kinds(spec: DatasetSpec) -> dict[str, list[str]]:
    """The ``categorical`` and ``numeric`` keywords of the fidelity and privacy metrics (and of the
    report's association plot)."""
    return {
        "categorical": [*spec.categorical, spec.target, *spec.sensitive_columns],
        "numeric": [*spec.numeric, *spec.datetime],
    }


def fidelity(
    train: pl.DataFrame, synthetic: pl.DataFrame, spec: DatasetSpec, *, random_state: int
) -> dict[str, float]:
    """How closely the synthetic rows copy the real train rows' distribution: marginals,
    associations, detection AUC and the embedding metrics (α-precision, β-recall, density…)."""
    kinds = column_kinds(spec)
    marginals = marginal_similarity(train, synthetic, **kinds)
    metrics = {f"fidelity.{k}": v for k, v in marginals.items()}
    metrics["fidelity.association"] = association_similarity(train, synthetic, **kinds)
    metrics["fidelity.detection_auc"] = detection_auc(
        train, synthetic, **kinds, random_state=random_state
    )
    embedded = embedding_fidelity(train, synthetic, **kinds, random_state=random_state)
    return metrics | {f"fidelity.{k}": v for k, v in embedded.items()}


def privacy(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    spec: DatasetSpec,
    *,
    random_state: int,
) -> dict[str, float]:
    """Distances to the closest training record, synthetic → train against holdout → train."""
    dcr = distance_to_closest_record(
        train, holdout, synthetic, **column_kinds(spec), random_state=random_state
    )
    return {f"privacy.{k}": v for k, v in dcr.items()}


# MB of pairwise distances scikit-learn computes at a time in the density and coverage metrics:
# its default, 1,024, holds all 5,000 × 5,000 at once (the Adult audit's fidelity metrics peaked
# 280 MB above the baseline, 210 MB with 16).
WORKING_MEMORY_MB = 16


@config_context(working_memory=WORKING_MEMORY_MB)
def audit_table(
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
    """Every audit number of a synthetic table against the real train and holdout.

    Data-level fairness of both tables; TSTR (synthetic → real holdout) beside TRTR (real train →
    real holdout) and the fair reference of ``criterion`` (`fair_reference_table` → real holdout),
    with logistic regression and gradient-boosted trees, with 95% intervals over the holdout rows
    (`model_utility`); fidelity, functional dependencies included; privacy; and, given the
    student's latent means of the holdout rows, latent leakage (AUROC of s from μ; 0.5 = none).

    Exact-copy rates use every row (a hash join); everything else at most ``max_rows`` rows of each
    table, drawn with the seed (``rows.audited.*`` says how many), so the audit's time and memory do
    not grow with the table.
    """
    train, holdout, synthetic = (comparable(t, spec) for t in (train, holdout, synthetic))
    copies = {
        "privacy.exact_copy_rate": exact_copy_rate(train, synthetic),
        # The natural rate: how often a fresh real sample (the holdout) repeats a training row.
        "privacy.holdout_copy_rate": exact_copy_rate(train, holdout),
        "privacy.rare_values_reproduced": float(
            rare_values_reproduced(
                train, synthetic, columns=spec.categorical, min_count=spec.min_category_rows
            )
        ),
    }
    drawn = {"max_rows": max_rows, "random_state": random_state}
    metrics, (train, holdout, synthetic, holdout_latents) = audited_rows(
        train, holdout, synthetic, spec, holdout_latents, **drawn
    )
    metrics |= copies
    utility = {"random_state": random_state, "n_resamples": n_resamples}
    seeded = {"random_state": random_state}
    parts = [  # independent of each other, and small enough for two threads to share evenly
        partial(model_utility, synthetic, holdout, spec, "tstr", **utility),
        partial(model_utility, train, holdout, spec, "trtr", **utility),
        partial(fair_reference, train, holdout, spec, criterion, **utility),
        partial(fidelity, train, synthetic, spec, **seeded),
        partial(privacy, train, holdout, synthetic, spec, **seeded),
        partial(dependency_fidelity, train, holdout, synthetic, spec, **seeded),
    ]
    if holdout_latents is not None:
        groups = holdout.select(spec.sensitive_columns).to_pandas()
        leakage = partial(latent_leakage_auroc, holdout_latents, groups, **seeded)
        parts.append(lambda: {"latent.leakage_auroc": leakage()})
    for numbers in side_by_side(parts):
        metrics |= numbers
    return metrics


def fair_reference(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    spec: DatasetSpec,
    criterion: Criterion,
    *,
    random_state: int,
    n_resamples: int,
) -> dict[str, float]:
    """The fair reference of ``criterion``: `model_utility` of `fair_reference_table` on the real
    holdout (``fair.*``)."""
    fair = fair_reference_table(train, spec, criterion, random_state=random_state)
    return model_utility(
        fair, holdout, spec, "fair", random_state=random_state, n_resamples=n_resamples
    )


def side_by_side(parts: list[Callable[[], dict]]) -> list[dict]:
    """Each part's result, in order; the parts run on threads, one per core, each with one OpenMP
    thread and the caller's scikit-learn settings.

    Why: the audit's classifiers gain nothing from a second OpenMP thread (Adult on 2 cores: the
    same wall time and numbers on one thread, at two thirds of the CPU time), while two parts side
    by side finish in two thirds of the time (21.7 → 14.6 s; numpy, scikit-learn's compiled loops
    and Polars release the GIL). The numbers are the same: each part draws from its own seed."""
    config = get_config()  # thread-local: each thread sets it again

    def run(part: Callable[[], dict]) -> dict:
        with config_context(**config), threadpool_limits(limits=1, user_api="openmp"):
            return part()

    with ThreadPoolExecutor(min(len(parts), os.cpu_count() or 1)) as pool:
        return list(pool.map(run, parts))


@dataclass(frozen=True)
class GateCheck:
    """One threshold of the gate against its audit number; `origin` says where the threshold comes
    from (a setting, or a reference measured by the audit and the setting applied to it).

    `interval` is the number's 95% interval over the holdout (`model_utility`), where it has one;
    `judged_by` says what decided the check: the ``value`` itself, or the ``interval`` where the
    holdout is too small to resolve the threshold (`judge`). `at_parity`, for a fairness ratio:
    what a classifier with equal rates in every group would average on this holdout."""

    name: str
    value: float
    threshold: float
    rule: str
    passed: bool
    origin: str = ""
    interval: tuple[float, float] | None = None
    judged_by: str = "value"
    at_parity: float | None = None  # a fairness ratio: what equal rates would average here
    extremes: str = ""  # a fairness ratio: the groups that set it (`ratio_extremes`)

    @property
    def gap(self) -> float:
        """How far the value is on the wrong side of the threshold (≤ 0 when it passes)."""
        return self.threshold - self.value if self.rule == "≥" else self.value - self.threshold

    @property
    def _places(self) -> int:
        # enough decimals that a near miss does not read "0.777, 0.000 below its threshold 0.777"
        return 3 if self.gap >= 5e-4 else 5

    @property
    def interval_text(self) -> str:
        """``95% interval [0.366, 0.983]`` (NaN where the audit has none)."""
        low, high = self.interval or (np.nan, np.nan)
        return f"95% interval [{low:.3f}, {high:.3f}]"

    def failure(self) -> str:
        """``tstr_auroc 0.864, 0.013 below its threshold 0.877 (TRTR AUROC 0.927 − 0.05)``."""
        origin = f" ({self.origin})" if self.origin else ""
        if np.isnan(self.value):
            return f"{self.name} could not be measured (needs {self.rule} {self.threshold:.3f}{origin})"
        side = "below" if self.rule == "≥" else "above"
        places = self._places
        shown = (
            f", and so is its whole {self.interval_text}" if self.judged_by == "interval" else ""
        )
        extremes = f": {self.extremes}" if self.extremes else ""
        return (
            f"{self.name} {self.value:.{places}f}, {self.gap:.{places}f} {side} its threshold "
            f"{self.threshold:.{places}f}{origin}{shown}{extremes}"
        )

    def note(self) -> str | None:
        """Why a check passed on its interval though its value is short of the threshold."""
        if not (self.passed and self.judged_by == "interval"):
            return None
        side = "below" if self.rule == "≥" else "above"
        places = self._places
        parity = (
            f"; a classifier with equal rates in every group would average {self.at_parity:.3f} "
            "on this holdout"
            if self.at_parity is not None and not np.isnan(self.at_parity)
            else ""
        )
        return (
            f"{self.name} {self.value:.{places}f} is {side} its threshold "
            f"{self.threshold:.{places}f} on a holdout too small to tell: its "
            f"{self.interval_text} reaches the threshold, so the shortfall is not charged "
            "(audit.gate.unresolved_by_interval), but the threshold is not shown to hold either"
            f"{parity}{f' ({self.extremes})' if self.extremes else ''}"
        )


def judge(
    value: float,
    threshold: float,
    rule: str,
    interval: tuple[float, float] | None,
    tolerance: float,
    by_interval: bool = True,
) -> tuple[bool, str]:
    """Whether a gate check passes, and what decided it (``value`` or ``interval``).

    The value decides, except where the holdout cannot resolve the threshold: the 95% interval's
    half-width exceeds the check's tolerance (the distance between its ideal and its threshold), so
    the holdout cannot tell a table at the ideal from one at the threshold. A value short of the
    threshold then fails only if its whole interval is short of it too (a shortfall the holdout
    cannot show is not charged; the four-fifths rule reads the same way on small samples, 29 CFR
    1607.4(D)). NaN never passes.

    >>> judge(0.77, 0.8, "≥", (0.37, 0.98), tolerance=0.2)  # 139 holdout rows: cannot tell
    (True, 'interval')
    >>> judge(0.20, 0.8, "≥", (0.00, 0.77), tolerance=0.2)  # short even at its interval's top
    (False, 'interval')
    >>> judge(0.77, 0.8, "≥", (0.72, 0.82), tolerance=0.2)  # resolved: the value decides
    (False, 'value')
    """
    holds = bool(value >= threshold if rule == "≥" else value <= threshold)
    if holds or np.isnan(value) or interval is None or not by_interval:
        return holds, "value"
    low, high = interval
    if not (high - low) / 2 > tolerance:  # resolved (a NaN interval resolves nothing)
        return False, "value"
    return bool(high >= threshold if rule == "≥" else low <= threshold), "interval"


def metric_interval(metrics: dict[str, float], key: str) -> tuple[float, float] | None:
    """The 95% interval the audit stored for ``key`` (``key.ci_low``, ``key.ci_high``)."""
    low, high = metrics.get(f"{key}.ci_low"), metrics.get(f"{key}.ci_high")
    return None if low is None or high is None else (float(low), float(high))


def check_gate(
    metrics: dict[str, float],
    gate: GateThresholds,
    criterion: Criterion = "dp",
    *,
    classifier: str = HEADLINE,
) -> list[GateCheck]:
    """Each threshold of the gate against the audit numbers, judged by `judge`; NaN never passes.

    - ``model_dpr`` (``dp``) or ``model_eor`` (``eo``): the criterion's fairness ratio of the
      gate's classifier trained on the synthetic table ≥ `min_fairness_ratio` (tolerance: its
      distance from parity, 1 − `min_fairness_ratio`);
    - ``tstr_auroc``: its AUROC ≥ the fair reference's AUROC − `max_auroc_gap` (the same classifier
      on real train with labels made fair by the criterion: what fairness itself costs is not
      charged to the synthetic table; where an audit has no fair reference, TRTR's AUROC);
    - ``exact_copy_rate``: the synthetic table's copy rate of training rows ≤ the holdout's (a
      fresh real sample's) + `max_copy_rate_excess`: no more memorisation than real data shows.

    ``classifier`` names the classifier the checks read (the image audit's: ``cnn``).
    """
    ratio = f"tstr.{classifier}.{CRITERION_RATIO[criterion]}"
    auroc = f"tstr.{classifier}.auroc"
    reference_name = "fair reference AUROC"
    if (reference := metrics.get(f"fair.{classifier}.auroc")) is None:
        reference_name, reference = "TRTR AUROC", metrics[f"trtr.{classifier}.auroc"]
    most_copies = metrics["privacy.holdout_copy_rate"] + gate.max_copy_rate_excess
    checks = [  # (name, value, threshold, rule, origin, interval, tolerance)
        (
            FAIRNESS_CHECK[criterion],
            metrics[ratio],
            gate.min_fairness_ratio,
            "≥",
            "audit.gate.min_fairness_ratio",
            metric_interval(metrics, ratio),
            1 - gate.min_fairness_ratio,
        ),
        (
            "tstr_auroc",
            metrics[auroc],
            reference - gate.max_auroc_gap,
            "≥",
            f"{reference_name} {reference:.3f} − audit.gate.max_auroc_gap {gate.max_auroc_gap:g}",
            metric_interval(metrics, auroc),
            gate.max_auroc_gap,
        ),
        (
            "exact_copy_rate",
            metrics["privacy.exact_copy_rate"],
            most_copies,
            "≤",
            f"holdout copy rate {metrics['privacy.holdout_copy_rate']:.4f} + "
            f"audit.gate.max_copy_rate_excess {gate.max_copy_rate_excess:g}",
            None,
            0.0,
        ),
    ]
    judged = []
    for name, value, limit, rule, origin, interval, tolerance in checks:
        passed, judged_by = judge(
            value, limit, rule, interval, tolerance, gate.unresolved_by_interval
        )
        fairness = name == FAIRNESS_CHECK[criterion]
        at_parity = metrics.get(f"{ratio}.at_parity") if fairness else None
        extremes = (
            ratio_extremes(metrics, f"tstr.{classifier}", CRITERION_RATIO[criterion])
            if fairness
            else ""
        )
        judged.append(
            GateCheck(
                name,
                float(value),
                float(limit),
                rule,
                passed,
                origin,
                interval,
                judged_by,
                at_parity,
                extremes,
            )
        )
    return judged


# What a passing or failing audit releases (`AuditOutcome.release`): the champion moves `latest`
# and the model's @champion alias; a challenger passed a gate looser than the configured one and is
# published under its run id only, with the @challenger alias; a rejected table is not published.
CHAMPION, CHALLENGER, REJECTED = "champion", "challenger", "rejected"


@dataclass
class AuditOutcome:
    """What an audit found: every number, each gate check, the settings it ran under and the run.

    `configured_gate` is the gate of the deployment (its own `audit.gate`, else the defaults); a
    run's gate may be stricter, but a looser one does not release a champion. `modality` is what
    was audited (`DatasetSpec.modality`): it picks the gate's classifier and the report's rows."""

    metrics: dict[str, float]
    checks: list[GateCheck]
    settings: AuditSettings
    run: dict = field(default_factory=dict)
    configured_gate: GateThresholds = field(default_factory=GateThresholds)
    modality: str = "table"
    criterion: Criterion = "dp"

    @property
    def classifier(self) -> str:
        """The classifier the gate reads (`GATE_CLASSIFIER`)."""
        return GATE_CLASSIFIER[self.modality]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[str]:
        return [check.failure() for check in self.checks if not check.passed]

    @property
    def notes(self) -> list[str]:
        """The checks that passed on their interval, each with why (`GateCheck.note`)."""
        return [note for check in self.checks if (note := check.note())]

    @property
    def looser_thresholds(self) -> list[str]:
        """The run's thresholds that are looser than the configured gate's."""
        return self.settings.gate.looser_than(self.configured_gate)

    @property
    def release(self) -> str:
        """`champion`, `challenger` or `rejected` (see the constants above)."""
        if not self.passed:
            return REJECTED
        return CHALLENGER if self.looser_thresholds else CHAMPION

    def to_dict(self) -> dict:
        """The content of `audit.json`."""
        return {
            "run": self.run,
            "criterion": self.criterion,
            "metrics": self.metrics,
            "thresholds": self.settings.model_dump(),
            "configured_gate": self.configured_gate.model_dump(),
            "gate": [asdict(check) for check in self.checks],
            "passed": self.passed,
            "release": self.release,
            "modality": self.modality,
        }


def run_audit(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    spec: DatasetSpec,
    settings: AuditSettings | None = None,
    *,
    holdout_latents: np.ndarray | None = None,
    run: dict | None = None,
    configured_gate: GateThresholds | None = None,
    criterion: Criterion = "dp",
    measure=audit_table,
    gate=check_gate,
) -> AuditOutcome:
    """Audit a synthetic table (`audit_table`) made for the fairness ``criterion`` and check the
    gate by it: the outcome of one audit. `configured_gate` (default: the default thresholds)
    decides whether a pass is a champion.

    ``measure`` and ``gate`` are the audit's numbers and its gate: the image audit passes its own
    (`models.image_audit.run_image_audit`)."""
    settings = settings or AuditSettings()
    metrics = measure(
        train,
        holdout,
        synthetic,
        spec,
        random_state=settings.seed,
        n_resamples=settings.bootstrap_resamples,
        holdout_latents=holdout_latents,
        max_rows=settings.max_rows,
        criterion=criterion,
    )
    checks = gate(metrics, settings.gate, criterion)
    configured = configured_gate or GateThresholds()
    return AuditOutcome(metrics, checks, settings, run or {}, configured, spec.modality, criterion)
