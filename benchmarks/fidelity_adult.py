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
  recon vs student recon vs GMM localises the loss (decoder vs student vs sampler); ``rx_f``,
  ``rx_lf``: the real training rows with only the label redrawn from the decoder at μ_T (label
  head vs feature heads).

Rows are appended to ``benchmarks/results/fidelity_adult.csv`` (runs already there are skipped);
``--decodes-of CONFIG --variants SET`` re-decodes the models a run saved (under $FIDELITY_MODELS,
default /tmp/fidelity_models) and appends to ``fidelity_adult_decodes.csv``. Two trainings at a
time, one thread each (DESIGN §4).

The knobs the grids f1 (tw*, dec*, cos, klwu), f3 (refit*) and the variant sets ft / rf / rf2 use
(TrainConfig.target_weight, decoder_hidden, lr_decay, kl_warmup, decoder_refit_epochs; decode
option feature_temperature and mode "rate-fair") measured no gain and were taken out of models/;
``patch -p1 < benchmarks/results/fidelity_knobs.patch`` puts them back to rerun those grids.
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
VARIANTS = ROOT / "benchmarks" / "results" / "fidelity_adult_decodes.csv"
MODELS = Path(os.environ.get("FIDELITY_MODELS", "/tmp/fidelity_models"))
SAMPLE_DECODES = [("f", "faithful", 1.0), ("lf", "label-fair", 1.0), ("t05", "label-fair", 0.5)]
DIAG_DECODES = ["tr_f", "tr_lf", "sr_f", "sr_lf", "rx_f", "rx_lf"]

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
    "f2": {"base2": {}},
    "f3": {
        "refit10": {"teacher": {"decoder_refit_epochs": 10}},
        "refit20": {"teacher": {"decoder_refit_epochs": 20, "decoder_refit_lr_scale": 1.0}},
    },
}


def fit(train, cats, config: dict, seed: int):
    import torch

    from fairdistill.codec import TabularCodec
    from models.samplers import GaussianMixtureSampler
    from models.student import DistillConfig
    from models.teacher import TrainConfig

    torch.set_num_threads(1)
    codec = TabularCodec(cats, ma.NUMERIC, [], ma.TARGET, [ma.SENSITIVE]).fit(train)
    tcfg = TrainConfig(**{**config.get("teacher", {}), "seed": seed, "progress": False})
    scfg = DistillConfig(**{**config.get("student", {}), "seed": seed, "progress": False})
    sampler = GaussianMixtureSampler(**{"random_state": seed, **config.get("sampler", {})})
    return ma.fit_parts(codec, train, tcfg, scfg, sampler)


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
    model.save(MODELS / f"{name}_s{seed}")
    row = {"config": name, "seed": seed, "overrides": json.dumps(config, sort_keys=True), **times}
    row["latent_leakage_auroc"] = ma.leakage(model, train, holdout)
    for tag, mode, temp in SAMPLE_DECODES:
        frame, rate = ma.generate(model, train.height, seed, mode, temp, threads=1)
        row[f"{tag}_gen_rows_per_s"] = rate
        row.update({f"{tag}_{k}": v for k, v in ma.tstr(frame, holdout, cats, seed).items()})
        row[f"{tag}_data_dpr"] = ma.data_dpr(frame)
    if diag:
        for tag in DIAG_DECODES:
            enc = model.student if tag.startswith("sr") else model.teacher.encoder
            mode = "faithful" if tag.endswith("_f") else "label-fair"
            frame = recon_frame(model, enc, train, mode, seed)
            if tag.startswith("rx"):  # real features, only the label from the decoder
                frame = train.with_columns(frame[ma.TARGET].alias(ma.TARGET))
            row.update({f"{tag}_{k}": v for k, v in ma.tstr(frame, holdout, cats, seed).items()})
            row[f"{tag}_data_dpr"] = ma.data_dpr(frame)
    return row


def run_decodes(name: str, seed: int, variants: list[tuple]) -> list[dict]:
    """Decode a saved model (`run_one` saves each) several ways: ``(tag, mode, label T, feature T,
    fairness)``; one row per variant."""
    import torch

    from models.bundle import FairDistillModel

    torch.set_num_threads(1)
    train, holdout = ma.load("train"), ma.load("holdout")
    cats = ma.categorical_columns(train)
    model = FairDistillModel.load(MODELS / f"{name}_s{seed}")
    rows = []
    for tag, mode, label_t, feature_t, fairness in variants:
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        extra = {} if feature_t == 1.0 else {"feature_temperature": feature_t}  # patched knob
        frame = ma.pl.concat(
            model.generate(
                train.height,
                seed=seed,
                mode=mode,
                fairness=fairness,
                label_temperature=label_t,
                **extra,
            )
        )
        rate = train.height / (time.perf_counter() - t0)
        row = {"config": name, "seed": seed, "decode": tag, "rows_per_s": rate}
        row.update(ma.tstr(frame, holdout, cats, seed))
        row["data_dpr"] = ma.data_dpr(frame)
        rows.append(row)
    return rows


VARIANT_SETS = {
    "rf2": [
        ("rf_t03", "rate-fair", 0.3, 1.0, 1.0),
        ("rf_t02", "rate-fair", 0.2, 1.0, 1.0),
        ("rf_t01", "rate-fair", 0.1, 1.0, 1.0),
        ("lf_t02", "label-fair", 0.2, 1.0, 1.0),
    ],
    "rf": [
        ("lf", "label-fair", 1.0, 1.0, 1.0),
        ("lf_t05", "label-fair", 0.5, 1.0, 1.0),
        ("rf", "rate-fair", 1.0, 1.0, 1.0),
        ("rf_t05", "rate-fair", 0.5, 1.0, 1.0),
        ("f", "faithful", 1.0, 1.0, 1.0),
    ],
    # (tag, mode, label temperature, feature temperature, fairness)
    "ft": [
        ("lf_ft1", "label-fair", 1.0, 1.0, 1.0),
        ("lf_ft0.8", "label-fair", 1.0, 0.8, 1.0),
        ("lf_ft0.6", "label-fair", 1.0, 0.6, 1.0),
        ("t05_ft0.8", "label-fair", 0.5, 0.8, 1.0),
        ("t05_ft0.6", "label-fair", 0.5, 0.6, 1.0),
        ("f_ft0.8", "faithful", 1.0, 0.8, 1.0),
    ],
}


def decode_summary(path: Path, configs: list[str]) -> str:
    import polars as pl

    d = pl.read_csv(path).filter(pl.col("config").is_in(configs))
    agg = d.group_by("config", "decode", maintain_order=True).agg(
        pl.len().alias("n"),
        *(
            e
            for m in ("auroc", "model_dpr", "data_dpr", "rows_per_s")
            for e in (pl.col(m).mean().round(3).alias(m), pl.col(m).std().round(3).alias(m + "_sd"))
        ),
    )
    with pl.Config(tbl_rows=100, tbl_cols=20, tbl_width_chars=200):
        return str(agg)


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
    p.add_argument(
        "--decodes-of", nargs="*", help="decode these saved configs the VARIANT_SETS way"
    )
    p.add_argument("--variants", default="ft", help=f"one of {sorted(VARIANT_SETS)}")
    args = p.parse_args(argv)
    if args.decodes_of:
        variants = VARIANT_SETS[args.variants]
        with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
            futs = [
                pool.submit(run_decodes, n, s, variants)
                for n in args.decodes_of
                for s in args.seeds
            ]
            for fut in as_completed(futs):
                for row in fut.result():
                    append(VARIANTS, row)
        print(decode_summary(VARIANTS, args.decodes_of))
        return
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
