"""The audit: every number about a synthetic table, and the gate that decides publishing.

`audit_table` is a pure function of three tables (real train, real holdout, synthetic) and a spec; it
returns a flat mapping of stable dotted names (`tstr.hgb.dpr`, `fidelity.detection_auc`, …) to floats,
ready for MLflow, `audit.json` and the report. `check_gate` compares that mapping with thresholds;
`run_audit` does both and returns an `AuditOutcome`: the numbers, the checks and the verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl

from fairdistill.metrics import (
    association_similarity,
    bootstrap_ci,
    data_parity_difference,
    data_parity_ratio,
    detection_auc,
    distance_to_closest_record,
    embedding_fidelity,
    exact_copy_rate,
    fit_predict,
    latent_leakage_auroc,
    marginal_similarity,
    positive_rates,
    score_predictions,
)
from fairdistill.settings import AuditSettings, GateThresholds
from fairdistill.spec import DatasetSpec

CLASSIFIERS = ("hgb", "logistic")
# The headline classifier of the gate: gradient-boosted trees, sensitive attribute among the features.
HEADLINE = "hgb"
CI_METRICS = ("auroc", "accuracy", "f1", "dpr", "dpd", "eor", "eod")


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


def rows_and_data_fairness(
    train: pl.DataFrame, holdout: pl.DataFrame, synthetic: pl.DataFrame, spec: DatasetSpec
) -> dict[str, float]:
    """The rows of each table and the data-level fairness of real train and synthetic: where every
    audit (tables, images) starts."""
    metrics = {
        "rows.train": train.height,
        "rows.holdout": holdout.height,
        "rows.synthetic": synthetic.height,
    }
    return (
        metrics
        | data_fairness(train, spec, "data.real")
        | data_fairness(synthetic, spec, "data.synthetic")
    )


def model_utility(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    spec: DatasetSpec,
    prefix: str,
    *,
    random_state: int,
    n_resamples: int,
) -> dict[str, float]:
    """Each classifier fitted on `train`, scored on the real holdout, with bootstrap intervals."""
    columns = {
        "target": spec.target,
        "positive_label": spec.positive_label,
        "sensitive": spec.sensitive_columns,
        "categorical": spec.categorical,
        "numeric": [*spec.numeric, *spec.datetime],
    }
    metrics = {}
    for model in CLASSIFIERS:
        p = fit_predict(train, holdout, **columns, model=model, random_state=random_state)
        scores = score_predictions(p.y_true, p.y_score, sensitive=p.sensitive)
        metrics |= {f"{prefix}.{model}.{k}": v for k, v in scores.items()}
        if n_resamples:
            intervals = bootstrap_ci(
                score_predictions,
                p.y_true,
                p.y_score,
                sensitive=p.sensitive,
                n_resamples=n_resamples,
                random_state=random_state,
            )
            for key in CI_METRICS:
                low, high = intervals[key]
                metrics |= {
                    f"{prefix}.{model}.{key}.ci_low": low,
                    f"{prefix}.{model}.{key}.ci_high": high,
                }
    return metrics


def fidelity_and_privacy(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    spec: DatasetSpec,
    *,
    random_state: int,
) -> dict[str, float]:
    kinds = {
        "categorical": [*spec.categorical, spec.target, *spec.sensitive_columns],
        "numeric": [*spec.numeric, *spec.datetime],
    }
    marginals = marginal_similarity(train, synthetic, **kinds)
    metrics = {f"fidelity.{k}": v for k, v in marginals.items()}
    metrics["fidelity.association"] = association_similarity(train, synthetic, **kinds)
    metrics["fidelity.detection_auc"] = detection_auc(
        train, synthetic, **kinds, random_state=random_state
    )
    embedded = embedding_fidelity(train, synthetic, **kinds, random_state=random_state)
    metrics |= {f"fidelity.{k}": v for k, v in embedded.items()}
    metrics["privacy.exact_copy_rate"] = exact_copy_rate(train, synthetic)
    dcr = distance_to_closest_record(train, holdout, synthetic, **kinds, random_state=random_state)
    return metrics | {f"privacy.{k}": v for k, v in dcr.items()}


def audit_table(
    train: pl.DataFrame,
    holdout: pl.DataFrame,
    synthetic: pl.DataFrame,
    spec: DatasetSpec,
    *,
    random_state: int = 0,
    n_resamples: int = 200,
    holdout_latents: np.ndarray | None = None,
) -> dict[str, float]:
    """Every audit number of a synthetic table against the real train and holdout.

    Data-level fairness of both tables; TSTR (synthetic → real holdout) beside TRTR (real train →
    real holdout) with logistic regression and gradient-boosted trees, with bootstrap intervals over
    the holdout rows; fidelity; privacy; and, given the student's latent means of the holdout rows,
    latent leakage (AUROC of s from μ; 0.5 = none).
    """
    train, holdout, synthetic = (comparable(t, spec) for t in (train, holdout, synthetic))
    metrics = rows_and_data_fairness(train, holdout, synthetic, spec)
    utility = {"random_state": random_state, "n_resamples": n_resamples}
    metrics |= model_utility(synthetic, holdout, spec, "tstr", **utility)
    metrics |= model_utility(train, holdout, spec, "trtr", **utility)
    metrics |= fidelity_and_privacy(train, holdout, synthetic, spec, random_state=random_state)
    if holdout_latents is not None:
        groups = holdout.select(spec.sensitive_columns).to_pandas()
        metrics["latent.leakage_auroc"] = latent_leakage_auroc(
            holdout_latents, groups, random_state=random_state
        )
    return metrics


@dataclass(frozen=True)
class GateCheck:
    """One threshold of the gate against its audit number."""

    name: str
    value: float
    threshold: float
    rule: str
    passed: bool

    def failure(self) -> str:
        """``tstr_auroc 0.864 (needs ≥ 0.877)``."""
        return f"{self.name} {self.value:.3f} (needs {self.rule} {self.threshold:.3f})"


def check_gate(metrics: dict[str, float], gate: GateThresholds) -> list[GateCheck]:
    """Each threshold of the gate against the audit numbers; NaN never passes.

    Thresholds: `min_model_dpr` (TSTR DPR of the headline classifier ≥), `max_auroc_drop` (TSTR AUROC
    ≥ TRTR AUROC − drop), `max_exact_copy_rate` (≤).
    """
    dpr = metrics[f"tstr.{HEADLINE}.dpr"]
    auroc = metrics[f"tstr.{HEADLINE}.auroc"]
    floor = metrics[f"trtr.{HEADLINE}.auroc"] - gate.max_auroc_drop
    copies = metrics["privacy.exact_copy_rate"]
    checks = [
        ("model_dpr", dpr, gate.min_model_dpr, "≥", dpr >= gate.min_model_dpr),
        ("tstr_auroc", auroc, floor, "≥", auroc >= floor),
        (
            "exact_copy_rate",
            copies,
            gate.max_exact_copy_rate,
            "≤",
            copies <= gate.max_exact_copy_rate,
        ),
    ]
    return [
        GateCheck(name, float(value), float(limit), rule, bool(ok))
        for name, value, limit, rule, ok in checks
    ]


@dataclass
class AuditOutcome:
    """What an audit found: every number, each gate check, the settings it ran under and the run."""

    metrics: dict[str, float]
    checks: list[GateCheck]
    settings: AuditSettings
    run: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[str]:
        return [check.failure() for check in self.checks if not check.passed]

    def to_dict(self) -> dict:
        """The content of `audit.json`."""
        return {
            "run": self.run,
            "metrics": self.metrics,
            "thresholds": self.settings.model_dump(),
            "gate": [asdict(check) for check in self.checks],
            "passed": self.passed,
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
    measure=audit_table,
    gate=check_gate,
) -> AuditOutcome:
    """Audit a synthetic table (`audit_table`) and check the gate: the outcome of one audit.

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
    )
    return AuditOutcome(metrics, gate(metrics, settings.gate), settings, run or {})
