import json
import math

import polars as pl
import pytest

from fairdistill.audit import AuditOutcome, audit_table, check_gate, run_audit
from fairdistill.ingest import read_dataset
from fairdistill.report import render_html, summary_markdown, write_audit
from fairdistill.settings import AuditSettings, GateThresholds
from fairdistill.spec import load_spec

THRESHOLDS = GateThresholds(min_model_dpr=0.8, max_auroc_drop=0.05, max_copy_rate_excess=0.0)
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
        ({"privacy.exact_copy_rate": 0.021}, "exact_copy_rate"),
        ({"privacy.holdout_copy_rate": 0.0}, "exact_copy_rate"),
    ],
)
def test_gate_fails_on_each_threshold(change, failed):
    outcome = AuditOutcome(GOOD, check_gate({**GOOD, **change}, THRESHOLDS), AuditSettings())
    assert [c.name for c in outcome.checks if not c.passed] == [failed]
    assert not outcome.passed
    assert outcome.failures[0].startswith(f"{failed} ")


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
    markdown = summary_markdown(outcome, "audit")
    assert "| exact_copy_rate |" in markdown and "FAIL" in markdown

    numbers, report = write_audit(outcome, tmp_path / "out", spec, train, synthetic)
    written = json.loads(numbers.read_text())
    assert written["passed"] is False and written["run"] == {"run_id": "r1"}
    assert written["thresholds"]["bootstrap_resamples"] == 10
    assert [c["name"] for c in written["gate"]] == ["model_dpr", "tstr_auroc", "exact_copy_rate"]
    assert report.read_text() == page


def test_the_audit_works_on_bounded_samples_and_says_so(loans):
    spec, train, holdout = loans
    metrics = audit_table(train, holdout, train, spec, n_resamples=0, max_rows=100)
    assert metrics["rows.train"] == train.height and metrics["rows.audited.train"] == 100
    assert metrics["rows.audited.holdout"] == 100 and metrics["rows.audited.synthetic"] == 100
    assert metrics["privacy.exact_copy_rate"] == 1.0  # copies: every row, not the sample
