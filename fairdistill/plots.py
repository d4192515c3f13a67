"""The audit report's figures, each returned as a base64 PNG to inline in the page.

P(y=1|s) real vs synthetic; the fairness–utility point of each classifier (TSTR, the fair reference
and TRTR) with a line per gate threshold; marginals of key columns; association heatmaps, real vs
synthetic.
"""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from fairdistill.audit import (  # noqa: E402
    CLASSIFIERS,
    CRITERION_RATIO,
    GateCheck,
    column_kinds,
    group_table,
)
from fairdistill.metrics import association_matrix  # noqa: E402
from fairdistill.spec import DatasetSpec  # noqa: E402

REAL, SYNTHETIC, FAIR, GATE = "#4c72b0", "#dd8452", "#55a868", "#cf222e"
# Which axis of the fairness–utility plot a check's threshold is drawn on; other checks are listed.
CHECK_AXES = {"model_dpr": "x", "model_eor": "x", "tstr_auroc": "y"}
# The tables classifiers are trained on (audit prefixes), as the plot names and colours them.
TRAINED_ON = {
    "trtr": ("real", REAL),
    "fair": ("fair reference", FAIR),
    "tstr": ("synthetic", SYNTHETIC),
}
RATIO_NAMES = {"dpr": "demographic parity ratio", "eor": "equalized-odds ratio"}


def png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def wilson_interval(rate: np.ndarray, rows: np.ndarray, z: float = 1.96) -> np.ndarray:
    """The 95% Wilson score interval of a binomial rate, as ``[2, n]`` distances below and above
    the rate (matplotlib's ``yerr``): honest for a group of a few dozen rows, where the normal
    interval overshoots [0, 1] (Wilson 1927)."""
    rows = np.maximum(rows, 1)
    centre = (rate + z**2 / (2 * rows)) / (1 + z**2 / rows)
    half = z / (1 + z**2 / rows) * np.sqrt(rate * (1 - rate) / rows + z**2 / (4 * rows**2))
    return np.abs(np.stack([rate - (centre - half), centre + half - rate]))


def positive_rates(metrics: dict[str, float], classifier: str) -> str:
    """Per sensitive group: P(y = positive) of the real and synthetic labels (data level), and the
    predicted positive rate on the real holdout of ``classifier`` trained on each table (model
    level, `fairdistill.audit.group_scores`) with its 95% interval: the model-level ratio is the
    min/max of the right panel, and a group of few holdout rows has a wide bar."""
    prefix = "data.real.positive_rate."
    groups = sorted(k.removeprefix(prefix) for k in metrics if k.startswith(prefix))
    trained = {
        kind: table
        for kind in TRAINED_ON
        if (table := group_table(metrics, f"{kind}.{classifier}"))
    }
    many = len(groups) > 3  # long intersectional names: slanted, on a taller figure
    fig, axes = plt.subplots(
        1,
        1 + bool(trained),
        figsize=(5 + 5 * bool(trained), 4.6 if many else 3.4),
        squeeze=False,
        sharey=True,
    )
    x = np.arange(len(groups))
    for offset, (table, color) in zip(
        (-0.2, 0.2), (("real", REAL), ("synthetic", SYNTHETIC)), strict=True
    ):
        rates = [metrics.get(f"data.{table}.positive_rate.{g}", np.nan) for g in groups]
        axes[0, 0].bar(x + offset, rates, width=0.4, color=color, label=f"{table} labels")
    axes[0, 0].set_ylabel("P(positive | group)")
    axes[0, 0].set_title("Labels in the tables")
    width = 0.8 / max(len(trained), 1)
    for i, (kind, table) in enumerate(trained.items()):
        name, color = TRAINED_ON[kind]
        rate = np.array([table.get(g, {}).get("selection_rate", np.nan) for g in groups])
        rows = np.array([table.get(g, {}).get("rows", 0.0) for g in groups])
        axes[0, 1].bar(
            x + (i - (len(trained) - 1) / 2) * width,
            rate,
            width,
            yerr=wilson_interval(rate, rows),
            capsize=2,
            color=color,
            label=f"trained on {name}",
        )
    if trained:
        axes[0, 1].set_title(f"Predicted on the real holdout ({classifier}; 95% intervals)")
    for ax in axes[0]:
        ax.set_xticks(x, groups, rotation=30 if many else 0, ha="right" if many else "center")
        ax.legend(fontsize=7, framealpha=0.7)
    fig.tight_layout()
    return png(fig)


def fairness_utility(metrics: dict[str, float], checks: list[GateCheck], criterion: str) -> str:
    """Each classifier's (fairness ratio of the criterion, AUROC) on the real holdout, trained on
    real train, on the fair reference (real train with labels made fair by the criterion) or on
    the synthetic table, with a line per gate threshold on these axes; other checks are listed
    in a corner."""
    ratio = CRITERION_RATIO[criterion]
    fig, ax = plt.subplots(figsize=(8.5, 4), layout="constrained")
    for model, marker in zip(CLASSIFIERS, ("o", "s"), strict=True):
        for kind, (name, color) in TRAINED_ON.items():
            if f"{kind}.{model}.auroc" not in metrics:
                continue
            ax.errorbar(
                metrics[f"{kind}.{model}.{ratio}"],
                metrics[f"{kind}.{model}.auroc"],
                xerr=_error(metrics, f"{kind}.{model}.{ratio}"),
                yerr=_error(metrics, f"{kind}.{model}.auroc"),
                fmt=marker,
                color=color,
                label=f"{name} → holdout ({model})",
            )
    for check in checks:
        label = f"gate: {check.name} {check.rule} {check.threshold:.3f}\n= {check.origin}"
        style = {"color": GATE, "linestyle": "--", "linewidth": 1, "label": label}
        if CHECK_AXES.get(check.name) == "x":
            ax.axvline(check.threshold, **style)
        elif CHECK_AXES.get(check.name) == "y":
            ax.axhline(check.threshold, **style)
        else:  # not on these axes: a legend line of its own, with its value and verdict
            verdict = "pass" if check.passed else "FAIL"
            ax.plot([], [], " ", label=f"{label}: {check.value:.3f}, {verdict}")
    ax.set_xlim(-0.03, 1.05)
    ax.set_xlabel(f"{RATIO_NAMES[ratio]} of predictions ({criterion}; 1 = fair, right is better)")
    ax.set_ylabel("AUROC on the real holdout (up is better)")
    ax.set_title("Fairness vs utility")
    fig.legend(fontsize=7, loc="outside right upper")
    return png(fig)


def _error(metrics: dict[str, float], key: str):
    low, high = metrics.get(f"{key}.ci_low"), metrics.get(f"{key}.ci_high")
    if low is None or high is None:
        return None
    value = metrics[key]
    return [[max(value - low, 0)], [max(high - value, 0)]]


def marginals(
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
    return png(fig)


def associations(real: pl.DataFrame, synthetic: pl.DataFrame, spec: DatasetSpec) -> str:
    kinds = column_kinds(spec)
    labels = [*kinds["categorical"], *kinds["numeric"]]
    sample = min(real.height, synthetic.height, 10_000)
    size = 2.5 + 0.22 * len(labels)  # inches per heatmap: room for the column names
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1.5, size + 1.5), layout="constrained")
    for ax, table, title in zip(axes, (real, synthetic), ("real train", "synthetic"), strict=True):
        matrix = association_matrix(table.sample(sample, seed=0), **kinds, role=title)
        image = ax.imshow(np.abs(matrix), vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_title(f"association, {title}")
    fig.colorbar(image, ax=axes, shrink=0.6, label="|r|, Cramér's V or η")
    return png(fig)
