import json
import math
import time

import numpy as np
import polars as pl
import pytest

from fairdistill.audit import (
    CHALLENGER,
    CHAMPION,
    REJECTED,
    AuditOutcome,
    audit_table,
    check_gate,
    fair_reference_table,
    group_table,
    holdout_scores,
    run_audit,
    side_by_side,
)
from fairdistill.ingest import read_dataset
from fairdistill.report import render_html, summary_markdown, summary_paragraph, write_audit
from fairdistill.settings import AuditSettings, GateThresholds
from fairdistill.spec import DatasetSpec, load_spec

THRESHOLDS = GateThresholds(min_fairness_ratio=0.8, max_auroc_gap=0.02)
GOOD = {
    "tstr.hgb.dpr": 0.9,
    "tstr.hgb.eor": 0.85,
    "tstr.hgb.auroc": 0.88,
    "fair.hgb.auroc": 0.89,
    "trtr.hgb.auroc": 0.92,
    "privacy.exact_copy_rate": 0.02,
    "privacy.holdout_copy_rate": 0.02,  # a table that repeats itself: copies are natural
}


@pytest.mark.parametrize(("criterion", "fairness"), [("dp", "model_dpr"), ("eo", "model_eor")])
def test_gate_passes_when_every_threshold_of_the_criterion_holds(criterion, fairness):
    checks = check_gate(GOOD, THRESHOLDS, criterion)
    outcome = AuditOutcome(GOOD, checks, AuditSettings(), criterion=criterion)
    assert [c.name for c in outcome.checks] == [fairness, "tstr_auroc", "exact_copy_rate"]
    assert outcome.passed and outcome.failures == []
    assert outcome.checks[1].threshold == pytest.approx(0.87)  # fair reference − 0.02


@pytest.mark.parametrize(
    ("criterion", "change", "failed"),
    [
        ("dp", {"tstr.hgb.dpr": 0.79}, "model_dpr"),
        ("dp", {"tstr.hgb.dpr": math.nan}, "model_dpr"),
        ("eo", {"tstr.hgb.eor": 0.79}, "model_eor"),
        ("eo", {"tstr.hgb.eor": math.nan}, "model_eor"),
        ("dp", {"tstr.hgb.auroc": 0.86}, "tstr_auroc"),
        ("eo", {"tstr.hgb.auroc": 0.86}, "tstr_auroc"),
        ("dp", {"fair.hgb.auroc": 0.91}, "tstr_auroc"),  # the reference, not TRTR, sets the bar
        ("dp", {"privacy.exact_copy_rate": 0.03}, "exact_copy_rate"),
        ("eo", {"privacy.holdout_copy_rate": 0.0}, "exact_copy_rate"),
    ],
)
def test_gate_fails_on_each_threshold_by_criterion(criterion, change, failed):
    checks = check_gate({**GOOD, **change}, THRESHOLDS, criterion)
    outcome = AuditOutcome(GOOD, checks, AuditSettings(), criterion=criterion)
    assert [c.name for c in outcome.checks if not c.passed] == [failed]
    assert not outcome.passed and outcome.release == REJECTED
    assert outcome.failures[0].startswith(f"{failed} ")


@pytest.mark.parametrize(("criterion", "ignored"), [("dp", "tstr.hgb.eor"), ("eo", "tstr.hgb.dpr")])
def test_the_gate_judges_only_the_criterion_of_the_run(criterion, ignored):
    assert all(c.passed for c in check_gate({**GOOD, ignored: 0.1}, THRESHOLDS, criterion))


def test_a_failure_says_by_how_much_and_where_the_threshold_comes_from():
    (auroc,) = [c for c in check_gate({**GOOD, "tstr.hgb.auroc": 0.86}, THRESHOLDS) if not c.passed]
    assert auroc.origin == "fair reference AUROC 0.890 − audit.gate.max_auroc_gap 0.02"
    assert auroc.failure() == (
        "tstr_auroc 0.860, 0.010 below its threshold 0.870 "
        "(fair reference AUROC 0.890 − audit.gate.max_auroc_gap 0.02)"
    )
    near = {**GOOD, "tstr.hgb.auroc": 0.86996}
    (auroc,) = [c for c in check_gate(near, THRESHOLDS) if not c.passed]
    assert auroc.failure().startswith("tstr_auroc 0.86996, 0.00004 below its threshold 0.87000")
    (dpr,) = [c for c in check_gate({**GOOD, "tstr.hgb.dpr": math.nan}, THRESHOLDS) if not c.passed]
    assert (
        dpr.failure()
        == "model_dpr could not be measured (needs ≥ 0.800 (audit.gate.min_fairness_ratio))"
    )


# A 139-row holdout: the bootstrap intervals are wider than the checks' tolerances (0.2, 0.02).
SMALL_HOLDOUT = {
    "tstr.hgb.dpr.ci_low": 0.37,
    "tstr.hgb.dpr.ci_high": 0.98,
    "tstr.hgb.auroc.ci_low": 0.74,
    "tstr.hgb.auroc.ci_high": 0.91,
}


def test_a_shortfall_the_holdout_cannot_show_passes_on_its_interval():
    short = {**GOOD, **SMALL_HOLDOUT, "tstr.hgb.dpr": 0.77, "tstr.hgb.auroc": 0.82}
    outcome = AuditOutcome(short, check_gate(short, THRESHOLDS), AuditSettings())
    assert outcome.passed
    assert [c.judged_by for c in outcome.checks] == ["interval", "interval", "value"]
    assert outcome.notes[0] == (
        "model_dpr 0.770 is below its threshold 0.800 on a holdout too small to tell: its 95% "
        "interval [0.370, 0.980] reaches the threshold, so the shortfall is not charged "
        "(audit.gate.unresolved_by_interval), but the threshold is not shown to hold either"
    )
    assert "pass (by its 95% interval [0.370, 0.980])" in summary_markdown(outcome, "t")
    from fairdistill.tracking import gate_tags

    tags = gate_tags(outcome)
    assert tags["fairdistill.gate.by_interval.model_dpr"] == outcome.notes[0]
    assert "fairdistill.gate.by_interval.exact_copy_rate" not in tags


def test_the_fairness_note_says_what_equal_rates_would_average_on_the_holdout():
    short = {**GOOD, **SMALL_HOLDOUT, "tstr.hgb.dpr": 0.59, "tstr.hgb.dpr.at_parity": 0.57}
    fairness, auroc, copies = check_gate(short, THRESHOLDS)
    assert (fairness.at_parity, auroc.at_parity, copies.at_parity) == (0.57, None, None)
    assert fairness.note().endswith(
        "; a classifier with equal rates in every group would average 0.570 on this holdout"
    )


@pytest.mark.parametrize(
    ("change", "judged_by"),
    [
        # short even at the top of its interval: the holdout shows it
        (
            {"tstr.hgb.dpr": 0.2, "tstr.hgb.dpr.ci_low": 0.0, "tstr.hgb.dpr.ci_high": 0.77},
            "interval",
        ),
        # a holdout large enough to resolve the threshold: the value decides
        (
            {"tstr.hgb.dpr": 0.77, "tstr.hgb.dpr.ci_low": 0.72, "tstr.hgb.dpr.ci_high": 0.82},
            "value",
        ),
        ({"tstr.hgb.dpr": math.nan}, "value"),  # NaN never passes, whatever its interval
    ],
)
def test_a_shortfall_fails_where_the_holdout_shows_it_or_resolves_the_threshold(change, judged_by):
    metrics = {**GOOD, **SMALL_HOLDOUT, **change}
    (dpr,) = [c for c in check_gate(metrics, THRESHOLDS) if not c.passed]
    assert (dpr.name, dpr.judged_by) == ("model_dpr", judged_by)
    if judged_by == "interval":
        assert dpr.failure().endswith("and so is its whole 95% interval [0.000, 0.770]")


def test_the_interval_rule_can_be_switched_off():
    strict = THRESHOLDS.model_copy(update={"unresolved_by_interval": False})
    short = {**GOOD, **SMALL_HOLDOUT, "tstr.hgb.dpr": 0.77}
    (dpr,) = [c for c in check_gate(short, strict) if not c.passed]
    assert dpr.judged_by == "value" and dpr.note() is None
    assert strict.looser_than(THRESHOLDS) == []
    assert THRESHOLDS.looser_than(strict) == ["unresolved_by_interval"]


@pytest.mark.parametrize(
    ("gate", "release"),
    [
        (GateThresholds(), CHAMPION),
        (GateThresholds(min_fairness_ratio=0.85, max_auroc_gap=0.01), CHAMPION),  # stricter
        (GateThresholds(max_auroc_gap=0.3), CHALLENGER),
        (GateThresholds(min_fairness_ratio=0.5), CHALLENGER),
        (GateThresholds(max_copy_rate_excess=0.01), CHALLENGER),
        (GateThresholds(min_fairness_ratio=0.95), REJECTED),
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
    assert metrics["fair.hgb.dpr"] > metrics["trtr.hgb.dpr"]  # the reference's labels are fair
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
    assert "fair reference AUROC" in page and "higher is better" in page
    assert "Fairness criterion: <code>dp</code>" in page
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
    assert (
        written["release"] == REJECTED and written["configured_gate"]["min_fairness_ratio"] == 0.8
    )
    assert written["criterion"] == "dp" and "fair.hgb.auroc" in written["metrics"]
    assert report.read_text() == page


def test_each_group_of_the_holdout_is_reported_with_the_rates_its_ratio_is_made_of(loans):
    spec, train, holdout = loans
    synthetic = train.with_columns(pl.col("gender").shuffle(seed=0))
    outcome = run_audit(train, holdout, synthetic, spec, AuditSettings(bootstrap_resamples=10))
    m = outcome.metrics
    groups = group_table(m, "tstr.hgb")
    counts = dict(holdout["gender"].value_counts().iter_rows())
    assert {g: n["rows"] for g, n in groups.items()} == counts
    rates = [n["selection_rate"] for n in groups.values()]
    assert min(rates) / max(rates) == pytest.approx(m["tstr.hgb.dpr"])
    assert group_table(m, "trtr.hgb").keys() == groups.keys()
    markdown = summary_markdown(outcome, "audit")
    for group, n in groups.items():
        assert f"| {group} | {int(n['rows']):,} | {int(n['positives']):,} | " in markdown
    assert f"would average DPR {m['tstr.hgb.dpr.at_parity']:.3f}" in markdown


def test_group_names_with_dots_and_ampersands_keep_their_numbers_apart():
    y_true = np.array([1, 0, 1, 0, 1, 1])
    groups = np.array(["3.5 & a.b", "3.5 & a.b", "x", "x", "x", "x"])
    scores = holdout_scores(y_true, y_true * 0.9, groups, n_resamples=0, random_state=0)
    table = group_table({f"tstr.hgb.{k}": v for k, v in scores.items()}, "tstr.hgb")
    assert table == {
        "3.5 & a.b": {"rows": 2.0, "positives": 1.0, "selection_rate": 0.5, "tpr": 1.0, "fpr": 0.0},
        "x": {"rows": 4.0, "positives": 3.0, "selection_rate": 0.75, "tpr": 1.0, "fpr": 0.0},
    }


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [
        (
            "dpr",
            "predicted positive rate 0.100 in b (50 holdout rows) to 0.500 in a (40 holdout rows)",
        ),
        (
            "eor",
            "false positive rate 0.000 in b (40 holdout negatives) to 0.200 in a (20 holdout negatives)",
        ),
    ],
)
def test_a_failed_fairness_check_names_the_groups_that_set_its_ratio(ratio, expected):
    # a: 40 rows, 20 positive, selects 16 positives and 4 negatives; b: 50 rows, 10 positive,
    # selects 5 positives and no negative
    y_true = np.r_[np.ones(20), np.zeros(20), np.ones(10), np.zeros(40)]
    y_pred = np.r_[np.ones(16), np.zeros(4), np.ones(4), np.zeros(16), np.ones(5), np.zeros(45)]
    groups = np.repeat(["a", "b"], [40, 50])
    scores = holdout_scores(y_true, y_pred * 0.9, groups, n_resamples=0, random_state=0)
    metrics = (
        {f"tstr.hgb.{k}": v for k, v in scores.items()}
        | {k: v for k, v in GOOD.items() if not k.startswith("tstr.hgb.")}
        | {"tstr.hgb.auroc": 0.88}
    )
    criterion = "dp" if ratio == "dpr" else "eo"
    check = check_gate(metrics, THRESHOLDS, criterion)[0]
    assert not check.passed and check.failure().endswith(expected)


def test_the_audit_works_on_bounded_samples_and_says_so(loans):
    spec, train, holdout = loans
    metrics = audit_table(train, holdout, train, spec, n_resamples=0, max_rows=100)
    assert metrics["rows.train"] == train.height and metrics["rows.audited.train"] == 100
    assert metrics["rows.audited.holdout"] == 100 and metrics["rows.audited.synthetic"] == 100
    assert metrics["privacy.exact_copy_rate"] == 1.0  # copies: every row, not the sample


def test_a_pass_under_a_looser_gate_says_it_is_published_as_a_challenger(loans):
    spec, train, holdout = loans
    synthetic = train.with_columns(pl.col("gender").shuffle(seed=0))
    gate = GateThresholds(min_fairness_ratio=0.0, max_auroc_gap=1.0, max_copy_rate_excess=1.0)
    outcome = run_audit(
        train, holdout, synthetic, spec, AuditSettings(bootstrap_resamples=0, gate=gate)
    )
    assert outcome.release == CHALLENGER
    assert outcome.looser_thresholds == [
        "min_fairness_ratio",
        "max_auroc_gap",
        "max_copy_rate_excess",
    ]
    markdown = summary_markdown(outcome, "audit")
    assert "> **Published under its run id only, not as the champion**" in markdown
    assert "min_fairness_ratio 0.0 (configured: 0.8)" in markdown
    assert '<div class="box box-warn">' in render_html(outcome, spec, train, synthetic)


def test_an_image_audit_is_summarised_with_its_cnn_rows():
    metrics = {
        **{k.replace("hgb", "cnn"): v for k, v in GOOD.items()},
        "tstr.cnn.accuracy": 0.85,
        "fair.cnn.accuracy": 0.9,
        "fidelity.frechet_distance": 1.5,
    }
    checks = check_gate(metrics, THRESHOLDS, classifier="cnn")
    outcome = AuditOutcome(metrics, checks, AuditSettings(), modality="image")
    assert outcome.classifier == "cnn" and outcome.passed
    markdown = summary_markdown(outcome, "audit")
    assert "| Accuracy | 0.850 | 0.900 | – | higher is better |" in markdown
    assert "| Fréchet distance (real vs synthetic" in markdown
    assert "AUROC | 0.880 | 0.890 | 0.920 |" in markdown and "Marginal similarity" not in markdown
    assert (
        "A small CNN trained on its synthetic table (dp) scores AUROC 0.880"
        in summary_paragraph(outcome, "colored-mnist")
    )


def test_what_to_try_names_the_settings_that_matter_for_the_table(loans):
    """A small table's advice speaks of its batches and its noisy groups; a large one's of beta
    and the step budget; both quote the fair reference."""
    from fairdistill.report import what_to_try

    failing = {**GOOD, "tstr.hgb.dpr": 0.5, "tstr.hgb.auroc": 0.5, "fair.hgb.dpr": 0.83}
    for rows, says in ((450, "a table of 450 rows is learnt in small batches"), (30_000, "")):
        metrics = {**failing, "rows.train": rows}
        outcome = AuditOutcome(metrics, check_gate(metrics, THRESHOLDS), AuditSettings())
        advice = what_to_try(outcome)
        assert (
            advice[0].startswith("model_dpr: ") and "reaches" in advice[0] and "0.830" in advice[0]
        )
        assert advice[1].startswith("tstr_auroc: ") and "teacher.steps" in advice[1]
        assert "fair reference reaches AUROC 0.890" in advice[1]
        assert says in advice[1]
        assert ("holdout's groups are small" in advice[0]) == (rows < 2000)


def fair_table(n: int = 4000, seed: int = 0, biased: bool = False) -> pl.DataFrame:
    """x ~ N(0, 1), s ∈ {a, b} (40/60), y the top 30% of x + noise in EACH group (labels with
    exactly equal group rates), or, ``biased``, shifted toward b."""
    rng = np.random.default_rng(seed)
    s = np.where(rng.random(n) < 0.4, "a", "b")
    x = rng.normal(size=n)
    signal = x + rng.normal(scale=0.7, size=n) + (1.5 * (s == "b") if biased else 0)
    frame = pl.DataFrame({"x": x, "job": rng.choice(["u", "v"], n), "s": s, "signal": signal})
    if biased:
        return frame.with_columns(
            (pl.col("signal") > pl.col("signal").quantile(0.7)).cast(pl.String).alias("y")
        )
    return frame.with_columns(
        (pl.col("signal").rank().over("s") > 0.7 * pl.len().over("s")).cast(pl.String).alias("y")
    )


FAIR_SPEC = DatasetSpec(
    name="toy",
    source="toy.csv",
    target="y",
    positive_label="true",
    sensitive=[{"column": "s", "privileged": "b"}],
    categorical=["job"],
    numeric=["x"],
)


def test_the_fair_reference_is_trtr_when_the_labels_are_already_fair():
    train, holdout = fair_table(seed=5), fair_table(seed=6)
    metrics = audit_table(train, holdout, train, FAIR_SPEC, n_resamples=0, criterion="dp")
    fair = {k[5:]: v for k, v in metrics.items() if k.startswith("fair.")}
    assert fair == {k[5:]: v for k, v in metrics.items() if k.startswith("trtr.")}
    assert fair_reference_table(train, FAIR_SPEC, "dp", random_state=3).equals(train)


@pytest.mark.parametrize("criterion", ["dp", "eo"])
def test_the_fair_reference_is_deterministic_and_fair_by_its_criterion(criterion):
    train = fair_table(seed=5, biased=True)  # not the labels' seed: the draws would correlate
    first = fair_reference_table(train, FAIR_SPEC, criterion, random_state=0)
    assert first.equals(fair_reference_table(train, FAIR_SPEC, criterion, random_state=0))
    assert not first.equals(fair_reference_table(train, FAIR_SPEC, criterion, random_state=1))
    assert first.drop("y").equals(train.drop("y"))  # only labels change
    rates = first.group_by("s").agg((pl.col("y") == "true").mean()).sort("s")["y"].to_list()
    real = train.group_by("s").agg((pl.col("y") == "true").mean()).sort("s")["y"].to_list()
    if criterion == "dp":
        assert rates[0] == pytest.approx(rates[1], abs=0.03) and real[1] - real[0] > 0.3
    else:  # equal error rates, not equal positive rates: the bias in y stays partly
        assert real[1] - real[0] > rates[1] - rates[0] > 0.1


def test_audit_parts_side_by_side_keep_their_order_and_the_callers_settings():
    """The parts come back in the order given, and each ran with the caller's scikit-learn
    settings (thread-local: a thread does not inherit them)."""
    from sklearn import config_context, get_config

    def seen(tag):
        def part():
            time.sleep(0.05 if tag == "first" else 0)  # the first to start ends last
            return {tag: get_config()["working_memory"]}

        return part

    with config_context(working_memory=16):
        results = side_by_side([seen("first"), seen("second"), seen("third")])
    assert results == [{"first": 16}, {"second": 16}, {"third": 16}]
