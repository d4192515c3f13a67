"""How often the gate's fairness check passes, by holdout size and true DPR: value rule vs interval rule.

A simulation of the measurement alone (no training): a classifier whose positive rate is ``rate`` in
the larger group and ``rate · dpr`` in the smaller one (a third of the rows) predicts on a holdout of
``n`` rows; the audit's demographic parity ratio and its 95% bootstrap interval (the product's
`bootstrap_ci`, 200 resamples) go through the gate's `judge` at the default threshold 0.8, once by the
value alone (`audit.gate.unresolved_by_interval: false`) and once by the default rule. The share of
trials that pass is the check's power where the true DPR is ≥ 0.8 and its false-pass rate below.

Usage (from the project root; about 7 minutes on 2 cores at 1,000 trials per cell)::

    .venv/bin/python benchmarks/gate_power.py            # the markdown table
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fairdistill.audit import judge  # noqa: E402
from fairdistill.metrics.bootstrap import bootstrap_ci  # noqa: E402
from fairdistill.metrics.fairness import demographic_parity_ratio  # noqa: E402
from fairdistill.settings import GateThresholds  # noqa: E402

# 139: a 700-row table's holdout; 1,234: COMPAS's; 16,281: Adult's.
HOLDOUTS = (139, 1_234, 16_281)
TRUE_DPR = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)


def parity_ratio(y_pred: np.ndarray, groups: np.ndarray) -> float:
    """`demographic_parity_ratio` for integer groups by counting (the fairlearn call costs ~20 ms,
    which 200 resamples × 200 trials × 18 cells cannot afford); checked equal in `main`."""
    rates = np.bincount(groups, weights=y_pred) / np.bincount(groups)
    return float(rates.min() / rates.max()) if rates.max() > 0 else np.nan


def pass_rates(
    n: int, dpr: float, *, rate: float = 0.2, trials: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Shares of ``trials`` holdouts on which the fairness check passes: (value rule, interval rule)."""
    gate = GateThresholds()
    threshold, tolerance = gate.min_fairness_ratio, 1 - gate.min_fairness_ratio
    rng = np.random.default_rng(seed)
    s = (np.arange(n) < n // 3).astype(int)  # group 1: the smaller third
    p = np.where(s == 1, rate * dpr, rate)
    by_value = by_interval = 0
    for trial in range(trials):
        y_pred = (rng.random(n) < p).astype(float)
        value = parity_ratio(y_pred, s)
        interval = bootstrap_ci(
            parity_ratio, y_pred, s, n_resamples=200, random_state=seed * 100_000 + trial
        )
        by_value += judge(value, threshold, "≥", interval, tolerance, by_interval=False)[0]
        by_interval += judge(value, threshold, "≥", interval, tolerance)[0]
    return by_value / trials, by_interval / trials


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    y_pred, groups = (rng.random(500) < 0.3).astype(float), rng.integers(0, 2, 500)
    assert np.isclose(
        parity_ratio(y_pred, groups),
        demographic_parity_ratio(np.zeros(500), y_pred, sensitive=groups.astype(str)),
    )
    print("| holdout rows | " + " | ".join(f"true DPR {d:g}" for d in TRUE_DPR) + " |")
    print("|---|" + "---|" * len(TRUE_DPR))
    for n in HOLDOUTS:
        cells = [pass_rates(n, d, trials=args.trials) for d in TRUE_DPR]
        print(f"| {n:,} | " + " | ".join(f"{v:.0%} / {i:.0%}" for v, i in cells) + " |", flush=True)
    print("\npasses by the value alone / by the default rule (interval where unresolved)")


if __name__ == "__main__":
    main()
