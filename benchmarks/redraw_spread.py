"""How much the gate's TSTR numbers move when only the synthetic table is drawn again.

The gate judges one classifier fitted on one synthetic table, with a 95% interval over the
real holdout rows (`fairdistill.audit.model_utility`). That interval holds the holdout's sampling
noise, not the table's: the same trained model, asked for another table, gives another classifier.
Here each table's model is fitted once per ``--seeds`` and ``--variants`` (`fair_modes.fit`: the
library's stages with the seed in every section, the decoder's earlier columns as the variant names
them, `teacher.autoregressive`), then ``--draws`` tables are generated in the ``--mode`` (the
fairness criterion, `dp` by default) with generation seeds 0, 1, … (the flow's copy policy, as many
rows as train) and audited with the audit's own `model_utility` (the classifier's seed = the
draw's). Printed: each draw's TSTR AUROC and the mode's fairness ratio (model DPR for `dp`, EOR for
`eo`) with their holdout intervals, and the spread across draws beside the interval's half-width;
then, per table and decoder, the mean over every model and draw (accuracy and F1 too): what the
models give in expectation, where `fair_modes.py` reads one table per seed.

Usage (from the project root; about 5 minutes on 2 cores for the default tables and variants)::

    .venv/bin/python benchmarks/redraw_spread.py
    .venv/bin/python benchmarks/redraw_spread.py --tables compas --draws 8 --variants none associated
    .venv/bin/python benchmarks/redraw_spread.py --tables compas --seeds 0 1 2
    .venv/bin/python benchmarks/redraw_spread.py --tables adult --seeds 0 1 2 --mode eo
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # fair_modes

from fair_modes import DECODERS, DEFAULT_DECODER, fit, table  # noqa: E402

from fairdistill.audit import CRITERION_RATIO, comparable, model_utility  # noqa: E402
from fairdistill.settings import GenerationSettings  # noqa: E402
from models.pipeline import synthetic_rows  # noqa: E402


def redraws(
    name: str, variant: str, draws: int, seed: int = 0, mode: str = "dp"
) -> list[dict[str, float]]:
    """The gate's TSTR numbers (HGB) of ``draws`` tables in ``mode`` from one model fitted with
    ``seed``."""
    spec, train, holdout = table(name)
    model, _ = fit(spec, train, seed, variant)
    holdout = comparable(holdout, spec)
    rows = []
    for draw in range(draws):
        synthetic = pl.concat(
            synthetic_rows(
                model, train.height, GenerationSettings(mode=mode, seed=draw), exclude=train
            )
        )
        m = model_utility(
            comparable(synthetic, spec), holdout, spec, "tstr", random_state=draw, n_resamples=200
        )
        rows.append({k.removeprefix("tstr.hgb."): v for k, v in m.items() if ".hgb." in k})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=["adult", "compas"])
    parser.add_argument(
        "--variants", nargs="+", default=[DEFAULT_DECODER], choices=DECODERS, help="decoders"
    )
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="model seeds")
    parser.add_argument("--mode", default="dp", choices=sorted(CRITERION_RATIO))
    args = parser.parse_args()
    keys = ("auroc", CRITERION_RATIO[args.mode])
    print(
        "| table | decoder | seed | metric | per draw (95% holdout interval) | "
        "spread across draws | interval half-width (mean) |"
    )
    print("|---|---|---|---|---|---|---|")
    means = []
    for name, variant in ((t, v) for t in args.tables for v in args.variants):
        every = []
        for seed in args.seeds:
            rows = redraws(name, variant, args.draws, seed, args.mode)
            every += rows
            for key in keys:
                values = np.array([r[key] for r in rows])
                halves = np.array([(r[f"{key}.ci_high"] - r[f"{key}.ci_low"]) / 2 for r in rows])
                cells = ", ".join(
                    f"{r[key]:.3f} [{r[f'{key}.ci_low']:.3f}, {r[f'{key}.ci_high']:.3f}]"
                    for r in rows
                )
                print(
                    f"| {name} | {variant} | {seed} | {key} | {cells} | {values.min():.3f}–"
                    f"{values.max():.3f} (sd {values.std(ddof=1):.3f}) | {halves.mean():.3f} |",
                    flush=True,
                )
        means.append(
            f"{name}, {variant}, `{args.mode}`, {len(args.seeds)} model(s) × {args.draws} draws: "
            + ", ".join(
                f"{key} {np.mean([r[key] for r in every]):.3f}" for key in (*keys, "accuracy", "f1")
            )
        )
    print("\nMean over models and draws:")
    print("\n".join(f"- {line}" for line in means))


if __name__ == "__main__":
    main()
