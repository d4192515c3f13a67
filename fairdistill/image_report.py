"""The image audit's report: image grids and the audit numbers with the gate, as one offline HTML
page (the image counterpart of `fairdistill.report`, whose page, summary and plots it reuses).

Grids: real train and synthetic images per sensitive group (one row per group), and counterfactual
rows (one latent code decoded in every group, side by side). Plots: P(y = 1 | s) of both sets and
the CNNs' accuracy per group.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from fairdistill import plots  # noqa: E402
from fairdistill.audit import AuditOutcome  # noqa: E402
from fairdistill.images import pixel_array  # noqa: E402
from fairdistill.report import CNN, html_page, summary_markdown  # noqa: E402
from fairdistill.spec import DatasetSpec  # noqa: E402

SETS = (
    ("trtr", "real train", plots.REAL),
    ("fair", "fair reference", "#55a868"),
    ("tstr", "synthetic", plots.SYNTHETIC),
)
PER_ROW = 10


def _pixels(table: pl.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """``[n, H, W, C]`` uint8 pixels of the image column (grey images keep one channel)."""
    size = spec.image_format
    pixels = pixel_array(table[spec.image[0]], (size.channels, size.height, size.width))
    return pixels.transpose(0, 2, 3, 1)


def _show(ax, pixels: np.ndarray, label: str) -> None:
    ax.imshow(
        pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels, cmap="gray", vmin=0, vmax=255
    )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(label, fontsize=6, pad=1)


def group_grid(table: pl.DataFrame, spec: DatasetSpec, title: str) -> str:
    """One row per sensitive group: `PER_ROW` of its images (a seeded draw), each titled with its
    label."""
    column = spec.sensitive_columns[0]
    groups = sorted(table[column].unique().to_list())
    fig, axes = plt.subplots(
        len(groups), PER_ROW, figsize=(PER_ROW * 0.8, len(groups) * 0.95), squeeze=False
    )
    for row, group in zip(axes, groups, strict=True):
        members = table.filter(pl.col(column) == group)
        chosen = members.sample(min(PER_ROW, members.height), seed=0)
        pixels = _pixels(chosen, spec)
        for i, ax in enumerate(row):
            if i < chosen.height:
                _show(ax, pixels[i], f"y={chosen[spec.target][i]}")
            else:
                ax.axis("off")
        row[0].set_ylabel(str(group), rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=9)
    return plots.png(fig)


def counterfactual_grid(rows: pl.DataFrame, spec: DatasetSpec, groups: int) -> str:
    """Counterfactual rows: each row is one latent code decoded in every group (``rows`` holds
    the K twins of each code one after the other, as counterfactual generation writes them)."""
    codes = rows.height // groups
    pixels = _pixels(rows, spec)
    fig, axes = plt.subplots(codes, groups, figsize=(groups * 0.9, codes * 0.95), squeeze=False)
    for code, row in enumerate(axes):
        for k, ax in enumerate(row):
            i = code * groups + k
            _show(ax, pixels[i], f"{rows[spec.sensitive_columns[0]][i]}, y={rows[spec.target][i]}")
    fig.suptitle("one z in every group", fontsize=9)
    return plots.png(fig)


def accuracy_plot(metrics: dict[str, float]) -> str:
    """Accuracy per group on the real holdout of the CNN trained on each set."""
    prefix = f"tstr.{CNN}.group_accuracy."
    groups = sorted(k.removeprefix(prefix) for k in metrics if k.startswith(prefix))
    fig, ax = plt.subplots(figsize=(5, 3))
    present = [s for s in SETS if f"{s[0]}.{CNN}.accuracy" in metrics]
    width = 0.8 / len(present)
    for i, (key, label, color) in enumerate(present):
        values = [metrics.get(f"{key}.{CNN}.group_accuracy.{g}", np.nan) for g in groups]
        ax.bar(
            np.arange(len(groups)) + (i - (len(present) - 1) / 2) * width,
            values,
            width,
            color=color,
            label=label,
        )
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy on the real holdout")
    ax.set_title("CNN accuracy per group, by training set")
    ax.legend(fontsize=7, loc="lower right")
    return plots.png(fig)


def render_image_html(
    outcome: AuditOutcome,
    spec: DatasetSpec,
    train: pl.DataFrame,
    synthetic: pl.DataFrame,
    counterfactuals: pl.DataFrame | None = None,
) -> str:
    """The whole image report as one HTML page that renders offline."""
    title = f"fairdistill audit — {spec.name}"
    figures = [
        ("Real train images per group", group_grid(train, spec, "real train")),
        ("Synthetic images per group", group_grid(synthetic, spec, "synthetic")),
    ]
    if counterfactuals is not None and counterfactuals.height:
        groups = counterfactuals[spec.sensitive_columns[0]].n_unique()
        figures.append(
            (
                "Counterfactual rows: one z in every group",
                counterfactual_grid(counterfactuals, spec, groups),
            )
        )
    figures += [
        ("Who gets the positive label", plots.positive_rates(outcome.metrics, outcome.classifier)),
        ("Accuracy per group of a CNN trained on each set", accuracy_plot(outcome.metrics)),
    ]
    return html_page(outcome, title, summary_markdown(outcome, title), figures)
