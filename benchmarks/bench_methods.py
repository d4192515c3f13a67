"""One benchmark run in its own process: train a method, sample a table, audit it (issue #6).

Usage (benchmarks/run.py starts it; by hand only for debugging)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_methods.py '<job json>' out.json

A job is ``{"dataset", "method", "seed", "profile", "params", "model_dir"}``. The worker writes one
JSON object: cost (train wall/CPU seconds, sample rows/s, peak RSS, parameter count) and every number
of `fairdistill.audit.audit_table` (the project's audit, the same for every method).

Measurement rules, the same for every method:
- one thread (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``);
- train = everything from the normalised train table to a fitted generator (encoding included);
  CPU = ``time.process_time`` over the same span;
- sample = making ``len(train)`` rows in the train table's schema;
- peak RSS = ``ru_maxrss`` of this process read right after sampling, before the audit runs (the
  audit's own memory is not charged to the method); the RSS after loading the data is reported too.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from fairdistill.ingest import read_dataset  # noqa: E402
from fairdistill.spec import DatasetSpec, load_builtin  # noqa: E402

NA = "__NA__"  # stand-in for a missing category in the peers' pandas tables


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Clock:
    """Wall and CPU seconds of a span."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def one_thread() -> None:
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


# ----------------------------------------------------------------------------------------------
# fairdistill (library calls, the same stages as flows/refresh.py)


def fd_settings(seed: int, params: dict):
    """The refresh's settings with every seed set to ``seed`` and the job's overrides."""
    from fairdistill.settings import RefreshSettings

    sections = {
        name: {"seed": seed, **params.get(name, {})}
        for name in ("teacher", "student", "sampler", "generation")
    }
    for name in ("teacher", "student"):
        sections[name]["device"] = "cpu"
    return RefreshSettings.model_validate(sections)


def fd_train(spec, train, seed, params, model_dir: Path | None) -> tuple[object, dict]:
    """The library's stages (`models.pipeline`, as the refresh flow runs them), timed one by one;
    saves the bundle (and the stage timings) into ``model_dir`` so decode-only ablations reuse it."""
    from models import pipeline
    from models.bundle import FairDistillModel
    from models.student import count_parameters

    settings = fd_settings(seed, params)
    stages = {}
    with Clock() as c:
        codec = pipeline.fit_codec(train, spec)
        x, s = codec.encode(train)
    stages["encode"] = (c.wall, c.cpu)
    with Clock() as c:
        teacher, hist_t = pipeline.fit_teacher(codec, x, s, settings.teacher)
    stages["teacher"] = (c.wall, c.cpu)
    with Clock() as c:
        student, hist_s = pipeline.fit_student(teacher, x, s, settings.student)
    stages["student"] = (c.wall, c.cpu)
    with Clock() as c:
        sampler = pipeline.fit_sampler(student, x, s, settings.sampler)
    stages["sampler"] = (c.wall, c.cpu)
    model = FairDistillModel(codec, teacher, student, sampler, teacher.settings, student.settings)
    with Clock() as c:
        model.label_model, model.labels = pipeline.fit_labels(model, train, spec, settings.sampler)
    stages["labels"] = (c.wall, c.cpu)
    info = {
        "stages": stages,
        "rounds_teacher": len(hist_t),
        "rounds_student": len(hist_s),
        "params_teacher_encoder": count_parameters(teacher.encoder),
        "params_decoder": count_parameters(teacher.decoder),
        "params_student": count_parameters(student),
    }
    if model_dir is not None:
        model.save(model_dir)
        (Path(model_dir) / "bench_stages.json").write_text(json.dumps(info))
    return model, info


def sampler_params(sampler) -> int:
    """Torch parameters of a latent sampler (the DDPM's denoiser; 0 for GMM and prior)."""
    state = getattr(sampler, "state_", None)
    return int(sum(np.asarray(v).size for v in state.values())) if state else 0


def run_fairdistill(spec, train, holdout, job) -> dict:
    """The default pipeline or one of its ablations (``job["params"]["variant"]``)."""
    from models.bundle import FairDistillModel, latent_means
    from models.pipeline import fit_labels, fit_sampler, synthetic_rows

    one_thread()
    seed, params = job["seed"], job["params"]
    variant = params.get("variant", "train")
    settings = fd_settings(seed, params)
    model_dir = Path(job["model_dir"]) if job.get("model_dir") else None
    out: dict = {"family": "fairdistill", "variant": variant}

    if variant == "train":  # default pipeline, β variants: train everything
        with Clock() as c:
            model, info = fd_train(spec, train, seed, params, model_dir)
        train_wall, train_cpu = c.wall, c.cpu
        sampler_wall, sampler_cpu = (
            a + b for a, b in zip(info["stages"]["sampler"], info["stages"]["labels"], strict=True)
        )
    else:  # decode-only ablation of the default model of this seed (trained by its own run)
        model = FairDistillModel.load(model_dir)
        info = json.loads((model_dir / "bench_stages.json").read_text())
        x, s = model.codec.encode(train)
        if variant == "reuse":  # the default sampler as trained (decode-setting ablations)
            sampler_wall, sampler_cpu = (
                a + b
                for a, b in zip(info["stages"]["sampler"], info["stages"]["labels"], strict=True)
            )
        else:  # "refit-sampler" (another sampler) or "teacher-only" (no distillation)
            with Clock() as c:  # the labels are calibrated on the sampler's codes: again
                encoder = model.teacher.encoder if variant == "teacher-only" else model.student
                model.sampler = fit_sampler(encoder, x, s, settings.sampler)
                model.label_model, model.labels = fit_labels(model, train, spec, settings.sampler)
            sampler_wall, sampler_cpu = c.wall, c.cpu
        # Train cost of this variant = the stages it needs, as measured when they were trained.
        needed = ["encode", "teacher"] + ([] if variant == "teacher-only" else ["student"])
        train_wall = sum(info["stages"][k][0] for k in needed) + sampler_wall
        train_cpu = sum(info["stages"][k][1] for k in needed) + sampler_cpu
        out["train_cost_note"] = "stages reused from the default run of this seed"
    # sampler_fit_s: the latent sampler and the label calibration fitted on its codes
    out |= {"train_wall_s": train_wall, "train_cpu_s": train_cpu, "sampler_fit_s": sampler_wall}
    out |= {f"stage_{k}_s": v[0] for k, v in info["stages"].items()}
    out |= {"rounds_teacher": info["rounds_teacher"], "rounds_student": info["rounds_student"]}
    uses_student = variant != "teacher-only"
    out["n_params"] = (
        info["params_teacher_encoder"]
        + info["params_decoder"]
        + (info["params_student"] if uses_student else 0)
        + sampler_params(model.sampler)
    )
    out["n_params_generate"] = info["params_decoder"] + sampler_params(model.sampler)

    with Clock() as c:
        synthetic = pl.concat(
            list(synthetic_rows(model, train.height, settings.generation, exclude=train))
        )
    out["sample_wall_s"] = c.wall
    out["peak_rss_mb"] = rss_mb()
    encoder = model.student if uses_student else model.teacher.encoder
    out["_holdout_latents"] = latent_means(encoder, *model.codec.encode(holdout))
    return out | {"_synthetic": synthetic}


# ----------------------------------------------------------------------------------------------
# Peers from PyPI. Every peer gets the same train table as pandas: categories (target and sensitive
# included) as text with missing → "__NA__", numbers as float, datetimes as float epoch seconds.


def peer_frame(train: pl.DataFrame, spec: DatasetSpec):
    cats = [*spec.categorical, spec.target, *spec.sensitive_columns]
    exprs = []
    for column, dtype in train.schema.items():
        if column in cats:
            exprs.append(pl.col(column).cast(pl.String).fill_null(NA))
        elif dtype.is_temporal():
            exprs.append(pl.col(column).dt.epoch("s").cast(pl.Float64))
        else:
            exprs.append(pl.col(column).cast(pl.Float64))
    frame = train.select(exprs).to_pandas()
    for column in cats:
        frame[column] = frame[column].astype(object)
    if frame.drop(columns=cats).isna().any().any():
        raise ValueError("a numeric column has missing values; the peers take none")
    return frame, cats


def back_to_schema(frame, train: pl.DataFrame, spec: DatasetSpec) -> pl.DataFrame:
    """A peer's pandas output in the train table's columns and dtypes."""
    cats = {*spec.categorical, spec.target, *spec.sensitive_columns}
    columns = []
    for column, dtype in train.schema.items():
        values = frame[column]
        if column in cats:
            text = pl.Series(column, [None if v is None else str(v) for v in values.tolist()])
            text = text.replace(NA, None)
            columns.append(text.cast(dtype) if dtype != pl.String else text)
        elif dtype.is_temporal():
            secs = pl.Series(column, np.asarray(values, dtype=np.float64))
            columns.append((secs * 1e6).round().cast(pl.Int64).cast(pl.Datetime("us")).cast(dtype))
        elif dtype.is_integer():
            num = np.round(np.asarray(values, dtype=np.float64))
            columns.append(pl.Series(column, num).cast(dtype, strict=False))
        else:
            columns.append(pl.Series(column, np.asarray(values, dtype=np.float64)).cast(dtype))
    return pl.DataFrame(columns)


def group_rates(train: pl.DataFrame, spec: DatasetSpec) -> dict[str, float]:
    s, y = spec.sensitive_columns[0], spec.target
    positive = (pl.col(y).cast(pl.String) == spec.positive_label).cast(pl.Float64)
    rates = train.group_by(s).agg(positive.mean().alias("rate"))
    return dict(zip(rates[s].to_list(), rates["rate"].to_list(), strict=True))


def torch_params(*modules) -> int:
    return int(sum(p.numel() for m in modules for p in m.parameters()))


def run_tabfairgan(spec, train, holdout, job) -> dict:
    """TabFairGAN (Rajabi & Garibay 2022), package `tabfairgan`: WGAN-GP, then `fair_epochs` of
    the fairness loss (demographic parity between S_under and the privileged group)."""
    import torch
    from tabfairgan.main import TFG

    one_thread()
    p, seed = job["params"], job["seed"]
    torch.manual_seed(seed)
    np.random.seed(seed)  # its train/validation split uses numpy's global state
    rates = group_rates(train, spec)
    under = min(rates, key=rates.get)  # the group with the lowest positive rate
    fairness = {
        "fair_epochs": p["fair_epochs"],
        "lamda": float(p["lamda"]),
        "S": spec.sensitive_columns[0],
        "Y": spec.target,
        "S_under": under,
        "Y_desire": spec.positive_label,
    }
    out = {"family": "peer", "fairness_setting": json.dumps(fairness)}
    with Clock() as c:
        frame, _ = peer_frame(train, spec)
        tfg = TFG(
            frame,
            epochs=p["epochs"],
            batch_size=p["batch_size"],
            device="cpu",
            fairness_config=fairness if p["fair_epochs"] else None,
        )
        tfg.train()
    out |= {"train_wall_s": c.wall, "train_cpu_s": c.cpu}
    if p["fair_epochs"]:
        # TabFairGAN's fairness loss reads the first two one-hot columns of S: say which they are.
        cats = list(tfg.ohe.categories_[list(tfg.discrete_columns).index(fairness["S"])])
        out["fairness_groups"] = f"{cats[tfg.underpriv_index]} vs {cats[tfg.priv_index]}"
    out["n_params"] = torch_params(tfg.generator, tfg.critic)
    out["n_params_generate"] = torch_params(tfg.generator)
    with Clock() as c, torch.no_grad():
        synthetic = back_to_schema(tfg.generate_fake_df(train.height), train, spec)
    out["sample_wall_s"] = c.wall
    out["peak_rss_mb"] = rss_mb()
    return out | {"_synthetic": synthetic}


def run_tabfairgdt(spec, train, holdout, job) -> dict:
    """TabFairGDT (Panagiotou et al., ICDM 2025), package `tabfairgdt`: one CART per column,
    fairness by leaf relabelling of the target's tree (demographic parity, ``lamda``). Its protected
    attribute is binary (the first category seen vs the rest): rows are ordered so that the
    privileged group comes first, i.e. privileged vs the rest."""
    from tabfairgdt import TABFAIRGDT

    p, seed = job["params"], job["seed"]
    np.random.seed(seed)
    s_col, privileged = spec.sensitive_columns[0], spec.sensitive[0].privileged
    out = {
        "family": "peer",
        "fairness_setting": json.dumps(
            {
                "protected_attribute": s_col,
                "target": spec.target,
                "lamda": p["lamda"],
                "criterion": "dp",
                "binary_protected": f"{privileged} vs rest",
            }
        ),
    }
    with Clock() as c:
        frame, cats = peer_frame(train, spec)
        first = frame.index[frame[s_col] == privileged][0]
        frame = frame.loc[[first, *frame.index.drop(first)]].reset_index(drop=True)
        for column in cats:
            frame[column] = frame[column].astype("category")
        dtype_map = {col: "category" if col in cats else "float" for col in frame.columns}
        model = TABFAIRGDT(
            protected_attribute=s_col,
            target=spec.target,
            criterion="dp",
            dtype_map=dtype_map,
            seed=seed,
            parallel=False,
        )
        model.fit(frame, lamda=float(p["lamda"]))
    out |= {"train_wall_s": c.wall, "train_cpu_s": c.cpu}
    out["n_params"] = float("nan")  # trees: no torch parameters
    nodes = 0
    for method in model.saved_methods.values():
        tree = getattr(method, "cart", None)
        nodes += int(tree.tree_.node_count) if tree is not None and hasattr(tree, "tree_") else 0
    out["tree_nodes"] = nodes
    with Clock() as c:
        np.random.seed(seed + 1)
        generated = model.generate(k=train.height)
        synthetic = back_to_schema(generated, train, spec)
    out["sample_wall_s"] = c.wall
    out["peak_rss_mb"] = rss_mb()
    return out | {"_synthetic": synthetic}


def run_ctgan(spec, train, holdout, job) -> dict:
    """CTGAN (Xu et al. 2019), package `ctgan`: no fairness setting (a quality reference)."""
    import torch
    from ctgan import CTGAN
    from ctgan.data_transformer import DataTransformer

    # CTGAN transforms columns with joblib over every core; one worker per run here.
    DataTransformer._parallel_transform = DataTransformer._synchronous_transform
    one_thread()
    p, seed = job["params"], job["seed"]
    torch.manual_seed(seed)
    out = {"family": "peer", "fairness_setting": "none (CTGAN has no fairness setting)"}
    with Clock() as c:
        frame, cats = peer_frame(train, spec)
        model = CTGAN(epochs=p["epochs"], batch_size=p.get("batch_size", 500), enable_gpu=False)
        model.set_random_state(seed)
        model.fit(frame, discrete_columns=cats)
    out |= {"train_wall_s": c.wall, "train_cpu_s": c.cpu}
    out["n_params"] = torch_params(model._generator) + (
        torch_params(model._discriminator) if hasattr(model, "_discriminator") else 0
    )
    out["n_params_generate"] = torch_params(model._generator)
    with Clock() as c:
        synthetic = back_to_schema(model.sample(train.height), train, spec)
    out["sample_wall_s"] = c.wall
    out["peak_rss_mb"] = rss_mb()
    return out | {"_synthetic": synthetic}


def run_real(spec, train, holdout, job) -> dict:
    """Real train itself: the ceiling (and the exact-copy floor)."""
    return {
        "family": "reference",
        "train_wall_s": 0.0,
        "train_cpu_s": 0.0,
        "sample_wall_s": float("nan"),
        "n_params": float("nan"),
        "peak_rss_mb": rss_mb(),
        "_synthetic": train,
    }


RUNNERS = {
    "fairdistill": run_fairdistill,
    "tabfairgan": run_tabfairgan,
    "tabfairgdt": run_tabfairgdt,
    "ctgan": run_ctgan,
    "real": run_real,
}


def main(job: dict, out_path: Path) -> dict:
    from fairdistill.audit import audit_table
    from fairdistill.settings import GenerationSettings

    mode = job["params"].get("generation", {}).get("mode", "dp")  # peers: judged by dp
    spec = load_builtin(job["dataset"])
    train, holdout, fingerprint = read_dataset(spec)
    result = {k: job[k] for k in ("code", "dataset", "method", "seed", "profile")}
    result |= {"kind": job["kind"], "params": json.dumps(job["params"], sort_keys=True)}
    result |= {"fingerprint": fingerprint, "rss_after_load_mb": rss_mb(), "status": "ok"}
    with Clock() as total:
        run = RUNNERS[job["kind"]](spec, train, holdout, job)
        synthetic = run.pop("_synthetic")
        latents = run.pop("_holdout_latents", None)
        result |= run
        result["sample_rows_per_s"] = train.height / result["sample_wall_s"]
        if job.get("save_synthetic"):
            synthetic.write_parquet(Path(job["save_synthetic"]))
        with Clock() as c:
            metrics = audit_table(
                train,
                holdout,
                synthetic,
                spec,
                random_state=job["seed"],
                n_resamples=job["n_resamples"],
                holdout_latents=latents,
                criterion=GenerationSettings(mode=mode).criterion,
            )
    result["audit_wall_s"] = c.wall
    result["job_wall_s"] = total.wall
    result |= {f"m.{k}": float(v) for k, v in metrics.items()}
    out_path.write_text(json.dumps(result, default=float))
    return result


if __name__ == "__main__":
    job, out = json.loads(sys.argv[1]), Path(sys.argv[2])
    try:
        main(job, out)
    except Exception:
        traceback.print_exc()
        sys.exit(1)
