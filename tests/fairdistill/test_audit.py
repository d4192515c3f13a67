import json
import math

import polars as pl
import pytest

from fairdistill.audit import (
    CHALLENGER,
    CHAMPION,
    REJECTED,
    AuditOutcome,
    audit_table,
    check_gate,
    run_audit,
)
from fairdistill.ingest import read_dataset
from fairdistill.report import render_html, summary_markdown, summary_paragraph, write_audit
from fairdistill.settings import AuditSettings, GateThresholds
from fairdistill.spec import load_spec

THRESHOLDS = GateThresholds(min_model_dpr=0.8, max_auroc_drop=0.05)
GOOD = {
    "tstr.hgb.dpr": 0.9,
    "tstr.hgb.auroc": 0.88,
    "trtr.hgb.auroc": 0.92,
    "privacy.exact_copy_rate": 0.02,
    "privacy.holdout_copy_rate": 0.02,  # a table that repeats itself: copies are natural
}


def test_gate_passes_when_every_threshold_holds():
    outcome = AuditOutcome(GOOD, check_gate(GOOD, THRESHOLDS), AuditSettings())
    assert [c.name for c in outcome.checks] == ["model_dpr", "tstr_auroc", "exact_copy_rate"]
    assert outcome.passed and outcome.failures == []
    assert outcome.checks[1].threshold == pytest.approx(0.87)


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        ({"tstr.hgb.dpr": 0.79}, "model_dpr"),
        ({"tstr.hgb.dpr": math.nan}, "model_dpr"),
        ({"tstr.hgb.auroc": 0.86}, "tstr_auroc"),
        ({"privacy.exact_copy_rate": 0.03}, "exact_copy_rate"),
        ({"privacy.holdout_copy_rate": 0.0}, "exact_copy_rate"),
    ],
)
def test_gate_fails_on_each_threshold(change, failed):
    outcome = AuditOutcome(GOOD, check_gate({**GOOD, **change}, THRESHOLDS), AuditSettings())
    assert [c.name for c in outcome.checks if not c.passed] == [failed]
    assert not outcome.passed and outcome.release == REJECTED
    assert outcome.failures[0].startswith(f"{failed} ")


def test_a_failure_says_by_how_much_and_where_the_threshold_comes_from():
    (auroc,) = [c for c in check_gate({**GOOD, "tstr.hgb.auroc": 0.86}, THRESHOLDS) if not c.passed]
    assert auroc.origin == "TRTR AUROC 0.920 − audit.gate.max_auroc_drop 0.05"
    assert auroc.failure() == (
        "tstr_auroc 0.860, 0.010 below its threshold 0.870 "
        "(TRTR AUROC 0.920 − audit.gate.max_auroc_drop 0.05)"
    )
    (dpr,) = [c for c in check_gate({**GOOD, "tstr.hgb.dpr": math.nan}, THRESHOLDS) if not c.passed]
    assert (
        dpr.failure()
        == "model_dpr could not be measured (needs ≥ 0.800 (audit.gate.min_model_dpr))"
    )


@pytest.mark.parametrize(
    ("gate", "release"),
    [
        (GateThresholds(), CHAMPION),
        (GateThresholds(min_model_dpr=0.85, max_auroc_drop=0.04), CHAMPION),  # stricter
        (GateThresholds(max_auroc_drop=0.3), CHALLENGER),
        (GateThresholds(min_model_dpr=0.5), CHALLENGER),
        (GateThresholds(max_copy_rate_excess=0.01), CHALLENGER),
        (GateThresholds(min_model_dpr=0.95), REJECTED),
    ],
)
def test_only_a_pass_under_the_configured_gate_or_stricter_releases_a_champion(gate, release):
    settings = AuditSettings(gate=gate)
    outcome = AuditOutcome(GOOD, check_gate(GOOD, gate), settings, configured_gate=THRESHOLDS)
    assert outcome.release == release


@pytest.fixture(scope="module")
def loans(tmp_path_factory):
    from pathlib import Path

    spec = load_spec(Path(__file__).parents[1] / "data" / "loans.yaml")
    train, holdout, _ = read_dataset(spec)
    return spec, train, holdout


def test_audit_of_real_train_as_synthetic_hits_the_ceilings(loans):
    spec, train, holdout = loans
    metrics = audit_table(train, holdout, train, spec, n_resamples=20)
    assert metrics["privacy.exact_copy_rate"] == 1.0
    assert metrics["data.synthetic.dpr"] == metrics["data.real.dpr"]
    assert metrics["tstr.hgb.auroc"] == metrics["trtr.hgb.auroc"]
    assert metrics["fidelity.marginal"] == pytest.approx(1.0)
    assert (
        metrics["tstr.hgb.auroc.ci_low"]
        <= metrics["tstr.hgb.auroc"]
        <= metrics["tstr.hgb.auroc.ci_high"]
    )
    assert not all(c.passed for c in check_gate(metrics, THRESHOLDS))  # copies fail the gate


def test_report_renders_offline_with_every_plot(loans, tmp_path):
    spec, train, holdout = loans
    synthetic = train.with_columns(pl.col("gender").shuffle(seed=0))
    settings = AuditSettings(bootstrap_resamples=10)
    outcome = run_audit(train, holdout, synthetic, spec, settings, run={"run_id": "r1"})
    page = render_html(outcome, spec, train, synthetic)
    assert page.count("data:image/png;base64,") == 4
    assert "http://" not in page and "https://" not in page  # nothing loads from a CDN
    assert "Gate: FAILED" in page and "run_id: r1" in page
    assert '<div class="box box-fail"><p class="box-title">Not published — what to try</p>' in page
    assert "TRTR AUROC" in page and "higher is better" in page
    markdown = summary_markdown(outcome, "audit", {"MLflow run": "http://mlflow/#/runs/1"})
    assert "| exact_copy_rate | share of synthetic rows identical to a training row |" in markdown
    assert "> - exact_copy_rate: raise teacher.kl_weight" in markdown
    assert "| MLflow run | http://mlflow/#/runs/1 |" in markdown
    assert "| Detection AUC (a classifier telling synthetic from real) |" in markdown

    numbers, report = write_audit(outcome, tmp_path / "out", spec, train, synthetic)
    written = json.loads(numbers.read_text())
    assert written["passed"] is False and written["run"] == {"run_id": "r1"}
    assert written["thresholds"]["bootstrap_resamples"] == 10
    assert [c["name"] for c in written["gate"]] == ["model_dpr", "tstr_auroc", "exact_copy_rate"]
    assert written["release"] == REJECTED and written["configured_gate"]["min_model_dpr"] == 0.8
    assert report.read_text() == page


def test_the_audit_works_on_bounded_samples_and_says_so(loans):
    spec, train, holdout = loans
    metrics = audit_table(train, holdout, train, spec, n_resamples=0, max_rows=100)
    assert metrics["rows.train"] == train.height and metrics["rows.audited.train"] == 100
    assert metrics["rows.audited.holdout"] == 100 and metrics["rows.audited.synthetic"] == 100
    assert metrics["privacy.exact_copy_rate"] == 1.0  # copies: every row, not the sample


def test_a_pass_under_a_looser_gate_says_it_is_published_as_a_challenger(loans):
    spec, train, holdout = loans
    synthetic = train.with_columns(pl.col("gender").shuffle(seed=0))
    gate = GateThresholds(min_model_dpr=0.0, max_auroc_drop=1.0, max_copy_rate_excess=1.0)
    outcome = run_audit(
        train, holdout, synthetic, spec, AuditSettings(bootstrap_resamples=0, gate=gate)
    )
    assert outcome.release == CHALLENGER
    assert outcome.looser_thresholds == ["min_model_dpr", "max_auroc_drop", "max_copy_rate_excess"]
    markdown = summary_markdown(outcome, "audit")
    assert "> **Published under its run id only, not as the champion**" in markdown
    assert "min_model_dpr 0.0 (configured: 0.8)" in markdown
    assert '<div class="box box-warn">' in render_html(outcome, spec, train, synthetic)


def test_an_image_audit_is_summarised_with_its_cnn_rows():
    metrics = {
        **{k.replace("hgb", "cnn"): v for k, v in GOOD.items()},
        "tstr.cnn.accuracy": 0.85,
        "fair_reference.cnn.accuracy": 0.9,
        "fidelity.frechet_distance": 1.5,
    }
    checks = check_gate(metrics, THRESHOLDS, classifier="cnn")
    outcome = AuditOutcome(metrics, checks, AuditSettings(), modality="image")
    assert outcome.classifier == "cnn" and outcome.passed
    markdown = summary_markdown(outcome, "audit")
    assert "| Accuracy, beside the fair reference | 0.850 | 0.900 | higher is better |" in markdown
    assert "| Fréchet distance (real vs synthetic" in markdown
    assert "AUROC | 0.880 | 0.920 |" in markdown and "Marginal similarity" not in markdown
    assert "A small CNN trained on its synthetic table scores AUROC 0.880" in summary_paragraph(
        outcome, "colored-mnist"
    )
