"""Benchmarks side by side (issue #6): fairdistill, its ablations and sweeps, three PyPI peers and
real train, on Adult (sensitive: sex) and COMPAS (sensitive: race), several seeds, one audit.

Usage::

    make bench                                   # the full benchmark (about an hour on 2 cores)
    .venv/bin/python benchmarks/run.py --profile quick   # tiny settings, 1 seed: checks the harness
    .venv/bin/python benchmarks/run.py --report-only     # tables and plots from the runs so far

Each run (dataset × method × seed) is its own process (benchmarks/bench_methods.py), one thread
each, at most ``--jobs`` (default 2) at a time. Finished runs are appended to
``benchmarks/results/runs-<profile>.jsonl`` at once, so an interrupted benchmark keeps what it has
and a re-run of the same code skips them (resumable); runs that other code made (`benchmark_code`)
are moved aside and run again. ``--budget-min`` stops starting new runs after that many
minutes; the report is then made from what finished. The report (benchmarks/bench_report.py) writes
``benchmarks/results/{runs,summary}-<profile>.parquet``, ``benchmarks-<profile>.md`` and the
plots; ``--publish`` copies the markdown and plots to docs/benchmarks.md and docs/benchmarks/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DATASETS = ("adult", "compas")

# Settings per profile. "full" is what `make bench` runs; "quick" checks the harness end to end.
PROFILES = {
    "full": {
        "seeds": [0, 1, 2],
        "sweep_seeds": [0, 1, 2],  # λ 0/0.5/0.8 and β 3/30
        "n_resamples": 50,
        "fd": {},  # the library's defaults (TrainConfig, DistillConfig, SamplerConfig, ...)
        # TabFairGAN's README: 200 epochs, the last 50 for fairness, λ 0.5, batch 256.
        "tabfairgan": {"epochs": 200, "fair_epochs": 50, "lamda": 0.5, "batch_size": 256},
        "tabfairgdt": {"lamda": 0.5},  # its README's default
        "ctgan": {"epochs": 300, "batch_size": 500},  # its defaults
    },
    "quick": {
        "seeds": [0],
        "sweep_seeds": [0],
        "n_resamples": 0,
        "fd": {"teacher": {"steps": 20, "rounds": 2}, "student": {"steps": 20, "rounds": 2}},
        "tabfairgan": {"epochs": 2, "fair_epochs": 1, "lamda": 0.5, "batch_size": 256},
        "tabfairgdt": {"lamda": 0.5},
        "ctgan": {"epochs": 1, "batch_size": 500},
    },
}
# Per-dataset cuts to fit the full benchmark in about an hour on 2 shared cores. Measured there:
# TabFairGAN ≈ 3.3 CPU s per epoch on Adult (≈ 6.5 s wall under load), CTGAN ≈ 3 s per epoch
# after ≈ 17 s of column transforms; at their default epochs they alone would take ≈ 2 h.
OVERRIDES: dict[tuple[str, str], dict] = {
    ("full", "adult"): {
        "tabfairgan": {"epochs": 80, "fair_epochs": 20},  # same 1/4 fair share as the README
        "ctgan": {"epochs": 50},
    },
    ("full", "compas"): {"ctgan": {"epochs": 150}},
}


def merge(base: dict, extra: dict) -> dict:
    out = json.loads(json.dumps(base))
    for key, value in extra.items():
        out[key] = merge(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def fd(settings: dict, variant: str = "train", **sections) -> dict:
    """fairdistill params: the profile's teacher/student settings plus a variant's sections."""
    return merge(merge(settings["fd"], sections), {"variant": variant})


def method_table(settings: dict) -> list[dict]:
    """Every method: name, runner kind, params, which seeds (main or sweep) and what it reuses."""
    reuse = {"needs": "fairdistill"}
    rows = [  # longest first within a seed, so the two workers finish together
        {"method": "fairdistill", "kind": "fairdistill", "params": fd(settings)},
        {"method": "tabfairgan", "kind": "tabfairgan", "params": settings["tabfairgan"]},
        {"method": "ctgan", "kind": "ctgan", "params": settings["ctgan"]},
        {"method": "real", "kind": "real", "params": {}},
        {"method": "tabfairgdt", "kind": "tabfairgdt", "params": settings["tabfairgdt"]},
        # TabFairGDT's own dial at its fairest setting (fairdistill's λ is swept too).
        {
            "method": "tabfairgdt-lamda-1",
            "kind": "tabfairgdt",
            "params": merge(settings["tabfairgdt"], {"lamda": 1.0}),
        },
        # Ablations of the default (decode-only ones reuse its trained model of the same seed).
        {
            "method": "fd-teacher-only",
            "kind": "fairdistill",
            "params": fd(settings, "teacher-only"),
            **reuse,
        },
        {
            "method": "fd-faithful",
            "kind": "fairdistill",
            "params": fd(settings, "reuse", generation={"mode": "faithful"}),
            **reuse,
        },
        {
            "method": "fd-eo",
            "kind": "fairdistill",
            "params": fd(settings, "reuse", generation={"mode": "eo"}),
            **reuse,
        },
        {
            "method": "fd-sampler-ddpm",
            "kind": "fairdistill",
            "params": fd(settings, "refit-sampler", sampler={"name": "ddpm"}),
            **reuse,
        },
        {
            "method": "fd-sampler-prior",
            "kind": "fairdistill",
            "params": fd(settings, "refit-sampler", sampler={"name": "prior"}),
            **reuse,
        },
        {
            "method": "fd-beta-0",
            "kind": "fairdistill",
            "params": fd(settings, teacher={"beta": 0.0}, student={"beta": 0.0}),
        },
    ]
    # Sweeps (curves on the frontier plot); λ = 1 and β = 10 (dcor) are the default run itself.
    for lam in (0.0, 0.5, 0.8):
        rows.append(
            {
                "method": f"fd-lambda-{lam:g}",
                "kind": "fairdistill",
                "sweep": True,
                "params": fd(settings, "reuse", generation={"fairness": lam}),
                **reuse,
            }
        )
    for beta in (3.0, 30.0):
        rows.append(
            {
                "method": f"fd-beta-{beta:g}",
                "kind": "fairdistill",
                "sweep": True,
                "params": fd(settings, teacher={"beta": beta}, student={"beta": beta}),
            }
        )
    return rows


def build_jobs(profile: str, datasets, methods_filter, seeds=None) -> list[dict]:
    """Jobs in priority order: seed by seed (so a partial run has every method at seed 0 first),
    dataset by dataset, trainers before what reuses them."""
    settings = PROFILES[profile]
    jobs = []
    main_seeds = seeds or settings["seeds"]
    for seed in main_seeds:
        for dataset in datasets:
            conf = merge(settings, OVERRIDES.get((profile, dataset), {}))
            for row in method_table(conf):
                if methods_filter and row["method"] not in methods_filter:
                    continue
                if row.get("sweep") and seed not in (seeds or conf["sweep_seeds"]):
                    continue
                job = {
                    "dataset": dataset,
                    "method": row["method"],
                    "kind": row["kind"],
                    "seed": seed,
                    "profile": profile,
                    "params": row["params"],
                    "n_resamples": conf["n_resamples"],
                    "needs": row.get("needs"),
                }
                if row["kind"] == "fairdistill":
                    owner = row.get("needs") or row["method"]
                    job["model_dir"] = str(
                        RESULTS / "models" / profile / dataset / owner / f"seed{seed}"
                    )
                jobs.append(job)
    code = benchmark_code()
    return [job | {"code": code} for job in jobs]


def benchmark_code() -> str:
    """sha256 (16 hex) over what decides a run's numbers: every module of the package and of the
    models, this benchmark's runner, and the pinned versions (the peers' included)."""
    from fairdistill.lake import files_digest

    files = sorted(p for folder in ("fairdistill", "models") for p in (ROOT / folder).rglob("*.py"))
    return files_digest([*files, HERE / "bench_methods.py", ROOT / "constraints.txt"])[:16]


def key(row: dict) -> tuple:
    """A run's identity: the code it ran (`benchmark_code`) and its profile, dataset, method, seed."""
    return (row.get("code"), row["profile"], row["dataset"], row["method"], int(row["seed"]))


def set_aside_other_code(store: Path, code: str) -> None:
    """Move the runs of other code out of ``store`` into ``<store>.before-<time>.jsonl``, so that they
    run again and a report never mixes two versions' numbers (a resumed benchmark skipped them by
    dataset, method and seed alone, whatever code had produced them)."""
    runs = load_runs(store)
    other = [r for r in runs if r.get("code") != code]
    if not other:
        return
    aside = store.with_name(f"{store.stem}.before-{time.strftime('%Y%m%dT%H%M%S')}.jsonl")
    aside.write_text("".join(json.dumps(r) + "\n" for r in other))
    store.write_text("".join(json.dumps(r) + "\n" for r in runs if r.get("code") == code))
    print(f"{len(other)} runs of other code moved to {aside.name}: they run again", flush=True)


def load_runs(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def start(job: dict, logs: Path) -> tuple[subprocess.Popen, Path, Path]:
    name = f"{job['dataset']}-{job['method']}-seed{job['seed']}"
    out, log = logs / f"{name}.json", logs / f"{name}.log"
    out.unlink(missing_ok=True)
    env = os.environ | {
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "FAIRDISTILL_TORCH_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        "TQDM_DISABLE": "1",
    }
    payload = json.dumps({k: v for k, v in job.items() if k != "needs"})
    handle = open(log, "w")  # noqa: SIM115 (closed when the process ends)
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "bench_methods.py"), payload, str(out)],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    proc._log_handle = handle  # type: ignore[attr-defined]
    return proc, out, log


def run_jobs(jobs: list[dict], store: Path, n_parallel: int, budget_s: float | None) -> None:
    done = {key(r) for r in load_runs(store)}
    pending = [j for j in jobs if key(j) not in done]
    print(
        f"{len(jobs)} runs, {len(jobs) - len(pending)} already in {store.name}, "
        f"{len(pending)} to go",
        flush=True,
    )
    logs = store.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    running: dict = {}
    failed: set = set()
    began = time.perf_counter()
    while pending or running:
        over = budget_s is not None and time.perf_counter() - began > budget_s
        if over and pending:
            print(f"budget reached: {len(pending)} runs not started", flush=True)
            pending = []
        for job in list(pending):
            if len(running) >= n_parallel:
                break
            need = job.get("needs")
            need_key = key(job | {"method": need}) if need else None
            if need_key and need_key in failed:
                print(f"skip {key(job)}: {need} failed", flush=True)
                pending.remove(job)
                failed.add(key(job))
                continue
            if need_key and need_key not in done:
                waiting = {key(j) for j in pending} | {key(j) for j, *_ in running.values()}
                if need_key not in waiting:
                    print(f"skip {key(job)}: {need} is neither done nor scheduled", flush=True)
                    pending.remove(job)
                continue
            pending.remove(job)
            proc, out, log = start(job, logs)
            running[proc] = (job, out, log, time.perf_counter())
            print(f"[{time.perf_counter() - began:7.0f}s] start {key(job)[2:]}", flush=True)
        time.sleep(0.5)
        for proc in list(running):
            if proc.poll() is None:
                continue
            job, out, log, t0 = running.pop(proc)
            proc._log_handle.close()
            elapsed = time.perf_counter() - t0
            if proc.returncode == 0 and out.exists():
                row = json.loads(out.read_text())
                with store.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                done.add(key(job))
                print(
                    f"[{time.perf_counter() - began:7.0f}s] done  {key(job)[2:]} in "
                    f"{elapsed:.0f}s: AUROC {row.get('m.tstr.hgb.auroc', float('nan')):.3f} "
                    f"DPR {row.get('m.tstr.hgb.dpr', float('nan')):.3f} "
                    f"train {row['train_wall_s']:.0f}s",
                    flush=True,
                )
            else:
                failed.add(key(job))
                tail = log.read_text().splitlines()[-15:]
                print(
                    f"FAILED {key(job)[2:]} (rc {proc.returncode}), log {log}:\n  "
                    + "\n  ".join(tail),
                    flush=True,
                )
        # Jobs whose dependency can no longer finish are dropped by the check above.
    print(f"all runs ended after {time.perf_counter() - began:.0f}s", flush=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", choices=sorted(PROFILES), default="full")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    p.add_argument("--methods", nargs="*", help="only these methods (default: all)")
    p.add_argument("--seeds", nargs="*", type=int, help="override the profile's seeds")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time (each one thread)")
    p.add_argument(
        "--budget-min", type=float, default=None, help="start no new run after this many minutes"
    )
    p.add_argument("--report-only", action="store_true")
    p.add_argument(
        "--publish",
        action="store_true",
        help="copy the markdown and plots to docs/benchmarks.md, docs/benchmarks/",
    )
    p.add_argument("--list", action="store_true", help="print the runs and exit")
    return p


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    store = RESULTS / f"runs-{args.profile}.jsonl"
    jobs = build_jobs(args.profile, args.datasets, args.methods, args.seeds)
    if args.list:
        for job in jobs:
            print(key(job), job["params"])
        return
    began = time.perf_counter()
    if not args.report_only:
        set_aside_other_code(store, benchmark_code())
        budget = args.budget_min * 60 if args.budget_min else None
        run_jobs(jobs, store, args.jobs, budget)
        span = {
            "start": time.time() - (time.perf_counter() - began),
            "wall_s": time.perf_counter() - began,
            "argv": argv or sys.argv[1:],
        }
        with (RESULTS / f"invocations-{args.profile}.jsonl").open("a") as handle:
            handle.write(json.dumps(span) + "\n")
    import bench_report

    bench_report.report(
        args.profile,
        store,
        publish=args.publish,
        command=" ".join(["benchmarks/run.py", *(argv or sys.argv[1:])]),
    )
    print(f"benchmark wall time this invocation: {(time.perf_counter() - began) / 60:.1f} min")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
