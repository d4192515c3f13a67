"""The audit report: one self-contained HTML page (plots inlined as PNG, no CDN) and a markdown summary.

The summary says what was released and why: each gate check with the origin of its threshold, what
was published (or a "what to try" box when nothing was), and every number under a human name with
the direction that is better. The figures are drawn by `fairdistill.plots`.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import polars as pl

from fairdistill import plots
from fairdistill.audit import (
    CHALLENGER,
    CHAMPION,
    CRITERION_RATIO,
    GATE_CLASSIFIER,
    HEADLINE,
    REJECTED,
    AuditOutcome,
    GateCheck,
    comparable,
    group_table,
    metric_interval,
)
from fairdistill.errors import GATE_ADVICE, GATE_ADVICE_ANY, GATE_ADVICE_SMALL_TABLE, GATE_FAILED
from fairdistill.ingest import SMALL_TABLE_ROWS
from fairdistill.lake import atomic_write, write_json
from fairdistill.spec import DatasetSpec

HIGHER, LOWER, HALF = "higher is better", "lower is better", "closer to 0.5 is better"
# What each check of the gate measures, in words (`fairdistill.audit.check_gate` names them).
CHECK_NAMES = {
    "model_dpr": "demographic parity ratio of a classifier trained on the synthetic table",
    "model_eor": "equalized-odds ratio of a classifier trained on the synthetic table",
    "tstr_auroc": "AUROC of that classifier on the real holdout",
    "exact_copy_rate": "share of synthetic rows identical to a training row",
}
# (label, metric, better): classifiers trained on the synthetic table, on the fair reference (real
# train with labels made fair by the run's criterion) and on real train, scored on the real holdout
# (the gate's classifier: gradient-boosted trees for tables).
FAIR = "higher is better (1 = fair)"
PREDICTION_DPR = "Demographic parity ratio of predictions (min/max positive rate over groups)"
PREDICTION_EOR = "Equalized-odds ratio of predictions (TPR and FPR, min/max over groups)"
HEADLINE_ROWS = [
    (PREDICTION_DPR, "dpr", FAIR),
    (PREDICTION_EOR, "eor", FAIR),
    ("AUROC", "auroc", HIGHER),
    ("Accuracy", "accuracy", HIGHER),
    ("F1", "f1", HIGHER),
]
TRAINED_ON = (("tstr", "synthetic"), ("fair", "fair reference"), ("trtr", "real"))
# (key, label, better): fidelity, privacy and leakage of the synthetic table.
DETAIL_ROWS = [
    ("fidelity.marginal", "Marginal similarity (1 − TVD or 1 − KS, mean over columns)", HIGHER),
    ("fidelity.association", "Association similarity (pairwise, real vs synthetic)", HIGHER),
    ("fidelity.detection_auc", "Detection AUC (a classifier telling synthetic from real)", HALF),
    ("fidelity.alpha_precision", "α-precision (synthetic rows that look like real ones)", HIGHER),
    ("fidelity.beta_recall", "β-recall (real rows the synthetic table covers)", HIGHER),
    ("fidelity.authenticity", "Authenticity (synthetic rows that are not near-copies)", HIGHER),
    ("fidelity.density", "Density (synthetic rows inside real neighbourhoods)", "closer to 1"),
    ("fidelity.coverage", "Coverage (real neighbourhoods holding a synthetic row)", HIGHER),
    ("privacy.exact_copy_rate", "Exact copies of training rows", LOWER),
    (
        "privacy.dcr_synthetic_median",
        "Median distance of a synthetic row to its closest training row",
        "close to the holdout's (below: too close)",
    ),
    (
        "privacy.dcr_holdout_median",
        "Median distance of a real holdout row to its closest training row",
        "the reference of the line above",
    ),
    ("latent.leakage_auroc", "Sensitive attribute predicted from the latent (AUROC)", HALF),
]
CNN = GATE_CLASSIFIER["image"]
# The same for images (`models.image_audit`): the audit's CNN, also beside the fair reference (real
# train resampled so that the label is independent of the group, when every group has every label).
IMAGE_HEADLINE_ROWS = [
    (PREDICTION_DPR, "dpr", FAIR),
    ("Accuracy", "accuracy", HIGHER),
    ("AUROC", "auroc", HIGHER),
    ("Accuracy gap between groups", "accuracy_gap", LOWER),
    (PREDICTION_EOR, "eor", FAIR),
]
_DETAIL = {row[0]: row for row in DETAIL_ROWS}
IMAGE_DETAIL_ROWS = [
    _DETAIL["latent.leakage_auroc"],
    (
        "fidelity.frechet_distance",
        "Fréchet distance (real vs synthetic, in an autoencoder's embedding of real train)",
        LOWER,
    ),
    ("fidelity.precision", "Precision (synthetic images inside the real images' manifold)", HIGHER),
    ("fidelity.recall", "Recall (real images inside the synthetic images' manifold)", HIGHER),
    _DETAIL["fidelity.density"],
    _DETAIL["fidelity.coverage"],
    ("privacy.exact_copy_rate", "Exact copies of training images (identical pixels)", LOWER),
    (
        "privacy.near_copy_rate",
        "Near copies (closer to a training image than any holdout image is)",
        LOWER,
    ),
    (
        "privacy.nn_synthetic_median",
        "Median pixel distance of a synthetic image to its closest training image",
        "close to the holdout's (below: too close)",
    ),
    (
        "privacy.nn_holdout_median",
        "Median pixel distance of a real holdout image to its closest training image",
        "the reference of the line above",
    ),
]
# The summary's (headline, detail) rows per modality (`AuditOutcome.modality`).
SUMMARY_ROWS = {
    "table": (HEADLINE_ROWS, DETAIL_ROWS),
    "image": (IMAGE_HEADLINE_ROWS, IMAGE_DETAIL_ROWS),
}
# How the summary paragraph names the gate's classifier.
CLASSIFIER_NAMES = {HEADLINE: "gradient-boosted classifier", CNN: "small CNN"}
# The release box: its title and style per release (`AuditOutcome.release`).
RELEASE_BOXES = {
    CHAMPION: ("Published", "pass"),
    CHALLENGER: ("Published under its run id only, not as the champion", "warn"),
    REJECTED: ("Not published — what to try", "fail"),
}


def _fmt(value) -> str:
    return (
        "–" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.3f}"
    )


def _interval(metrics: dict[str, float], key: str) -> str:
    interval = metric_interval(metrics, key)
    return f" [{_fmt(interval[0])}, {_fmt(interval[1])}]" if interval else ""


def _margin(check: GateCheck) -> str:
    """How far inside (+) or outside (−) its threshold a check's value is."""
    margin = 0.0 - check.gap  # 0.0 − x: no negative zero
    return "–" if np.isnan(check.value) else f"{margin:+.3f}".replace("-", "−")


def _result(check: GateCheck) -> str:
    """``pass`` or ``FAIL``, and when the holdout was too small to resolve the threshold, that the
    check's 95% interval decided it (`fairdistill.audit.judge`)."""
    result = "pass" if check.passed else "FAIL"
    return f"{result} (by its {check.interval_text})" if check.judged_by == "interval" else result


def release_lines(outcome: AuditOutcome) -> list[str]:
    """The release box, as markdown quote lines: what was published, or what to try."""
    title, _ = RELEASE_BOXES[outcome.release]
    lines = [f"> **{title}**", ">"]
    if outcome.release == CHAMPION:
        lines.append("> The table becomes `latest` and its model version @champion.")
    elif outcome.release == CHALLENGER:
        looser = ", ".join(
            f"{name} {getattr(outcome.settings.gate, name)} (configured: "
            f"{getattr(outcome.configured_gate, name)})"
            for name in outcome.looser_thresholds
        )
        lines.append(
            f"> This run's gate is looser than the configured one: {looser}. The table is "
            "published under its run id, but `latest` and @champion do not move; the model "
            "version gets the @challenger alias."
        )
    else:
        lines += [f"> - {advice}" for advice in what_to_try(outcome)]
    return lines


def what_to_try(outcome: AuditOutcome) -> list[str]:
    """Advice for each failed check of the gate (for a table under `SMALL_TABLE_ROWS` training rows,
    the small table's own), then for the thresholds themselves."""
    m = outcome.metrics
    rows = int(m.get("rows.train", 0))
    advice = GATE_ADVICE_SMALL_TABLE if rows < SMALL_TABLE_ROWS else GATE_ADVICE
    ratio = CRITERION_RATIO[outcome.criterion]
    values = {
        "rows": rows,
        "ratio": ratio.upper(),
        "fair_ratio": _fmt(m.get(f"fair.{outcome.classifier}.{ratio}")),
        "fair_auroc": _fmt(m.get(f"fair.{outcome.classifier}.auroc")),
        "trtr_auroc": _fmt(m.get(f"trtr.{outcome.classifier}.auroc")),
    }
    failed = [check.name for check in outcome.checks if not check.passed]
    return [f"{name}: {advice[name].format(**values)}" for name in failed if name in advice] + [
        GATE_ADVICE_ANY
    ]


def rejection_message(dataset: str, outcome: AuditOutcome, folder: Path) -> str:
    """The one message of a rejection (`errors.GATE_FAILED`): what failed and by how much, where
    the table and its report are (`folder`, their final place), and what to try."""
    return GATE_FAILED.format(
        dataset=dataset,
        failures="; ".join(outcome.failures),
        folder=folder,
        report=Path(folder) / "report.html",
        advice="; ".join(what_to_try(outcome)),
    )


def summary_markdown(outcome: AuditOutcome, title: str, links: dict[str, str] | None = None) -> str:
    """The gate, the release and the headline numbers as markdown (Prefect artifact, CLI, report);
    `links` (name → URL or path) are listed at the end."""
    metrics, (headline, details) = outcome.metrics, SUMMARY_ROWS[outcome.modality]
    verdict = "PASSED" if outcome.passed else "FAILED"
    lines = [f"# {title}", "", f"**Gate: {verdict}**", ""]
    lines += [
        "| check | what it measures | value | rule | threshold from | margin | result |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {c.name} | {CHECK_NAMES.get(c.name, '')} | {_fmt(c.value)} | {c.rule}\u00a0"
        f"{_fmt(c.threshold)} | {c.origin} | {_margin(c)} | {_result(c)} |"
        for c in outcome.checks
    ]
    lines += ["", *[f"Note: {note}." for note in outcome.notes]]
    lines += ["", *release_lines(outcome), ""]
    lines += [
        f"Fairness criterion: `{outcome.criterion}`. The fair reference is real train with its "
        f"labels made fair by that criterion: real → fair reference is the price of fairness on "
        f"this data, fair reference → synthetic the price of synthesis.",
        "",
        "| classifier on the real holdout, trained on: | synthetic | fair reference | real | better |",
        "|---|---|---|---|---|",
    ]
    for label, key, better in headline:
        cells = [f"{prefix}.{outcome.classifier}.{key}" for prefix, _ in TRAINED_ON]
        values = " | ".join(f"{_fmt(metrics.get(c))}{_interval(metrics, c)}" for c in cells)
        lines.append(f"| {label} | {values} | {better} |")
    data = ("data.synthetic.dpr", "data.real.dpr")
    lines.append(
        "| Demographic parity ratio of the labels in the table | "
        f"{_fmt(metrics.get(data[0]))} | – | {_fmt(metrics.get(data[1]))} | {FAIR} |"
    )
    lines += group_lines(outcome)
    lines += ["", "| fidelity, privacy, leakage | value | better |", "|---|---|---|"]
    lines += [
        f"| {label} | {_fmt(metrics[key])} | {better} |"
        for key, label, better in details
        if key in metrics
    ]
    lines += [
        f"| Rows where {name.replace('->', ' determines ')} (found in train), real holdout / "
        f"synthetic | {_fmt(metrics.get(f'fidelity.fd.{name}.real'))} / "
        f"{_fmt(metrics[key])} | higher is better (1 = kept, as in real) |"
        for name, key in dependency_keys(metrics)
    ]
    if links:
        lines += ["", "| where | |", "|---|---|"]
        lines += [f"| {name} | {target} |" for name, target in links.items()]
    return "\n".join(lines) + "\n"


def group_lines(outcome: AuditOutcome) -> list[str]:
    """Each sensitive group of the holdout: its rows and the rates of the gate's classifier trained
    on the synthetic table, whose min/max is the fairness ratio; with what equal rates would
    average on these rows, since a group of few rows moves the ratio by chance alone."""
    prefix = f"tstr.{outcome.classifier}"
    table = group_table(outcome.metrics, prefix)
    if not table:
        return []
    lines = [
        "",
        "| sensitive group (real holdout) | rows | of which positive | predicted positive rate | "
        "true positive rate | false positive rate |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {group} | {int(numbers['rows']):,} | {int(numbers['positives']):,} | "
        f"{_fmt(numbers['selection_rate'])} | {_fmt(numbers['tpr'])} | {_fmt(numbers['fpr'])} |"
        for group, numbers in table.items()
    ]
    m = outcome.metrics
    text = (
        f"Rates of the {CLASSIFIER_NAMES[outcome.classifier]} trained on the synthetic table: "
        f"DPR = min/max of the predicted positive rates ({_fmt(m.get(f'{prefix}.dpr'))}), EOR the "
        f"smaller of the same for the true and false positive rates ({_fmt(m.get(f'{prefix}.eor'))})."
    )
    if f"{prefix}.dpr.at_parity" in m:
        text += (
            " A classifier with equal rates in every group would average DPR "
            f"{_fmt(m[f'{prefix}.dpr.at_parity'])} and EOR {_fmt(m[f'{prefix}.eor.at_parity'])} "
            "on these rows: below 1 by the small groups' chance alone."
        )
    return [*lines, "", text]


def dependency_keys(metrics: dict[str, float]) -> list[tuple[str, str]]:
    """``(A->B, its synthetic metric)`` of each functional dependency the audit reports."""
    prefix, suffix = "fidelity.fd.", ".synthetic"
    return [
        (key[len(prefix) : -len(suffix)], key)
        for key in metrics
        if key.startswith(prefix) and key.endswith(suffix)
    ]


def summary_paragraph(outcome: AuditOutcome, dataset: str) -> str:
    """One paragraph on what an audit found and released (a model version's description)."""
    m, run, gate, c = outcome.metrics, outcome.run, outcome.settings.gate, outcome.classifier
    thresholds = ", ".join(f"{k} {json.dumps(v)}" for k, v in gate.model_dump().items())
    ratio = CRITERION_RATIO[outcome.criterion]
    looser = (
        f", looser than the configured gate in {', '.join(outcome.looser_thresholds)}"
        if outcome.looser_thresholds
        else ""
    )
    return (
        f"Released as {outcome.release} by a refresh of {dataset} (lake run {run.get('run_id')}, "
        f"MLflow run {run.get('mlflow_run_id')}). A {CLASSIFIER_NAMES[c]} trained on its "
        f"synthetic table ({outcome.criterion}) scores AUROC "
        f"{_fmt(m.get(f'tstr.{c}.auroc'))} on the real holdout at {ratio.upper()} "
        f"{_fmt(m.get(f'tstr.{c}.{ratio}'))}, against AUROC "
        f"{_fmt(m.get(f'fair.{c}.auroc'))} at {_fmt(m.get(f'fair.{c}.{ratio}'))} "
        f"when trained on real rows with labels made fair by the same criterion, and "
        f"{_fmt(m.get(f'trtr.{c}.auroc'))} at {_fmt(m.get(f'trtr.{c}.{ratio}'))} "
        f"when trained on the real table. The audit gate {'passed' if outcome.passed else 'failed'} "
        f"under {thresholds}{looser}. Dataset fingerprint {run.get('fingerprint')}, code "
        f"{run.get('code_version')}."
    )


def _markdown_table_to_html(markdown: str) -> str:
    """The summary's markdown (headings, bold line, pipe tables, quote boxes) as HTML: no converter
    needed."""
    out, rows, box = [], [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith(">"):
            box.append(line.lstrip("> ").strip())
            continue
        if box:
            out.append(_box_html(box))
            box = []
        if line.startswith("|"):
            if not set(line) <= set("|-"):
                rows.append([html.escape(cell.strip()) for cell in line.strip("|").split("|")])
            continue
        if rows:
            head, *body = rows
            cells = "".join(f"<th>{c}</th>" for c in head)
            trs = "".join(
                "<tr>"
                + "".join(f'<td class="{c.split(" ")[0].lower()}">{c}</td>' for c in row)
                + "</tr>"
                for row in body
            )
            out.append(f"<table><thead><tr>{cells}</tr></thead><tbody>{trs}</tbody></table>")
            rows = []
        if line.startswith("# "):
            out.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("**"):
            verdict = "pass" if "PASSED" in line else "fail"
            out.append(f'<p class="verdict {verdict}">{html.escape(line.strip("*"))}</p>')
        elif line.strip():
            out.append(f"<p>{_code(line)}</p>")
    return "\n".join(out)


def _code(text: str) -> str:
    """Escaped text with `name` spans as <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _box_html(lines: list[str]) -> str:
    """A release box: its bold title (a `RELEASE_BOXES` title sets the style), text and items."""
    title, *rest = [line for line in lines if line]
    title = title.strip("*")
    style = next((s for t, s in RELEASE_BOXES.values() if t == title), "plain")
    items = "".join(f"<li>{_code(x[2:])}</li>" for x in rest if x.startswith("- "))
    text = "".join(f"<p>{_code(x)}</p>" for x in rest if not x.startswith("- "))
    listed = f"<ul>{items}</ul>" if items else ""
    return f'<div class="box box-{style}"><p class="box-title">{html.escape(title)}</p>{text}{listed}</div>'


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1150px;margin:2em auto;
color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.8em 0}td,th{border:1px solid #ddd;padding:.3em .7em;text-align:left}
th{background:#f4f4f4}.verdict{font-size:1.3em;font-weight:bold;padding:.4em .8em;display:inline-block}
.pass{color:#1a7f37}.fail{color:#cf222e}.verdict.pass{background:#dafbe1}.verdict.fail{background:#ffebe9}
.meta{color:#666;font-size:.9em}img{max-width:100%;display:block}
.box{border-left:6px solid #999;background:#f6f8fa;padding:.4em 1em;margin:1em 0}
.box-pass{border-color:#1a7f37}.box-warn{border-color:#bf8700;background:#fff8c5}
.box-fail{border-color:#cf222e;background:#ffebe9}.box-title{font-weight:bold;font-size:1.1em}
td.fail{color:#cf222e;font-weight:bold}
"""


def html_page(outcome: AuditOutcome, title: str, summary: str, figures: list[tuple]) -> str:
    """One HTML page that renders offline: the summary markdown, the run's identity, then each
    ``(caption, base64 PNG)`` figure."""
    meta = " · ".join(f"{html.escape(k)}: {html.escape(str(v))}" for k, v in outcome.run.items())
    body = "\n".join(
        f'<h2>{html.escape(caption)}</h2><img alt="{html.escape(caption)}" src="data:image/png;base64,{png}">'
        for caption, png in figures
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<style>{STYLE}</style></head><body>{_markdown_table_to_html(summary)}<p class="meta">{meta}</p>{body}</body></html>\n'
    )


def render_html(
    outcome: AuditOutcome, spec: DatasetSpec, train: pl.DataFrame, synthetic: pl.DataFrame
) -> str:
    """The whole report as one HTML page that renders offline."""
    metrics = outcome.metrics
    train, synthetic = comparable(train, spec), comparable(synthetic, spec)
    title = f"fairdistill audit — {spec.name}"
    figures = [
        ("Who gets the positive outcome", plots.positive_rates(metrics, outcome.classifier)),
        (
            "Fairness and utility of classifiers trained on each table (95% intervals): "
            "real → fair reference is the price of fairness, fair reference → synthetic the price "
            "of synthesis",
            plots.fairness_utility(metrics, outcome.checks, outcome.criterion),
        ),
        ("Marginals of key columns", plots.marginals(train, synthetic, spec)),
        ("Associations between columns", plots.associations(train, synthetic, spec)),
    ]
    return html_page(outcome, title, summary_markdown(outcome, title), figures)


def write_audit(
    outcome: AuditOutcome,
    folder: Path,
    spec: DatasetSpec,
    train: pl.DataFrame,
    synthetic: pl.DataFrame,
    render=render_html,
) -> tuple[Path, Path]:
    """Write `audit.json` and `report.html` (the page ``render`` draws: an image audit's is
    `fairdistill.image_report.render_image_html`) into ``folder``; returns their paths."""
    folder = Path(folder)
    numbers = write_json(outcome.to_dict(), folder / "audit.json")
    page = render(outcome, spec, train, synthetic)
    report = atomic_write(folder / "report.html", lambda tmp: tmp.write_text(page))
    return numbers, report
