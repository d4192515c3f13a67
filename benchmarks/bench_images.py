"""Colored-MNIST benchmark (issue #14): fair synthetic images through the refresh's stages, against
the same CNN trained on real images.

Usage::

    .venv/bin/python benchmarks/bench_images.py                    # colored-mnist, seed 0
    .venv/bin/python benchmarks/bench_images.py --seeds 0 1 2      # mean ± std over seeds
    .venv/bin/python benchmarks/bench_images.py --refresh          # also `fairdistill refresh` wall time
    .venv/bin/python benchmarks/bench_images.py --dataset colored-mnist-mod3

Reads only the shipped dataset (datasets/colored-mnist/). Per seed: the generator's stages
(`models.pipeline`, the dataset's tuned settings) timed one by one, the synthetic images
(`synthetic_rows`, as the flow's generate stage), the generation rate (images with their PNG bytes,
per second), and the image audit (`models.image_audit.audit_images`). Beside them, the audit's CNN
trained on real images: the biased real train, the real train resampled so that the label is
independent of the colour (the audit's fair reference) and a colour-balanced real train (the same
training digits, each repainted in a colour drawn independently of its label: the issue's fair
reference), plus a logistic regression on the pixels of both (the issue's first numbers). Results go
to benchmarks/results/images-<dataset>.json and to stdout as markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import torch  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from fairdistill.images import encode_png, pixel_array  # noqa: E402
from fairdistill.ingest import read_dataset  # noqa: E402
from fairdistill.metrics import accuracy_per_group, balanced_resample, score_predictions  # noqa: E402
from fairdistill.report import IMAGE_DETAIL_ROWS  # noqa: E402
from fairdistill.settings import dataset_settings  # noqa: E402
from fairdistill.spec import load_builtin  # noqa: E402
from models import pipeline  # noqa: E402
from models.bundle import FairDistillModel  # noqa: E402
from models.image_audit import audit_images, cnn_scores  # noqa: E402
from models.student import count_parameters  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
KEYS = ("accuracy", "auroc", "dpr", "eor", "accuracy_gap")


def scores(y_true, y_score, groups) -> dict[str, float]:
    """The numbers of one classifier on the holdout, as the audit reports them."""
    found = score_predictions(y_true, y_score, sensitive=groups)
    per_group = accuracy_per_group(y_true, (y_score >= 0.5).astype(int), sensitive=groups)
    found["accuracy_gap"] = max(per_group.values()) - min(per_group.values())
    return {key: found[key] for key in KEYS}


def repainted(table: pl.DataFrame, seed: int) -> pl.DataFrame:
    """The same digits, each repainted in a colour drawn independently of its label (the digits are
    painted in one channel, so the grey digit is the image's largest channel)."""
    rng = np.random.default_rng(seed)
    grey = pixel_array(table["image"], (3, 14, 14)).max(axis=1)
    colour = rng.integers(0, 3, table.height)
    rgb = np.zeros((table.height, 14, 14, 3), np.uint8)
    rgb[np.arange(table.height), :, :, colour] = grey
    names = np.array(["red", "green", "blue"])
    return table.with_columns(
        pl.Series("image", encode_png(rgb), pl.Binary), pl.Series("colour", names[colour])
    )


def arrays(table: pl.DataFrame, spec):
    pixels = pixel_array(table["image"], (3, 14, 14)).astype(np.float32) / 255.0
    labels = (table[spec.target].cast(pl.String) == spec.positive_label).to_numpy().astype(int)
    return pixels, labels, table["colour"].to_numpy()


def real_baselines(spec, train: pl.DataFrame, holdout: pl.DataFrame, seed: int) -> dict:
    """The audit's CNN and a logistic regression on pixels, trained on real images."""
    test = arrays(holdout, spec)
    sets = {
        "biased real train": arrays(train, spec),
        "colour-balanced real train": arrays(repainted(train, seed), spec),
    }
    keep = balanced_resample(
        sets["biased real train"][1], sensitive=sets["biased real train"][2], random_state=seed
    )
    sets["resampled real train (audit's fair reference)"] = tuple(
        a[keep] for a in sets["biased real train"]
    )
    out = {}
    torch.set_num_threads(1)
    for name, (pixels, labels, _) in sets.items():
        cnn = cnn_scores(
            torch.as_tensor(pixels), labels, torch.as_tensor(test[0]), random_state=seed
        )
        out[f"CNN on {name}"] = scores(test[1], cnn, test[2])
        if "resampled" not in name:
            logistic = LogisticRegression(max_iter=2000).fit(
                pixels.reshape(len(pixels), -1), labels
            )
            proba = logistic.predict_proba(test[0].reshape(len(test[0]), -1))[:, 1]
            out[f"logistic regression on {name}"] = scores(test[1], proba, test[2])
    return out


def generator_run(spec, train, holdout, seed: int) -> dict:
    """The refresh's stages with the dataset's tuned settings, the synthetic images and their audit."""
    settings = dataset_settings(spec.name)
    for section in ("teacher", "student", "sampler", "generation", "audit"):
        setattr(settings, section, getattr(settings, section).model_copy(update={"seed": seed}))
    timings, start, cpu = {}, time.perf_counter(), time.process_time()
    codec = pipeline.fit_codec(train, spec)
    x, s = codec.encode(train)
    teacher, _ = pipeline.fit_teacher(codec, x, s, settings.teacher)
    timings["teacher_s"] = time.perf_counter() - start
    student, _ = pipeline.fit_student(teacher, x, s, settings.student)
    timings["student_s"] = time.perf_counter() - start - timings["teacher_s"]
    sampler = pipeline.fit_sampler(student, x, s, settings.sampler)
    model = FairDistillModel(codec, teacher, student, sampler, settings.teacher, settings.student)
    timings["train_s"] = time.perf_counter() - start
    timings["train_cpu_s"] = time.process_time() - cpu
    rows = settings.generation.rows or train.height
    synthetic = pl.concat(
        list(pipeline.synthetic_rows(model, rows, settings.generation, exclude=train))
    )
    clock = time.perf_counter()
    made = sum(chunk.height for chunk in model.generate(20_000, settings.generation))
    timings["images_per_s"] = made / (time.perf_counter() - clock)
    clock = time.perf_counter()
    metrics = audit_images(
        train,
        holdout,
        synthetic,
        spec,
        random_state=seed,
        n_resamples=0,
        holdout_latents=model.encode_latent(holdout),
    )
    timings["audit_s"] = time.perf_counter() - clock
    sizes = {
        "teacher_encoder_parameters": count_parameters(teacher.encoder),
        "student_parameters": count_parameters(student),
    }
    return {"timings": timings, "sizes": sizes, "metrics": metrics}


def refresh_wall(dataset: str) -> dict:
    """`fairdistill refresh --dataset <name>` in a fresh lake, MLflow store and Prefect home."""
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "FAIRDISTILL_LAKE": f"{home}/lake",
            "MLFLOW_TRACKING_URI": f"sqlite:///{home}/mlflow.db",
            "FAIRDISTILL_MLFLOW_ARTIFACTS": f"{home}/mlartifacts",
            "PREFECT_HOME": f"{home}/prefect",
        }
        start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [str(ROOT / ".venv/bin/fairdistill"), "refresh", "--dataset", dataset],
            env=env,
            capture_output=True,
            text=True,
            cwd=home,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        audits = list(Path(home, "lake").glob(f"*/{dataset}/*/audit.json"))
        metrics = json.loads(audits[0].read_text())["metrics"] if audits else {}
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "exit_code": done.returncode,
        "tail": done.stdout[-600:] + done.stderr[-600:],
        "metrics": metrics,
    }


def markdown(dataset: str, baselines: list[dict], runs: list[dict], refresh: dict | None) -> str:
    def cell(values):
        values = np.asarray(values, dtype=float)
        return f"{values.mean():.3f}" + (f" ± {values.std():.3f}" if len(values) > 1 else "")

    lines = [f"### {dataset}: tested on the colour-independent holdout (3,000 images)", ""]
    lines += [
        "| trained on | accuracy | AUROC | DPR (colour) | EOR | accuracy gap between colours |",
        "|---|---|---|---|---|---|",
    ]
    for name in baselines[0]:
        lines.append(
            f"| {name} | " + " | ".join(cell([b[name][k] for b in baselines]) for k in KEYS) + " |"
        )
    lines.append(
        "| **CNN on fairdistill's synthetic images** | "
        + " | ".join(cell([r["metrics"][f"tstr.cnn.{k}"] for r in runs]) for k in KEYS)
        + " |"
    )
    lines += ["", "| number | value |", "|---|---|"]
    lines += [
        f"| {key} | {cell([r['metrics'][key] for r in runs])} |" for key, *_ in IMAGE_DETAIL_ROWS
    ]
    for key in ("teacher_s", "student_s", "train_s", "train_cpu_s", "audit_s", "images_per_s"):
        lines.append(f"| {key} | {cell([r['timings'][key] for r in runs])} |")
    for key in ("teacher_encoder_parameters", "student_parameters"):
        lines.append(f"| {key} | {runs[0]['sizes'][key]} |")
    if refresh:
        lines.append(
            f"| whole refresh, `fairdistill refresh --dataset {dataset}`: wall s (CPU s) | "
            f"{refresh['wall_s']:.0f} ({refresh['cpu_s']:.0f}), exit {refresh['exit_code']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", default="colored-mnist", choices=["colored-mnist", "colored-mnist-mod3"]
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--refresh", action="store_true", help="also time the whole refresh")
    args = parser.parse_args()
    spec = load_builtin(args.dataset)
    train, holdout, _ = read_dataset(spec)
    baselines, runs = [], []
    for seed in args.seeds:
        baselines.append(real_baselines(spec, train, holdout, seed))
        runs.append(generator_run(spec, train, holdout, seed))
        print(
            f"seed {seed}: "
            + json.dumps({k: round(runs[-1]["metrics"][f"tstr.cnn.{k}"], 3) for k in KEYS}),
            flush=True,
        )
    refresh = refresh_wall(args.dataset) if args.refresh else None
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "dataset": args.dataset,
        "seeds": args.seeds,
        "baselines": baselines,
        "runs": runs,
        "refresh": refresh,
    }
    (RESULTS / f"images-{args.dataset}.json").write_text(
        json.dumps(payload, indent=1, default=float)
    )
    print(markdown(args.dataset, baselines, runs, refresh))


if __name__ == "__main__":
    main()
