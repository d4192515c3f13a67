"""The audit report: one self-contained HTML page (plots inlined as PNG, no CDN) and a markdown summary.

Plots: P(y=1|s) real vs synthetic, the fairness–utility point of each classifier (TSTR vs TRTR),
marginals of the key columns, and association heatmaps real vs synthetic.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")
from pathlib import Path  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from fairdistill.audit import CLASSIFIERS, HEADLINE, AuditOutcome, comparable  # noqa: E402
from fairdistill.lake import atomic_write, write_json  # noqa: E402
from fairdistill.metrics import association_matrix  # noqa: E402
from fairdistill.spec import DatasetSpec  # noqa: E402

REAL, SYNTHETIC = "#4c72b0", "#dd8452"
HEADLINE_ROWS = [
    (
        "Model-level DPR (TSTR, gradient-boosted trees)",
        f"tstr.{HEADLINE}.dpr",
        f"trtr.{HEADLINE}.dpr",
    ),
    ("AUROC (TSTR vs TRTR)", f"tstr.{HEADLINE}.auroc", f"trtr.{HEADLINE}.auroc"),
    ("Equalized-odds ratio", f"tstr.{HEADLINE}.eor", f"trtr.{HEADLINE}.eor"),
    ("Accuracy", f"tstr.{HEADLINE}.accuracy", f"trtr.{HEADLINE}.accuracy"),
    ("Data-level DPR", "data.synthetic.dpr", "data.real.dpr"),
]


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def positive_rate_plot(metrics: dict[str, float]) -> str:
    groups = sorted(
        k.rsplit(".", 1)[1] for k in metrics if k.startswith("data.real.positive_rate.")
    )
    fig, ax = plt.subplots(figsize=(5, 3))
    x = np.arange(len(groups))
    for offset, (table, color) in zip(
        (-0.2, 0.2), (("real", REAL), ("synthetic", SYNTHETIC)), strict=True
    ):
        rates = [metrics.get(f"data.{table}.positive_rate.{g}", np.nan) for g in groups]
        ax.bar(x + offset, rates, width=0.4, color=color, label=table)
    ax.set_xticks(x, groups)
    ax.set_ylabel("P(y = positive | group)")
    ax.set_title("Positive rate per sensitive group")
    ax.legend()
    return _png(fig)


def fairness_utility_plot(metrics: dict[str, float], min_dpr: float) -> str:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for model, marker in zip(CLASSIFIERS, ("o", "s"), strict=True):
        for kind, color in (("trtr", REAL), ("tstr", SYNTHETIC)):
            dpr, auroc = metrics[f"{kind}.{model}.dpr"], metrics[f"{kind}.{model}.auroc"]
            xerr = _error(metrics, f"{kind}.{model}.dpr")
            yerr = _error(metrics, f"{kind}.{model}.auroc")
            ax.errorbar(
                dpr,
                auroc,
                xerr=xerr,
                yerr=yerr,
                fmt=marker,
                color=color,
                label=f"{'synthetic' if kind == 'tstr' else 'real'} → holdout ({model})",
            )
    ax.axvline(min_dpr, color="grey", linestyle="--", linewidth=1, label=f"gate DPR ≥ {min_dpr}")
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("demographic parity ratio of predictions (1 = fair)")
    ax.set_ylabel("AUROC on the real holdout")
    ax.set_title("Fairness vs utility")
    ax.legend(fontsize=7, loc="lower left")
    return _png(fig)


def _error(metrics: dict[str, float], key: str):
    low, high = metrics.get(f"{key}.ci_low"), metrics.get(f"{key}.ci_high")
    if low is None or high is None:
        return None
    value = metrics[key]
    return [[max(value - low, 0)], [max(high - value, 0)]]


def marginal_plots(
    real: pl.DataFrame, synthetic: pl.DataFrame, spec: DatasetSpec, numeric: int = 3
) -> str:
    columns = [spec.target, *spec.sensitive_columns, *spec.numeric[:numeric]]
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 2.8))
    for ax, column in zip(np.atleast_1d(axes), columns, strict=True):
        if column in spec.numeric:
            values = [t[column].drop_nulls().cast(pl.Float64).to_numpy() for t in (real, synthetic)]
            bins = np.histogram_bin_edges(np.concatenate(values), bins=30)
            for v, color, label in zip(
                values, (REAL, SYNTHETIC), ("real", "synthetic"), strict=True
            ):
                ax.hist(v, bins=bins, density=True, alpha=0.55, color=color, label=label)
        else:
            shares = [
                t[column].cast(pl.String).value_counts(normalize=True) for t in (real, synthetic)
            ]
            levels = sorted(shares[0][column].drop_nulls().to_list())[:8]
            x = np.arange(len(levels))
            for offset, share, color, label in zip(
                (-0.2, 0.2), shares, (REAL, SYNTHETIC), ("real", "synthetic"), strict=True
            ):
                lookup = dict(
                    zip(share[column].to_list(), share["proportion"].to_list(), strict=True)
                )
                ax.bar(
                    x + offset,
                    [lookup.get(level, 0) for level in levels],
                    width=0.4,
                    color=color,
                    label=label,
                )
            ax.set_xticks(x, levels, rotation=30, fontsize=7)
        ax.set_title(column, fontsize=9)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return _png(fig)


def association_plots(real: pl.DataFrame, synthetic: pl.DataFrame, spec: DatasetSpec) -> str:
    kinds = {
        "categorical": [*spec.categorical, spec.target, *spec.sensitive_columns],
        "numeric": [*spec.numeric, *spec.datetime],
    }
    labels = [*kinds["categorical"], *kinds["numeric"]]
    sample = min(real.height, synthetic.height, 10_000)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    for ax, table, title in zip(axes, (real, synthetic), ("real train", "synthetic"), strict=True):
        matrix = association_matrix(table.sample(sample, seed=0), **kinds, role=title)
        image = ax.imshow(np.abs(matrix), vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_title(f"association, {title}")
    fig.colorbar(image, ax=axes, shrink=0.8, label="|r|, Cramér's V or η")
    return _png(fig)


def _fmt(value) -> str:
    return (
        "–" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.3f}"
    )


def _interval(metrics: dict[str, float], key: str) -> str:
    low, high = metrics.get(f"{key}.ci_low"), metrics.get(f"{key}.ci_high")
    return f" [{_fmt(low)}, {_fmt(high)}]" if low is not None else ""


MORE = [
    "fidelity.marginal",
    "fidelity.association",
    "fidelity.detection_auc",
    "fidelity.alpha_precision",
    "fidelity.beta_recall",
    "fidelity.authenticity",
    "fidelity.density",
    "fidelity.coverage",
    "privacy.exact_copy_rate",
    "privacy.dcr_synthetic_median",
    "privacy.dcr_holdout_median",
    "latent.leakage_auroc",
]


def summary_markdown(
    outcome: AuditOutcome, title: str, rows: list[tuple] = HEADLINE_ROWS, more: list[str] = MORE
) -> str:
    """The headline numbers and the gate, as markdown (Prefect artifact, README-friendly).

    ``rows``: (label, synthetic key, reference key) of the headline table; ``more``: the keys of
    the fidelity, privacy and leakage table (the image audit passes its own)."""
    metrics, checks = outcome.metrics, outcome.checks
    verdict = "PASSED" if outcome.passed else "FAILED"
    lines = [
        f"# {title}",
        "",
        f"**Gate: {verdict}**",
        "",
        "| check | value | rule | result |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {c.name} | {_fmt(c.value)} | {c.rule} {_fmt(c.threshold)} | {'pass' if c.passed else 'FAIL'} |"
        for c in checks
    ]
    lines += ["", "| metric | synthetic | real (reference) |", "|---|---|---|"]
    lines += [
        f"| {label} | {_fmt(metrics.get(ours))}{_interval(metrics, ours)} | {_fmt(metrics.get(ref))} |"
        for label, ours, ref in rows
    ]
    lines += ["", "| fidelity, privacy, leakage | value |", "|---|---|"]
    lines += [f"| {key} | {_fmt(metrics[key])} |" for key in more if key in metrics]
    return "\n".join(lines) + "\n"


def _markdown_table_to_html(markdown: str) -> str:
    """The summary's markdown (headings, bold line, pipe tables) as HTML: no converter needed."""
    out, rows = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            if not set(line) <= set("|-"):
                rows.append([html.escape(cell.strip()) for cell in line.strip("|").split("|")])
            continue
        if rows:
            head, *body = rows
            cells = "".join(f"<th>{c}</th>" for c in head)
            trs = "".join(
                "<tr>" + "".join(f'<td class="{c.lower()}">{c}</td>' for c in row) + "</tr>"
                for row in body
            )
            out.append(f"<table><thead><tr>{cells}</tr></thead><tbody>{trs}</tbody></table>")
            rows = []
        if line.startswith("# "):
            out.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("**"):
            verdict = "pass" if "PASSED" in line else "fail"
            out.append(f'<p class="verdict {verdict}">{html.escape(line.strip("*"))}</p>')
    return "\n".join(out)


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1150px;margin:2em auto;
color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.8em 0}td,th{border:1px solid #ddd;padding:.3em .7em;text-align:left}
th{background:#f4f4f4}.verdict{font-size:1.3em;font-weight:bold;padding:.4em .8em;display:inline-block}
.pass{color:#1a7f37}.fail{color:#cf222e}.verdict.pass{background:#dafbe1}.verdict.fail{background:#ffebe9}
.meta{color:#666;font-size:.9em}img{max-width:100%}
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
    metrics, min_dpr = outcome.metrics, outcome.settings.gate.min_model_dpr
    train, synthetic = comparable(train, spec), comparable(synthetic, spec)
    title = f"fairdistill audit — {spec.name}"
    figures = [
        ("Who gets the positive outcome", positive_rate_plot(metrics)),
        (
            "Fairness and utility of classifiers trained on each table (95% bootstrap intervals)",
            fairness_utility_plot(metrics, min_dpr),
        ),
        ("Marginals of key columns", marginal_plots(train, synthetic, spec)),
        ("Associations between columns", association_plots(train, synthetic, spec)),
    ]
    return html_page(outcome, title, summary_markdown(outcome, title), figures)


def write_audit(
    outcome: AuditOutcome,
    folder: Path,
    spec: DatasetSpec,
    train: pl.DataFrame,
    synthetic: pl.DataFrame,
) -> tuple[Path, Path]:
    """Write `audit.json` and `report.html` into ``folder``; returns their paths."""
    folder = Path(folder)
    numbers = write_json(outcome.to_dict(), folder / "audit.json")
    page = render_html(outcome, spec, train, synthetic)
    report = atomic_write(folder / "report.html", lambda tmp: tmp.write_text(page))
    return numbers, report
