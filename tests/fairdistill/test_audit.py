import math

import polars as pl
import pytest

from fairdistill.audit import audit_table, check_gate, gate_passed
from fairdistill.ingest import read_dataset
from fairdistill.report import render_html, summary_markdown
from fairdistill.spec import load_spec

THRESHOLDS = {"min_model_dpr": 0.8, "max_auroc_drop": 0.05, "max_exact_copy_rate": 0.0}
GOOD = {
    "tstr.hgb.dpr": 0.9,
    "tstr.hgb.auroc": 0.88,
    "trtr.hgb.auroc": 0.92,
    "privacy.exact_copy_rate": 0.0,
}


def test_gate_passes_when_every_threshold_holds():
    checks = check_gate(GOOD, THRESHOLDS)
    assert [c.name for c in checks] == ["model_dpr", "tstr_auroc", "exact_copy_rate"]
    assert gate_passed(checks)
    assert checks[1].threshold == pytest.approx(0.87)


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        ({"tstr.hgb.dpr": 0.79}, "model_dpr"),
        ({"tstr.hgb.dpr": math.nan}, "model_dpr"),
        ({"tstr.hgb.auroc": 0.86}, "tstr_auroc"),
        ({"privacy.exact_copy_rate": 0.001}, "exact_copy_rate"),
    ],
)
def test_gate_fails_on_each_threshold(change, failed):
    checks = check_gate({**GOOD, **change}, THRESHOLDS)
    assert [c.name for c in checks if not c.passed] == [failed]
    assert not gate_passed(checks)


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
    assert not gate_passed(
        check_gate(metrics, THRESHOLDS)
    )  # copies and an unfair model fail the gate


def test_report_renders_offline_with_every_plot(loans):
    spec, train, holdout = loans
    synthetic = train.with_columns(pl.col("gender").shuffle(seed=0))
    metrics = audit_table(train, holdout, synthetic, spec, n_resamples=10)
    checks = check_gate(metrics, THRESHOLDS)
    page = render_html(metrics, checks, spec, train, synthetic, run={"run_id": "r1"}, min_dpr=0.8)
    assert page.count("data:image/png;base64,") == 4
    assert "http://" not in page and "https://" not in page  # nothing loads from a CDN
    assert "Gate: FAILED" in page
    markdown = summary_markdown(metrics, checks, "audit")
    assert "| model_dpr |" in markdown and "FAIL" in markdown
