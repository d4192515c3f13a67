"""Tables and plots of the benchmark runs (benchmarks/run.py calls `report`).

Writes, under benchmarks/results/: ``runs-<profile>.parquet`` (one row per run, every audit number),
``summary-<profile>.parquet`` (mean, std and n over seeds per dataset × method),
``benchmarks-<profile>.md`` and ``frontier-<profile>.png`` / ``cost-<profile>.png``. With
``publish`` the markdown goes to docs/benchmarks.md and the plots to docs/benchmarks/.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DOCS = HERE.parent / "docs"

PEERS = ("tabfairgdt", "tabfairgdt-lamda-1", "tabfairgan", "ctgan")
FAIR_PEERS = ("tabfairgdt", "tabfairgdt-lamda-1", "tabfairgan")  # with a fairness setting
HEADLINE_METHODS = ("real", "fairdistill", *PEERS)
ABLATIONS = (
    "fairdistill",
    "fd-teacher-only",
    "fd-faithful",
    "fd-eo",
    "fd-beta-0",
    "fd-sampler-ddpm",
    "fd-sampler-prior",
)
LAMBDA_SWEEP = [
    ("fd-lambda-0", 0.0),
    ("fd-lambda-0.5", 0.5),
    ("fd-lambda-0.8", 0.8),
    ("fairdistill", 1.0),
]
BETA_SWEEP = [  # the dcor penalty's weight
    ("fd-beta-0", 0.0),
    ("fd-beta-3", 3.0),
    ("fairdistill", 10.0),
    ("fd-beta-30", 30.0),
]
LABELS = {
    "real": "real train (ceiling)",
    "fairdistill": "fairdistill (default)",
    "fd-teacher-only": "teacher only (no distillation)",
    "fd-faithful": "faithful decoding",
    "fd-eo": "eo labels (equalized odds)",
    "fd-beta-0": "β = 0 (teacher and student)",
    "fd-sampler-ddpm": "sampler: latent DDPM",
    "fd-sampler-prior": "sampler: N(0, I) prior",
    "tabfairgdt": "TabFairGDT",
    "tabfairgdt-lamda-1": "TabFairGDT (λ = 1)",
    "tabfairgan": "TabFairGAN",
    "ctgan": "CTGAN",
}

# Metrics summarised (audit names are prefixed "m." in the runs table).
METRICS = {
    "auroc": "m.tstr.hgb.auroc",
    "dpr": "m.tstr.hgb.dpr",
    "eor": "m.tstr.hgb.eor",
    "f1": "m.tstr.hgb.f1",
    "acc": "m.tstr.hgb.accuracy",
    "lr_auroc": "m.tstr.logistic.auroc",
    "lr_dpr": "m.tstr.logistic.dpr",
    "data_dpr": "m.data.synthetic.dpr",
    "quality": "quality",
    "detection": "m.fidelity.detection_auc",
    "marginal": "m.fidelity.marginal",
    "association": "m.fidelity.association",
    "alpha_precision": "m.fidelity.alpha_precision",
    "beta_recall": "m.fidelity.beta_recall",
    "density": "m.fidelity.density",
    "coverage": "m.fidelity.coverage",
    "copies": "m.privacy.exact_copy_rate",
    "dcr_ratio": "m.privacy.dcr_closer_than_holdout_p5",
    "leakage": "m.latent.leakage_auroc",
    "train_s": "train_wall_s",
    "train_cpu_s": "train_cpu_s",
    "rows_per_s": "sample_rows_per_s",
    "rss_mb": "peak_rss_mb",
    "params": "n_params",
    "trtr_auroc": "m.trtr.hgb.auroc",
    "trtr_dpr": "m.trtr.hgb.dpr",
}


def add_quality(runs: pl.DataFrame) -> pl.DataFrame:
    """One fidelity score in [0, 1] (1 = indistinguishable from real train): the mean of marginal
    and association similarity, α-precision, β-recall, min(density, 1), coverage and the detection
    score 1 − 2·|AUC − ½|."""
    parts = [
        pl.col("m.fidelity.marginal"),
        pl.col("m.fidelity.association"),
        pl.col("m.fidelity.alpha_precision"),
        pl.col("m.fidelity.beta_recall"),
        pl.min_horizontal(pl.col("m.fidelity.density"), pl.lit(1.0)),
        pl.col("m.fidelity.coverage"),
        1 - 2 * (pl.col("m.fidelity.detection_auc") - 0.5).abs(),
    ]
    return runs.with_columns((pl.sum_horizontal(parts) / len(parts)).alias("quality"))


def load(store: Path) -> pl.DataFrame:
    rows = [json.loads(line) for line in store.read_text().splitlines() if line.strip()]
    runs = pl.DataFrame(rows, infer_schema_length=None)
    for column in METRICS.values():
        if column not in runs.columns and column != "quality":
            runs = runs.with_columns(pl.lit(None, pl.Float64).alias(column))
    runs = runs.with_columns(pl.col(c).cast(pl.Float64) for c in METRICS.values() if c != "quality")
    return add_quality(runs).sort("dataset", "method", "seed")


def summarise(runs: pl.DataFrame) -> pl.DataFrame:
    aggs = [pl.len().alias("n_seeds")]
    for name, column in METRICS.items():
        values = pl.col(column).fill_nan(None)
        aggs += [values.mean().alias(f"{name}_mean"), values.std().alias(f"{name}_std")]
    return runs.group_by("dataset", "method").agg(aggs).sort("dataset", "method")


def row(summary: pl.DataFrame, dataset: str, method: str) -> dict | None:
    hit = summary.filter((pl.col("dataset") == dataset) & (pl.col("method") == method))
    return hit.row(0, named=True) if hit.height else None


def pm(r: dict | None, name: str, digits: int = 3) -> str:
    """``mean ± std`` (std omitted with one seed)."""
    if r is None or r.get(f"{name}_mean") is None or _nan(r[f"{name}_mean"]):
        return "–"
    mean, std = r[f"{name}_mean"], r.get(f"{name}_std")
    text = f"{mean:.{digits}f}"
    if r["n_seeds"] > 1 and std is not None and not _nan(std):
        text += f" ± {std:.{digits}f}"
    return text


def _nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def big(value) -> str:
    if _nan(value):
        return "n/a"
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k"
    return f"{value:.0f}"


def secs(r: dict | None, name: str = "train_s") -> str:
    if r is None or _nan(r.get(f"{name}_mean")):
        return "–"
    mean, std = r[f"{name}_mean"], r.get(f"{name}_std")
    digits = 1 if mean < 100 else 0
    text = f"{mean:.{digits}f}"
    return text + (f" ± {std:.{digits}f}" if r["n_seeds"] > 1 and not _nan(std) else "")


QUALITY_COLUMNS = [
    ("TSTR AUROC (HGB)", "auroc"),
    ("model DPR (HGB)", "dpr"),
    ("model EOR (HGB)", "eor"),
    ("TSTR F1", "f1"),
    ("data DPR", "data_dpr"),
    ("quality", "quality"),
    ("detection AUC", "detection"),
    ("exact copies", "copies"),
]


def quality_table(summary, dataset, methods, labels=LABELS, extra=None) -> list[str]:
    header = ["method", "seeds", *[c for c, _ in QUALITY_COLUMNS]]
    if extra:
        header += [c for c, _ in extra]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in methods:
        r = row(summary, dataset, method)
        if r is None:
            continue
        cells = [labels.get(method, method), str(r["n_seeds"])]
        cells += [pm(r, name) for _, name in QUALITY_COLUMNS]
        if extra:
            cells += [pm(r, name) for _, name in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def cost_table(summary, dataset, methods) -> list[str]:
    header = [
        "method",
        "train wall s",
        "train CPU s",
        "sample rows/s",
        "peak RSS MB",
        "parameters (torch)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in methods:
        r = row(summary, dataset, method)
        if r is None or method == "real":
            continue
        cells = [
            LABELS.get(method, method),
            secs(r, "train_s"),
            secs(r, "train_cpu_s"),
            big(r["rows_per_s_mean"]),
            f"{r['rss_mb_mean']:.0f}" if not _nan(r["rss_mb_mean"]) else "–",
            big(r["params_mean"]) if not _nan(r["params_mean"]) else "n/a (trees)",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def ratio_lines(summary, dataset) -> list[str]:
    """fairdistill's cost as a multiple of each peer's, measured in the same benchmark."""
    fd = row(summary, dataset, "fairdistill")
    if fd is None:
        return []
    header = [
        "peer",
        "train wall ×",
        "train CPU ×",
        "sample time per row ×",
        "peak RSS ×",
        "parameters ×",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for peer in PEERS:
        p = row(summary, dataset, peer)
        if p is None:
            continue

        def ratio(name, invert=False, fd=fd, p=p):
            a, b = fd[f"{name}_mean"], p[f"{name}_mean"]
            if _nan(a) or _nan(b) or b == 0 or a == 0:
                return "n/a"
            value = b / a if invert else a / b
            return f"{value:.2f}"

        lines.append(
            "| "
            + " | ".join(
                [
                    LABELS[peer],
                    ratio("train_s"),
                    ratio("train_cpu_s"),
                    ratio("rows_per_s", invert=True),
                    ratio("rss_mb"),
                    ratio("params"),
                ]
            )
            + " |"
        )
    lines.append("")
    lines.append(
        "(fairdistill ÷ peer: < 1 means fairdistill is cheaper; sample time per row is the "
        "inverse ratio of rows/s.)"
    )
    return lines


def verdicts(summary, dataset) -> list[str]:
    """Plain statements: where fairdistill wins and loses against each peer, and by how much."""
    fd = row(summary, dataset, "fairdistill")
    if fd is None:
        return []
    out = []
    checks = [
        ("TSTR AUROC", "auroc", 1),
        ("model DPR", "dpr", 1),
        ("model EOR", "eor", 1),
        ("quality", "quality", 1),
        ("train CPU seconds", "train_cpu_s", -1),
    ]
    for peer in PEERS:
        p = row(summary, dataset, peer)
        if p is None:
            continue
        wins, losses = [], []
        for label, name, sign in checks:
            a, b = fd[f"{name}_mean"], p[f"{name}_mean"]
            if _nan(a) or _nan(b):
                continue
            noise = max(fd.get(f"{name}_std") or 0, p.get(f"{name}_std") or 0)
            diff = a - b
            if name == "train_cpu_s":
                text = f"{label} {a:.0f} vs {b:.0f} ({a / b:.2f}×)"
            else:
                text = f"{label} {a:.3f} vs {b:.3f} ({diff:+.3f})"
            if abs(diff) <= noise:
                text += ", within one std"
            (wins if sign * diff > 0 else losses).append(text)
        out.append(
            f"- vs **{LABELS[peer]}** — wins: {'; '.join(wins) or 'none'}. "
            f"Loses: {'; '.join(losses) or 'none'}."
        )
    return out


def paper_claims(summary, dataset) -> list[str]:
    """Relative gains over the best fair peer (Sikder et al. claim +5% fairness, +5% quality,
    +10% utility over the best fair generative model)."""
    fd = row(summary, dataset, "fairdistill")
    peers = [r for r in (row(summary, dataset, p) for p in FAIR_PEERS) if r is not None]
    if fd is None or not peers:
        return []
    out = [
        "| axis (our measure) | claimed | fairdistill | best fair peer | relative gain |",
        "|---|---|---|---|---|",
    ]
    for axis, name, claim in [
        ("fairness (model DPR, HGB)", "dpr", "+5%"),
        ("quality (fidelity score)", "quality", "+5%"),
        ("utility (TSTR AUROC, HGB)", "auroc", "+10%"),
    ]:
        best = max(peers, key=lambda r: -np.inf if _nan(r[f"{name}_mean"]) else r[f"{name}_mean"])
        a, b = fd[f"{name}_mean"], best[f"{name}_mean"]
        gain = f"{(a / b - 1) * 100:+.1f}%" if not (_nan(a) or _nan(b)) else "–"
        out.append(f"| {axis} | {claim} | {a:.3f} | {b:.3f} ({LABELS[best['method']]}) | {gain} |")
    return out


# ----------------------------------------------------------------------------------------------
# Plots


ABLATION_COLORS = {
    "fd-teacher-only": "tab:purple",
    "fd-faithful": "tab:brown",
    "fd-eo": "tab:pink",
    "fd-sampler-ddpm": "tab:cyan",
    "fd-sampler-prior": "tab:olive",
}


def _point(ax, r, **style):
    ax.errorbar(
        r["dpr_mean"],
        r["auroc_mean"],
        xerr=r["dpr_std"] or 0,
        yerr=r["auroc_std"] or 0,
        capsize=2,
        **style,
    )


def plot_frontier(summary, datasets, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 5.2), squeeze=False)
    markers = {
        "tabfairgdt": "s",
        "tabfairgdt-lamda-1": "p",
        "tabfairgan": "^",
        "ctgan": "v",
        "fd-teacher-only": "P",
        "fd-faithful": "X",
        "fd-eo": "*",
        "fd-sampler-ddpm": "d",
        "fd-sampler-prior": "h",
    }
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for name, sweep, color in (
            ("λ (label fairness dial)", LAMBDA_SWEEP, "tab:blue"),
            ("β (independence penalty)", BETA_SWEEP, "tab:orange"),
        ):
            pts = [(v, row(summary, dataset, m)) for m, v in sweep]
            pts = [(v, r) for v, r in pts if r is not None]
            if len(pts) > 1:
                ax.plot(
                    [r["dpr_mean"] for _, r in pts],
                    [r["auroc_mean"] for _, r in pts],
                    "-",
                    color=color,
                    alpha=0.6,
                    label=f"fairdistill {name} sweep",
                )
                for v, r in pts:
                    _point(ax, r, fmt="o", color=color, ms=4)
                    ax.annotate(
                        f"{v:g}",
                        (r["dpr_mean"], r["auroc_mean"]),
                        fontsize=7,
                        textcoords="offset points",
                        xytext=(4, -9),
                        color=color,
                    )
        for method in (
            "fd-teacher-only",
            "fd-faithful",
            "fd-eo",
            "fd-sampler-ddpm",
            "fd-sampler-prior",
            *PEERS,
        ):
            r = row(summary, dataset, method)
            if r is not None:
                peer = method in PEERS
                _point(
                    ax,
                    r,
                    fmt=markers[method],
                    ms=8 if peer else 7,
                    color="black" if peer else ABLATION_COLORS[method],
                    label=LABELS[method],
                )
        r = row(summary, dataset, "fairdistill")
        if r is not None:
            _point(ax, r, fmt="*", ms=14, color="tab:red", label=LABELS["fairdistill"], zorder=5)
        r = row(summary, dataset, "real")
        if r is not None:
            _point(ax, r, fmt="D", ms=9, color="gold", mec="black", label=LABELS["real"], zorder=5)
            ax.axhline(r["auroc_mean"], color="gold", lw=0.8, ls=":")
        # Keep the informative band: points far below real train (a collapsed setting) go off
        # scale with a note, so they do not squash everything else.
        points = [
            (m, r)
            for m in summary.filter(pl.col("dataset") == dataset)["method"].to_list()
            if (r := row(summary, dataset, m)) is not None and not _nan(r["auroc_mean"])
        ]
        real = row(summary, dataset, "real")
        floor = (real["auroc_mean"] - 0.2) if real else -np.inf
        shown = [r["auroc_mean"] for _, r in points if r["auroc_mean"] >= floor]
        if shown:
            low = min(shown) - 0.02
            ax.set_ylim(low, max(shown) + 0.015)
            for method, r in points:
                if r["auroc_mean"] < low:
                    ax.annotate(
                        f"{method}: AUROC {r['auroc_mean']:.2f} (off scale ↓)",
                        (r["dpr_mean"], low),
                        xytext=(-150, 12),
                        textcoords="offset points",
                        fontsize=7,
                        arrowprops={"arrowstyle": "->", "color": "grey"},
                    )
        ax.axvline(0.8, color="grey", lw=0.8, ls="--")
        ax.set_title(f"{dataset}: fairness–utility frontier")
        ax.set_xlabel("model-level demographic parity ratio (tstr.hgb.dpr) → fairer")
        ax.set_ylabel("TSTR AUROC on real holdout (tstr.hgb.auroc)")
        ax.grid(alpha=0.3)
    handles = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    ncol = 4 if len(datasets) > 1 else 2
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=ncol, fontsize=8)
    fig.tight_layout(rect=(0, 0.13 if ncol == 4 else 0.22, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_cost(summary, datasets, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    fig, axes = plt.subplots(2, len(datasets), figsize=(6.5 * len(datasets), 9), squeeze=False)
    methods = ["fairdistill", "fd-teacher-only", "fd-sampler-ddpm", *PEERS]
    colors = {
        "fairdistill": "tab:red",
        "tabfairgdt": "black",
        "tabfairgdt-lamda-1": "black",
        "tabfairgan": "dimgray",
        "ctgan": "darkgray",
    }
    for col, dataset in enumerate(datasets):
        for row_i, (metric, label) in enumerate(
            (("auroc", "TSTR AUROC (HGB)"), ("quality", "quality (fidelity score)"))
        ):
            ax = axes[row_i][col]
            for method in methods:
                r = row(summary, dataset, method)
                if r is None or _nan(r["train_cpu_s_mean"]):
                    continue
                ax.errorbar(
                    max(r["train_cpu_s_mean"], 0.05),
                    r[f"{metric}_mean"],
                    xerr=r["train_cpu_s_std"] or 0,
                    yerr=r[f"{metric}_std"] or 0,
                    fmt="o",
                    capsize=2,
                    color=colors.get(method, "tab:green"),
                )
                ax.annotate(
                    LABELS.get(method, method),
                    (max(r["train_cpu_s_mean"], 0.05), r[f"{metric}_mean"]),
                    fontsize=7,
                    textcoords="offset points",
                    xytext=(5, 3),
                )
            r = row(summary, dataset, "real")
            if r is not None:
                ax.axhline(r[f"{metric}_mean"], color="gold", ls=":", label="real train")
                ax.legend(fontsize=7)
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("train CPU seconds (one thread, log scale)")
            ax.set_ylabel(label)
            ax.set_title(f"{dataset}: cost vs {label.split(' (')[0]}")
            ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024**2
    except OSError:
        mem = float("nan")
    try:
        import torch

        gpu = "a GPU" if torch.cuda.is_available() else "no GPU"
        torch_v = torch.__version__
    except ImportError:
        gpu, torch_v = "no GPU", "?"
    versions = []
    for package in ("tabfairgan", "tabfairgdt", "ctgan", "rdt", "scikit-learn"):
        try:
            versions.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GB RAM, {gpu}; Python "
        f"{platform.python_version()}, torch {torch_v}, {', '.join(versions)}"
    )


def invocations(profile: str) -> list[dict]:
    path = RESULTS / f"invocations-{profile}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def settings_lines(runs: pl.DataFrame) -> list[str]:
    out = []
    for (dataset, method), group in runs.group_by("dataset", "method", maintain_order=True):
        if method in PEERS:
            params = sorted(set(group["params"].to_list()))
            out.append(f"- {dataset} / {LABELS[method]}: `{'`, `'.join(params)}`")
            if "fairness_setting" in group.columns:
                setting = group["fairness_setting"].drop_nulls().unique().to_list()
                if setting:
                    out.append(f"  fairness setting: `{setting[0]}`")
            if "fairness_groups" in group.columns:
                groups = group["fairness_groups"].drop_nulls().unique().to_list()
                if groups:
                    out.append(f"  (its fairness loss compares: {groups[0]})")
    return out


def markdown(runs, summary, profile, command, image_prefix, analysis: str | None) -> str:
    datasets = [d for d in ("adult", "compas") if d in summary["dataset"].to_list()]
    spans = invocations(profile)
    wall = sum(s["wall_s"] for s in spans) / 60 if spans else float("nan")
    sensitive = {"adult": "sex", "compas": "race"}
    lines = [
        "# Benchmarks: fairdistill against its ablations and fair-synthesis peers",
        "",
        "Generated by `benchmarks/bench_report.py` from the runs of `benchmarks/run.py` "
        f"(profile `{profile}`). Issue #6.",
        "",
        "## How it was run",
        "",
        "```",
        "make bench            # = .venv/bin/python benchmarks/run.py --profile full "
        "--budget-min 55 --publish",
        "```",
        "",
        "Invocations that produced these runs (resumed ones skip finished runs; the methods "
        "added later ran in the later invocations): "
        + "; ".join(
            f"`benchmarks/run.py {' '.join(s['argv'])}` ({s['wall_s'] / 60:.1f} min)" for s in spans
        )
        + f". This report: `{command}`.",
        "",
        f"- Machine: {machine()}. Wall-clock times move with whatever else runs on the machine; "
        "CPU seconds (`time.process_time`, one thread) are the steadier cost measure.",
        f"- Total benchmark wall time: {wall:.1f} min over {len(spans)} invocation(s) "
        f"({runs.height} runs, at most 2 at a time, each one thread: `OMP_NUM_THREADS=1`, "
        "`torch.set_num_threads(1)`).",
        "- Datasets: "
        + ", ".join(f"{d} (sensitive: {sensitive[d]})" for d in datasets)
        + "; the built-in spec's split (Adult: the shipped test file; COMPAS: a seeded 80/20 "
        "split stratified on target × race), the same train table for every method.",
        "- One audit for every method: `fairdistill.audit.audit_table` (DESIGN §5) with "
        "`n_resamples` = 50 bootstrap resamples (0 in the quick profile) and `random_state = seed`; latent leakage only where "
        "the method has a student/teacher latent.",
        "- Seeds: mean ± std over seeds (the `seeds` column); a sweep point with one seed has no "
        "std.",
        "- `quality` = mean of marginal similarity, association similarity, α-precision, "
        "β-recall, min(density, 1), coverage and 1 − 2·|detection AUC − ½| (1 = indistinguishable "
        "from real train).",
        "- Train time = normalised train table → fitted generator (encoding included); sample = "
        "`len(train)` rows in the train schema (fairdistill also drops rows that copy a training "
        "row, as the flow does); peak RSS = `ru_maxrss` of the run's own process read after "
        "sampling, before the audit (it includes the interpreter, polars and, for torch methods, "
        "torch: ≈ 0.3–0.4 GB before any model). Decode-only ablations (teacher only, faithful, "
        "samplers, λ) reuse the default model of the same seed: their train time is the stages "
        "they need as measured in that default run, and their RSS is the inference process's.",
        "",
    ]
    if analysis:
        lines += [analysis.strip(), ""]
    for dataset in datasets:
        lines += [f"## {dataset}", "", "### Headline", ""]
        lines += quality_table(
            summary, dataset, HEADLINE_METHODS, extra=[("latent leakage AUROC", "leakage")]
        )
        lines += ["", "### Cost", ""]
        lines += cost_table(summary, dataset, [*HEADLINE_METHODS, *ABLATIONS[1:]])
        lines += [
            "",
            "fairdistill's cost as a ratio to each peer (same benchmark, same machine):",
            "",
        ]
        lines += ratio_lines(summary, dataset)
        lines += [
            "",
            "### Where fairdistill wins and loses (default settings, mean over seeds)",
            "",
        ]
        lines += verdicts(summary, dataset)
        lines += ["", "### Against the paper's claims (relative to the best fair peer)", ""]
        lines += paper_claims(summary, dataset)
        lines += ["", "### Ablations", ""]
        lines += quality_table(
            summary, dataset, ABLATIONS, extra=[("latent leakage AUROC", "leakage")]
        )
        lines += ["", "### Sweeps (curves on the frontier plot)", ""]
        sweep_labels = {m: f"λ = {v:g}" for m, v in LAMBDA_SWEEP}
        lines += quality_table(summary, dataset, [m for m, _ in LAMBDA_SWEEP], sweep_labels)
        lines += [""]
        sweep_labels = {m: f"β = {v:g}" for m, v in BETA_SWEEP}
        lines += quality_table(
            summary,
            dataset,
            [m for m, _ in BETA_SWEEP],
            sweep_labels,
            extra=[("latent leakage AUROC", "leakage")],
        )
        lines += [""]
    lines += [
        "## Plots",
        "",
        f"![fairness–utility frontier]({image_prefix}frontier.png)",
        "",
        "Every method is a point with ±1 std error bars over seeds; the λ and β sweeps of "
        "fairdistill are curves (numbers = the setting); the dashed line is the gate's DPR 0.8, "
        "the dotted line real train's AUROC.",
        "",
        f"![cost vs quality]({image_prefix}cost.png)",
        "",
        "## Peer settings",
        "",
    ]
    lines += settings_lines(runs)
    lines += [
        "",
        "Raw numbers: `benchmarks/results/runs-<profile>.parquet` (one row per run, every "
        "audit metric) and `summary-<profile>.parquet` (git-ignored; regenerate with "
        "`make bench`, which skips runs already done).",
        "",
    ]
    return "\n".join(lines)


def report(profile: str, store: Path, *, publish: bool = False, command: str = "") -> Path | None:
    if not store.exists():
        print(f"no runs yet in {store}")
        return None
    runs = load(store)
    summary = summarise(runs)
    runs.write_parquet(RESULTS / f"runs-{profile}.parquet")
    summary.write_parquet(RESULTS / f"summary-{profile}.parquet")
    datasets = [d for d in ("adult", "compas") if d in summary["dataset"].to_list()]
    plot_frontier(summary, datasets, RESULTS / f"frontier-{profile}.png")
    plot_cost(summary, datasets, RESULTS / f"cost-{profile}.png")
    notes = HERE / "analysis.md"
    analysis = notes.read_text() if notes.exists() and profile == "full" else None
    local = (
        markdown(runs, summary, profile, command, "", analysis)
        .replace("(frontier.png)", f"(frontier-{profile}.png)")
        .replace("(cost.png)", f"(cost-{profile}.png)")
    )
    out = RESULTS / f"benchmarks-{profile}.md"
    out.write_text(local)
    print(f"report: {out}")
    if publish:
        (DOCS / "benchmarks").mkdir(parents=True, exist_ok=True)
        shutil.copy(RESULTS / f"frontier-{profile}.png", DOCS / "benchmarks" / "frontier.png")
        shutil.copy(RESULTS / f"cost-{profile}.png", DOCS / "benchmarks" / "cost.png")
        # the hand-written sections (fair modes, #10; scale, #13; Colored-MNIST, #14) are kept at
        # the end
        kept = [HERE / name for name in ("fair_modes.md", "scale.md", "images.md")]
        (DOCS / "benchmarks.md").write_text(
            markdown(runs, summary, profile, command, "benchmarks/", analysis)
            + "".join("\n" + part.read_text() for part in kept if part.exists())
        )
        print(f"published: {DOCS / 'benchmarks.md'}, {DOCS / 'benchmarks'}/")
    return out
