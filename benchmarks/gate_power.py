"""How often the gate's fairness check passes, by holdout layout and true DPR: value vs interval rule.

A simulation of the measurement alone (no training): a classifier predicts positives at ``rate`` in
every group but one, and at ``rate · dpr`` in that one (the second-largest group); each group's
count of positive predictions is drawn for a holdout of the layout's group sizes. The audit's demographic
parity ratio min/max goes through the gate's `judge` at the default threshold 0.8 three ways: by the
value alone (`audit.gate.unresolved_by_interval: false`), by the default rule with the percentile
bootstrap interval the audit used until session 10 (`bootstrap_ci`, 200 resamples), and by the
default rule with the audit's interval now (`rate_ratio_interval`, a likelihood-ratio interval). The
share of trials that pass is the check's power where the true DPR is ≥ 0.8 and its false-pass rate
below.

Layouts: two groups, the smaller a third of the rows, on 139 rows (a 700-row table's holdout), 1,234
(COMPAS's) and 16,281 (Adult's); COMPAS's four race groups; Adult's ten sex × race groups.

Usage (from the project root; about 25 minutes on 2 cores at 300 trials per cell)::

    .venv/bin/python benchmarks/gate_power.py            # the markdown table
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fairdistill.audit import judge  # noqa: E402
from fairdistill.metrics.bootstrap import bootstrap_ci, rate_ratio_interval  # noqa: E402
from fairdistill.metrics.fairness import demographic_parity_ratio  # noqa: E402
from fairdistill.settings import GateThresholds  # noqa: E402

LAYOUTS = {  # rows per group in the holdout
    "139 rows, 2 groups": (46, 93),
    "1,234 rows, 2 groups": (411, 823),
    "16,281 rows, 2 groups": (5_427, 10_854),
    "COMPAS race, 4 groups": (77, 100, 420, 637),
    "Adult sex × race, 10 groups": (66, 171, 753, 46, 4_385, 93, 309, 808, 89, 9_561),
}
TRUE_DPR = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)


def parity_ratio(y_pred: np.ndarray, groups: np.ndarray) -> float:
    """`demographic_parity_ratio` for integer groups by counting (the fairlearn call costs ~20 ms,
    which 200 resamples × 300 trials × 30 cells cannot afford); checked equal in `main`."""
    rates = np.bincount(groups, weights=y_pred) / np.bincount(groups)
    return float(rates.min() / rates.max()) if rates.max() > 0 else np.nan


def pass_rates(
    sizes: tuple[int, ...], dpr: float, *, rate: float = 0.2, trials: int = 300, seed: int = 0
) -> tuple[float, float, float]:
    """Shares of ``trials`` holdouts on which the fairness check passes: (value rule, interval rule
    with the percentile bootstrap, interval rule with the likelihood-ratio interval)."""
    gate = GateThresholds()
    threshold, tolerance = gate.min_fairness_ratio, 1 - gate.min_fairness_ratio
    rng = np.random.default_rng(seed)
    sizes_ = np.asarray(sizes)
    rates = np.full(sizes_.size, rate)
    rates[np.argsort(sizes_)[-2]] *= dpr
    groups = np.repeat(np.arange(sizes_.size), sizes_)
    passes = np.zeros(3)
    for trial in range(trials):
        positives = rng.binomial(sizes_, rates)
        y_pred = np.concatenate(
            [np.arange(n) < k for n, k in zip(sizes_, positives, strict=True)]
        ).astype(float)
        value = parity_ratio(y_pred, groups)
        percentile = bootstrap_ci(
            parity_ratio, y_pred, groups, n_resamples=200, random_state=seed * 100_000 + trial
        )
        likelihood = rate_ratio_interval(positives, sizes_, random_state=seed * 100_000 + trial)
        passes += [
            judge(value, threshold, "≥", percentile, tolerance, by_interval=False)[0],
            judge(value, threshold, "≥", percentile, tolerance)[0],
            judge(value, threshold, "≥", likelihood, tolerance)[0],
        ]
    return tuple(passes / trials)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=300)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    y_pred, groups = (rng.random(500) < 0.3).astype(float), rng.integers(0, 2, 500)
    assert np.isclose(
        parity_ratio(y_pred, groups),
        demographic_parity_ratio(np.zeros(500), y_pred, sensitive=groups.astype(str)),
    )
    print("| holdout | " + " | ".join(f"true DPR {d:g}" for d in TRUE_DPR) + " |")
    print("|---|" + "---|" * len(TRUE_DPR))
    for name, sizes in LAYOUTS.items():
        cells = [pass_rates(sizes, d, trials=args.trials) for d in TRUE_DPR]
        text = " | ".join(" / ".join(f"{v:.0%}" for v in cell) for cell in cells)
        print(f"| {name} | {text} |", flush=True)
    print(
        "\npasses by the value alone / by the default rule with the percentile bootstrap interval "
        "(before) / with the likelihood-ratio interval (now)"
    )


if __name__ == "__main__":
    main()
