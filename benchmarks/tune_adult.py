"""Grid search of the method's settings on Adult: configs × seeds, two trainings at a time.

Usage::

    .venv/bin/python benchmarks/tune_adult.py --grid round1 [--seeds 0 1 2] [--jobs 2]
    .venv/bin/python benchmarks/tune_adult.py --summary          # only print the table

Each run trains teacher → student → sampler once (`benchmarks.method_adult.quick`, the library's
defaults overridden by the config) and decodes the same model several ways (`DECODES`: label-fair at
temperature 1 and 0.7, the fairness dial at 0.9, counterfactual). Per run and decode it records TSTR
AUROC, model DPR, data DPR, plus latent leakage (AUROC of sex from μ_S on holdout) and train
seconds, appended to ``benchmarks/results/tune_adult.csv`` as runs finish; runs already there are
skipped, so an interrupted grid resumes. The summary prints mean ± std over seeds and the worst
seed's model DPR per (config, decode).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy / torch / sklearn load (DESIGN §4)

import argparse
import csv
import json
import multiprocessing as mp
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import method_adult  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "tune_adult.csv"
# (tag, mode, label temperature, fairness dial)
DECODES = [
    ("lf", "label-fair", 1.0, 1.0),
    ("t07", "label-fair", 0.7, 1.0),
    ("t05", "label-fair", 0.5, 1.0),
    ("f09", "label-fair", 1.0, 0.9),
    ("cf", "counterfactual", 1.0, 1.0),
    ("cf07", "counterfactual", 0.7, 1.0),
]
METRICS = ("tstr_auroc", "tstr_model_dpr", "data_dpr")

# Each config: name → overrides of method_adult's command-line options (library defaults otherwise).
GRIDS: dict[str, dict[str, dict]] = {
    "round1": {
        "base": {},
        "b20": {"beta": 20, "student_beta": 20},
        "b100": {"beta": 100, "student_beta": 100},
        "kl0.25": {"kl_weight": 0.25},
        "kl1": {"kl_weight": 1.0},
        "lat16": {"latent": 16},
        "ep60": {"epochs": 60},
        "tb20_sb100": {"beta": 20, "student_beta": 100},
    },
    # round 2: the two best round-1 configs again, with the sharper and counterfactual decodes
    "round2": {
        "base_r2": {},
        "b20_r2": {"beta": 20, "student_beta": 20},
    },
}


def run_one(name: str, overrides: dict, seed: int, decodes: list[str] | None = None) -> dict:
    """Train and measure one (config, seed); returns one flat CSV row."""
    import torch

    torch.set_num_threads(1)
    args = method_adult.parse([])
    for key, value in overrides.items():
        if not hasattr(args, key):
            raise ValueError(f"unknown option {key!r} in config {name!r}")
        setattr(args, key, value)
    args.seed = seed
    args.decodes = [d for d in DECODES if d[0] in decodes] if decodes else DECODES
    start = time.perf_counter()
    result = method_adult.quick(args)
    row = {"config": name, "seed": seed, "overrides": json.dumps(overrides, sort_keys=True)}
    row.update(result)
    row["wall_s"] = time.perf_counter() - start
    return row


def done_runs(path: Path) -> set[tuple[str, int]]:
    if not path.exists():
        return set()
    with path.open() as f:
        return {(r["config"], int(r["seed"])) for r in csv.DictReader(f)}


def append(path: Path, row: dict) -> None:
    """Append a row; the header is the union of columns (rewrites the file if new ones appear)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    if path.exists():
        with path.open() as f:
            rows = list(csv.DictReader(f))
    rows.append({k: str(v) for k, v in row.items()})
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def summary(path: Path, configs: list[str] | None = None) -> str:
    """Mean ± std over seeds per (config, decode), plus the worst seed's model DPR."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    order = list(dict.fromkeys(r["config"] for r in rows))
    if configs:
        order = [c for c in order if c in configs]
    head = (
        f"{'config':<22}{'dec':<5}{'n':>2}  {'AUROC':>13}  {'model DPR':>13}  {'min DPR':>7}"
        f"  {'data DPR':>13}  {'leak':>13}  {'train s':>7}"
    )
    lines = [head, "-" * len(head)]

    def ms(values) -> str:
        v = np.asarray(values, dtype=float)
        return f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f}"

    for name in order:
        runs = [r for r in rows if r["config"] == name]
        for tag, *_ in DECODES:
            if f"{tag}tstr_auroc" not in runs[0] or runs[0][f"{tag}tstr_auroc"] == "":
                continue
            col = lambda m, tag=tag, runs=runs: [float(r[f"{tag}{m}"]) for r in runs]  # noqa: E731
            lines.append(
                f"{name:<22}{tag:<5}{len(runs):>2}  {ms(col('tstr_auroc'))}  "
                f"{ms(col('tstr_model_dpr'))}  {min(col('tstr_model_dpr')):>7.3f}  "
                f"{ms(col('data_dpr'))}  "
                f"{ms([float(r['latent_leakage_auroc']) for r in runs])}  "
                f"{np.mean([float(r['train_s']) for r in runs]):>7.1f}"
            )
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", default="round1", help=f"one of {sorted(GRIDS)}")
    p.add_argument("--configs", nargs="*", help="only these configs of the grid")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=2, help="parallel trainings (≤ 2 on 2 cores)")
    p.add_argument("--decodes", nargs="*", help=f"only these decode tags of {[d[0] for d in DECODES]}")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--summary", action="store_true", help="only print the summary table")
    args = p.parse_args(argv)
    grid = GRIDS[args.grid]
    names = args.configs or list(grid)
    if not args.summary:
        done = done_runs(args.out)
        todo = [(n, s) for n in names for s in args.seeds if (n, s) not in done]
        print(f"{len(todo)} runs to do ({len(done)} already in {args.out})", flush=True)
        with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(run_one, n, grid[n], s, args.decodes): (n, s) for n, s in todo}
            for fut in as_completed(futures):
                n, s = futures[fut]
                try:
                    row = fut.result()
                except Exception as exc:  # keep the grid going; report the failure
                    print(f"FAILED {n} seed {s}: {exc!r}", flush=True)
                    continue
                append(args.out, row)
                print(
                    f"{n} seed {s}: AUROC {row['lftstr_auroc']:.3f} DPR "
                    f"{row['lftstr_model_dpr']:.3f} leak {row['latent_leakage_auroc']:.3f} "
                    f"train {row['train_s']:.0f}s",
                    flush=True,
                )
    if args.out.exists():
        print(summary(args.out, names))


if __name__ == "__main__":
    main()
