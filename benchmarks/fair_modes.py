"""The dp and eo modes on the default settings, seed by seed (issue #10): the audit's protocol.

Each run fits the library's stages (`models.pipeline`, as the refresh flow runs them) with one torch
and one OpenMP thread, timing each stage in CPU seconds (`time.process_time`); generates as many
rows as the training table in the run's mode, with the flow's copy policy; and audits them with the
audit's classifiers (gradient-boosted trees trained on the synthetic table, sensitive columns among
the features, tested on the real holdout) beside TRTR and the fair reference of the mode's
criterion; then checks the default gate as a refresh does (the audit's default intervals: a check
the holdout cannot resolve is judged by its interval). One JSON line per (table, seed, mode) in
benchmarks/results/fair_modes.jsonl.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fair_modes.py --tables adult compas adult-sex-race \\
        --seeds 0 1 2 --modes dp eo
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fair_modes.py --decoder none   # teacher.autoregressive

Tables: the built-in ``adult`` and ``compas``, and ``adult-sex-race`` (Adult with sex and race
both sensitive: ten intersectional groups). Not part of `make test`.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("FAIRDISTILL_GENERATE_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import get_args  # noqa: E402

import polars as pl  # noqa: E402
import torch  # noqa: E402

from fairdistill.audit import CRITERION_RATIO, audit_table, check_gate  # noqa: E402
from fairdistill.ingest import read_dataset  # noqa: E402
from fairdistill.settings import (  # noqa: E402
    AuditSettings,
    EarlierColumnsMode,
    GateThresholds,
    GenerationSettings,
    RefreshSettings,
    TeacherSettings,
)
from fairdistill.spec import DatasetSpec, load_builtin  # noqa: E402
from models import pipeline  # noqa: E402
from models.bundle import FairDistillModel  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "fair_modes.jsonl"
KEYS = ("auroc", "accuracy", "f1", "dpr", "eor")
# The decoder's earlier-columns choices (`teacher.autoregressive`) and the default one.
DECODERS = get_args(get_args(EarlierColumnsMode)[0])
DEFAULT_DECODER = TeacherSettings().autoregressive


def table(name: str) -> tuple[DatasetSpec, pl.DataFrame, pl.DataFrame]:
    """Spec, train and holdout of a table of this benchmark."""
    if name != "adult-sex-race":
        spec = load_builtin(name)
        train, holdout, _ = read_dataset(spec)
        return spec, train, holdout
    spec = load_builtin("adult")
    spec = DatasetSpec.model_validate(
        spec.model_dump()
        | {
            "sensitive": [
                {"column": "sex", "privileged": "Male"},
                {"column": "race", "privileged": "White"},
            ],
            "categorical": [c for c in spec.categorical if c != "race"],
        }
    )
    train, holdout, _ = read_dataset(spec)
    return spec, train, holdout


def timed(stages: dict, name: str, work):
    start = time.process_time()
    out = work()
    stages[name] = round(time.process_time() - start, 2)
    return out


def fit(spec, train, seed: int, decoder: str = DEFAULT_DECODER) -> tuple[FairDistillModel, dict]:
    """The default model of ``seed`` (with ``teacher.autoregressive: decoder``), stage by stage;
    CPU seconds of each stage."""
    settings = RefreshSettings.model_validate(
        {
            "teacher": {"seed": seed, "autoregressive": decoder},
            "student": {"seed": seed},
            "sampler": {"seed": seed},
        }
    )
    cpu: dict[str, float] = {}
    codec = timed(cpu, "encode", lambda: pipeline.fit_codec(train, spec))
    x, s = codec.encode(train)
    teacher, t_rounds = timed(
        cpu, "teacher", lambda: pipeline.fit_teacher(codec, x, s, settings.teacher)
    )
    student, s_rounds = timed(
        cpu, "student", lambda: pipeline.fit_student(teacher, x, s, settings.student)
    )
    sampler = timed(cpu, "sampler", lambda: pipeline.fit_sampler(student, x, s, settings.sampler))
    model = FairDistillModel(codec, teacher, student, sampler, teacher.settings, student.settings)
    model.label_model, model.labels = timed(
        cpu,
        "labels",
        lambda: pipeline.fit_labels(model, train, spec, settings.sampler),
    )
    cpu["fit"] = round(sum(cpu[k] for k in ("teacher", "student", "sampler", "labels")), 2)
    info = {
        "cpu_s": cpu,
        "rounds": [len(t_rounds), len(s_rounds)],
        "shifts": model.labels.shifts,
        "proxy_steps": model.labels.proxy_steps,
        "dependencies": [d.name for d in codec.dependencies_],
    }
    return model, info


def audit_row(train, holdout, synthetic, spec, seed: int, criterion: str) -> dict:
    """The audit's numbers of one synthetic table and the default gate's checks (with the audit's
    default intervals, as a refresh judges them), as one JSON-able row: the HGB numbers of TSTR,
    the fair reference and TRTR, the interval of the mode's ratio and its value at parity,
    detection, data-level parity, functional dependencies, the gate, and the process's peak RSS
    so far."""
    metrics = audit_table(
        train,
        holdout,
        synthetic,
        spec,
        random_state=seed,
        n_resamples=AuditSettings().bootstrap_resamples,
        criterion=criterion,
    )
    gate = check_gate(metrics, GateThresholds(), criterion)
    row = {
        f"{prefix}.{k}": round(metrics[f"{prefix}.hgb.{k}"], 4)
        for prefix in ("tstr", "fair", "trtr")
        for k in KEYS
    }
    ratio = f"tstr.hgb.{CRITERION_RATIO[criterion]}"
    row |= {
        k: round(v, 4)
        for k, v in metrics.items()
        if k in ("fidelity.detection_auc", "data.synthetic.dpr", "data.real.dpr")
        or k.startswith(("fidelity.fd.", f"{ratio}.", "tstr.hgb.auroc.ci_"))
    }
    row["gate"] = {
        c.name: [round(c.value, 4), round(c.threshold, 4), c.passed, c.judged_by] for c in gate
    }
    row["passed"] = all(c.passed for c in gate)
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return row


def run(name: str, seed: int, modes: list[str], decoder: str = DEFAULT_DECODER) -> list[dict]:
    spec, train, holdout = table(name)
    model, info = fit(spec, train, seed, decoder)
    info["decoder"] = decoder
    info["earlier_pairs"] = pipeline.earlier_column_pairs(model.codec, model.teacher)
    rows = []
    for mode in modes:
        generation = GenerationSettings(mode=mode, seed=seed)
        start = time.perf_counter()
        synthetic = pl.concat(
            pipeline.synthetic_rows(model, train.height, generation, exclude=train)
        )
        rate = train.height / (time.perf_counter() - start)
        row = {"table": name, "seed": seed, "mode": mode, **info}
        row |= audit_row(train, holdout, synthetic, spec, seed, generation.criterion)
        row["generate_rows_per_s"] = round(rate)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tables", nargs="+", default=["adult", "compas", "adult-sex-race"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--modes", nargs="+", default=["dp", "eo"])
    parser.add_argument(
        "--decoder", default=DEFAULT_DECODER, choices=DECODERS, help="teacher.autoregressive"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for name in args.tables:
        for seed in args.seeds:
            with RESULTS.open("a") as out:
                for row in run(name, seed, args.modes, args.decoder):
                    out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
