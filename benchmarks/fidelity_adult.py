"""Where does TSTR AUROC go, and which training changes win it back? (Adult, label-fair decoding.)

Usage::

    .venv/bin/python benchmarks/fidelity_adult.py --grid f1 [--configs base tw5] [--seeds 0 1 2]
    .venv/bin/python benchmarks/fidelity_adult.py --summary [--grid f1]

Each run trains teacher → student → GMM with the library defaults overridden by the config
(``{"teacher": TrainConfig fields, "student": DistillConfig fields, "sampler": GMM params}``), then
trains HistGradientBoosting on differently decoded tables and tests it on the real holdout
(`method_adult.tstr`):

- ``f``, ``lf``, ``t05``: GMM samples decoded faithful / label-fair T=1 / label-fair T=0.5;
- with ``--diag`` also the training rows' own latents decoded with their own s (reconstruction):
  ``tr_f``, ``tr_lf`` from the teacher's μ_T, ``sr_f``, ``sr_lf`` from the student's μ_S. Teacher
  recon vs student recon vs GMM localises the loss (decoder vs student vs sampler).

Rows are appended to ``benchmarks/results/fidelity_adult.csv`` (runs already there are skipped).
Two trainings at a time, one thread each (DESIGN §4).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import multiprocessing as mp
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import method_adult as ma  # noqa: E402
from benchmarks.tune_adult import append, done_runs  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "fidelity_adult.csv"
SAMPLE_DECODES = [("f", "faithful", 1.0), ("lf", "label-fair", 1.0), ("t05", "label-fair", 0.5)]
DIAG_DECODES = ["tr_f", "tr_lf", "sr_f", "sr_lf"]

GRIDS: dict[str, dict[str, dict]] = {
    "f1": {
        "base": {},
        "tw3": {"teacher": {"target_weight": 3}, "student": {"target_weight": 3}},
        "tw5": {"teacher": {"target_weight": 5}, "student": {"target_weight": 5}},
        "tw10": {"teacher": {"target_weight": 10}, "student": {"target_weight": 10}},
        "dec512": {"teacher": {"decoder_hidden": [512, 512]}},
        "dec3": {"teacher": {"decoder_hidden": [256, 256, 256]}},
        "cos": {"teacher": {"lr_decay": "cosine"}},
        "klwu": {"teacher": {"kl_warmup": 10}},
        "gmm50": {"sampler": {"n_components": 50}},
    },
}


def fit(train, cats, config: dict, seed: int):
    import torch

    from fairdistill.codec import TabularCodec
    from models.bundle import build_model
    from models.samplers import GaussianMixtureSampler
    from models.student import DistillConfig, distill
    from models.teacher import TrainConfig, as_tensor, head_spec, train_teacher

    torch.set_num_threads(1)
    codec = TabularCodec(cats, ma.NUMERIC, [], ma.TARGET, [ma.SENSITIVE]).fit(train)
    x, s = codec.encode(train)
    tcfg = TrainConfig(**{**config.get("teacher", {}), "seed": seed, "progress": False})
    scfg = DistillConfig(**{**config.get("student", {}), "seed": seed, "progress": False})
    times = {}
    t0 = time.perf_counter()
    teacher, hist_t = train_teacher(x, s, head_spec(codec.blocks_), tcfg)
    times["teacher_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    student, hist_s = distill(teacher, x, s, scfg)
    times["student_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.no_grad():
        mu, _ = student(as_tensor(x, "cpu"), as_tensor(s, "cpu"))
    sampler = GaussianMixtureSampler(**{"random_state": seed, **config.get("sampler", {})})
    sampler.fit(mu.numpy())
    times["sampler_s"] = time.perf_counter() - t0
    times["train_s"] = times["teacher_s"] + times["student_s"] + times["sampler_s"]
    times["epochs_teacher"], times["epochs_student"] = len(hist_t), len(hist_s)
    return build_model(codec, teacher, student, sampler, tcfg, scfg), times


def recon_frame(model, encoder, train, mode: str, seed: int):
    """The training rows' own latent means (``encoder``'s), decoded with their own s."""
    import torch

    from models.bundle import latent_means
    from models.decoding import DecodeOptions

    z = latent_means(encoder, *model.codec.encode(train))
    s_index = torch.as_tensor(model.codec.s_index(train))
    return model._decode(z, DecodeOptions(mode), torch.Generator().manual_seed(seed), s_index)


def run_one(name: str, config: dict, seed: int, diag: bool) -> dict:
    import torch

    torch.set_num_threads(1)
    train, holdout = ma.load("train"), ma.load("holdout")
    cats = ma.categorical_columns(train)
    model, times = fit(train, cats, config, seed)
    row = {"config": name, "seed": seed, "overrides": json.dumps(config, sort_keys=True), **times}
    row["latent_leakage_auroc"] = ma.leakage(model, train, holdout)
    for tag, mode, temp in SAMPLE_DECODES:
        frame, rate = ma.generate(model, train.height, seed, mode, temp, threads=1)
        row[f"{tag}_gen_rows_per_s"] = rate
        row.update({f"{tag}_{k}": v for k, v in ma.tstr(frame, holdout, cats, seed).items()})
        row[f"{tag}_data_dpr"] = ma.data_dpr(frame)
    if diag:
        for tag in DIAG_DECODES:
            enc = model.teacher.encoder if tag.startswith("tr") else model.student
            mode = "faithful" if tag.endswith("_f") else "label-fair"
            frame = recon_frame(model, enc, train, mode, seed)
            row.update({f"{tag}_{k}": v for k, v in ma.tstr(frame, holdout, cats, seed).items()})
            row[f"{tag}_data_dpr"] = ma.data_dpr(frame)
    return row


def summary(path: Path, configs: list[str] | None = None) -> str:
    import csv

    with path.open() as f:
        rows = list(csv.DictReader(f))
    order = list(dict.fromkeys(r["config"] for r in rows))
    if configs:
        order = [c for c in order if c in configs]

    def ms(v) -> str:
        v = np.asarray(v, dtype=float)
        return f"{v.mean():.3f}±{v.std(ddof=1) if len(v) > 1 else 0:.3f}"

    tags = [t for t, *_ in SAMPLE_DECODES] + DIAG_DECODES
    head = f"{'config':<16}{'dec':<6}{'n':>2}  {'AUROC':>11}  {'modelDPR':>11}  {'dataDPR':>11}"
    head += f"  {'leak':>11}  {'train_s':>7}"
    lines = [head, "-" * len(head)]
    for name in order:
        runs = [r for r in rows if r["config"] == name]
        for tag in tags:
            if not runs[0].get(f"{tag}_auroc"):
                continue
            col = lambda m: [float(r[f"{tag}_{m}"]) for r in runs]  # noqa: E731, B023
            lines.append(
                f"{name:<16}{tag:<6}{len(runs):>2}  {ms(col('auroc'))}  {ms(col('model_dpr'))}  "
                f"{ms(col('data_dpr'))}  {ms([float(r['latent_leakage_auroc']) for r in runs])}  "
                f"{np.mean([float(r['train_s']) for r in runs]):>7.1f}"
            )
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", default="f1", help=f"one of {sorted(GRIDS)}")
    p.add_argument("--configs", nargs="*")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--diag", action="store_true", help="also the reconstruction decodes")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--summary", action="store_true")
    args = p.parse_args(argv)
    grid = GRIDS[args.grid]
    names = args.configs or list(grid)
    if not args.summary:
        done = done_runs(args.out)
        todo = [(n, s) for n in names for s in args.seeds if (n, s) not in done]
        print(f"{len(todo)} runs to do", flush=True)
        with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
            futs = {pool.submit(run_one, n, grid[n], s, args.diag): (n, s) for n, s in todo}
            for fut in as_completed(futs):
                n, s = futs[fut]
                try:
                    row = fut.result()
                except Exception as exc:
                    print(f"FAILED {n} seed {s}: {exc!r}", flush=True)
                    continue
                append(args.out, row)
                print(
                    f"{n} s{s}: lf {row['lf_auroc']:.3f}/{row['lf_model_dpr']:.3f} "
                    f"t05 {row['t05_auroc']:.3f}/{row['t05_model_dpr']:.3f} "
                    f"f {row['f_auroc']:.3f} train {row['train_s']:.0f}s",
                    flush=True,
                )
    if args.out.exists():
        print(summary(args.out, names))


if __name__ == "__main__":
    main()
