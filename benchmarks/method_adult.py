"""Quick measurement of the method on Adult: teacher → student → sampler → generate → TSTR audit.

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/method_adult.py [--beta 30 --penalty dcov ...]

(`--student-beta`, `--student-penalty` default to the student's own config defaults; the grid
runner is benchmarks/tune_adult.py, which calls `quick`.)

Prints one JSON object: TSTR AUROC and model DPR (HistGradientBoosting trained on the synthetic
table, tested on the real holdout), data DPR of the synthetic table (label-fair and faithful),
latent leakage (AUROC of predicting sex from the student's μ on holdout rows), train time,
generation rows/s, teacher vs student encode throughput, exact copies. Targets: issue #3 (see the
lead's brief). Not a test: it takes about a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import OrdinalEncoder

from fairdistill.codec import TabularCodec
from models.bundle import build_model, latent_means
from models.decoding import DecodeOptions
from models.samplers import GaussianMixtureSampler, make_sampler
from models.student import DistillConfig, count_parameters, distill
from models.teacher import TrainConfig, as_tensor, head_spec, train_teacher

DATA = Path(__file__).resolve().parents[1] / "datasets" / "adult"
NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
TARGET, SENSITIVE, POSITIVE = "income", "sex", ">50K"


def load(name: str) -> pl.DataFrame:
    """Read a shipped Adult split: '?' → null, holdout labels '>50K.' → '>50K'."""
    frame = pl.read_parquet(DATA / f"{name}.parquet")
    return frame.with_columns(pl.col(pl.String).str.strip_chars().replace("?", None)).with_columns(
        pl.col(TARGET).str.strip_suffix(".")
    )


def to_sklearn(frame: pl.DataFrame, encoder: OrdinalEncoder, cats: list[str]):
    """The polars → numpy boundary for sklearn: categoricals ordinal-encoded (unknown/missing
    NaN)."""
    features = frame.drop(TARGET)
    codes = encoder.transform(features.select(cats).to_numpy().astype(object))
    nums = features.select(NUMERIC).to_numpy().astype(np.float64)
    y = (frame[TARGET] == POSITIVE).to_numpy().astype(int)
    return np.hstack([codes, nums]), y


def dpr(pred: np.ndarray, groups: np.ndarray) -> float:
    """Demographic parity ratio ``min_g P(ŷ=1|g) / max_g P(ŷ=1|g)`` (ideal 1)."""
    rates = [pred[groups == g].mean() for g in np.unique(groups)]
    return float(min(rates) / max(rates))


def tstr(synthetic: pl.DataFrame, holdout: pl.DataFrame, cats: list[str], seed: int) -> dict:
    """Train HistGradientBoosting on ``synthetic`` (sex among the features), test on ``holdout``."""
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    encoder.fit(synthetic.select(cats).to_numpy().astype(object))
    x_tr, y_tr = to_sklearn(synthetic, encoder, cats)
    x_te, y_te = to_sklearn(holdout, encoder, cats)
    mask = [True] * len(cats) + [False] * len(NUMERIC)
    clf = HistGradientBoostingClassifier(categorical_features=mask, random_state=seed)
    clf.fit(x_tr, y_tr)
    proba = clf.predict_proba(x_te)[:, 1]
    pred = (proba >= 0.5).astype(int)
    return {
        "auroc": float(roc_auc_score(y_te, proba)),
        "model_dpr": dpr(pred, holdout[SENSITIVE].to_numpy()),
        "accuracy": float((pred == y_te).mean()),
    }


def data_dpr(frame: pl.DataFrame) -> float:
    return dpr((frame[TARGET] == POSITIVE).to_numpy(), frame[SENSITIVE].to_numpy())


def encode_rate(encoder, x: torch.Tensor, s: torch.Tensor, repeats: int = 5) -> float:
    """Rows per second of ``encoder(x, s)`` (best of ``repeats``)."""
    best = np.inf
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            encoder(x, s)
            best = min(best, time.perf_counter() - start)
    return len(x) / best


def fit_all(train: pl.DataFrame, cats: list[str], args) -> tuple:
    """Codec, teacher, student, sampler; returns the model and the stage timings."""
    torch.set_num_threads(1)
    codec = TabularCodec(cats, NUMERIC, [], TARGET, [SENSITIVE]).fit(train)
    tcfg = TrainConfig(
        epochs=args.epochs,
        beta=args.beta,
        penalty=args.penalty,
        kl_weight=args.kl_weight,
        seed=args.seed,
        progress=False,
        latent_dim=args.latent,
        batch_size=args.batch,
        lr=args.lr,
    )
    scfg = DistillConfig(
        epochs=args.student_epochs,
        beta=args.student_beta,
        penalty=args.student_penalty,
        seed=args.seed,
        progress=False,
        batch_size=args.student_batch,
    )
    params = {} if args.sampler == "prior" else {"random_state": args.seed}
    if args.sampler == "gmm" and args.components is not None:
        params["n_components"] = args.components
    return fit_parts(codec, train, tcfg, scfg, make_sampler(args.sampler, **params))


def fit_parts(codec, train: pl.DataFrame, tcfg, scfg, sampler) -> tuple:
    """Teacher → student → sampler on the encoded ``train``; the model and the stage timings."""
    x, s = codec.encode(train)
    times = {}
    start = time.perf_counter()
    teacher, hist_t = train_teacher(x, s, head_spec(codec.blocks_), tcfg)
    times["teacher_s"] = time.perf_counter() - start
    start = time.perf_counter()
    student, hist_s = distill(teacher, x, s, scfg)
    times["student_s"] = time.perf_counter() - start
    start = time.perf_counter()
    sampler.fit(latent_means(student, x, s))
    times["sampler_s"] = time.perf_counter() - start
    times["train_s"] = times["teacher_s"] + times["student_s"] + times["sampler_s"]
    times["epochs_teacher"], times["epochs_student"] = len(hist_t), len(hist_s)
    return build_model(codec, teacher, student, sampler, tcfg, scfg), times


def generate(
    model,
    n: int,
    seed: int,
    mode: str,
    temperature: float,
    fairness: float = 1.0,
    threads: int = 2,
) -> tuple[pl.DataFrame, float]:
    """``n`` rows and the generation rate (rows/s on ``threads`` threads, after a warm-up)."""
    torch.set_num_threads(threads)
    next(model.generate(2000, seed=seed + 1, mode=mode))  # warm up the thread pool
    start = time.perf_counter()
    frame = pl.concat(
        model.generate(n, seed=seed, mode=mode, fairness=fairness, label_temperature=temperature)
    )
    rate = n / (time.perf_counter() - start)
    torch.set_num_threads(1)
    return frame, rate


def leakage(model, train: pl.DataFrame, holdout: pl.DataFrame) -> float:
    """AUROC of a logistic regression predicting s from μ_S (fit on train rows, scored on
    holdout)."""
    clf = LogisticRegression(max_iter=1000).fit(
        model.encode_latent(train), model.codec.s_index(train)
    )
    return float(
        roc_auc_score(
            model.codec.s_index(holdout), clf.predict_proba(model.encode_latent(holdout))[:, 1]
        )
    )


def categorical_columns(train: pl.DataFrame) -> list[str]:
    return [
        c for c in train.columns if train.schema[c] == pl.String and c not in (TARGET, SENSITIVE)
    ]


def evaluate(model, train, holdout, cats, args, decodes) -> dict:
    """TSTR and data DPR for each ``(tag, mode, temperature, fairness)`` in ``decodes`` (generation
    on one thread: the grid runs two of these side by side)."""
    out = {}
    for tag, mode, temperature, fairness in decodes:
        frame, rate = generate(
            model, train.height, args.seed, mode, temperature, fairness, threads=1
        )
        out[f"{tag}gen_rows_per_s"] = rate
        out.update({f"{tag}tstr_{k}": v for k, v in tstr(frame, holdout, cats, args.seed).items()})
        out[f"{tag}data_dpr"] = data_dpr(frame)
    return out


def quick(args) -> dict:
    """Train once and measure the decodes in ``args.decodes`` (for the tuning grid)."""
    train, holdout = load("train"), load("holdout")
    cats = categorical_columns(train)
    start = time.perf_counter()
    model, times = fit_all(train, cats, args)
    result = {**times, "train_s": time.perf_counter() - start}
    result["latent_leakage_auroc"] = leakage(model, train, holdout)
    result.update(evaluate(model, train, holdout, cats, args, args.decodes))
    return result


def main(args) -> dict:
    train, holdout = load("train"), load("holdout")
    cats = categorical_columns(train)
    start = time.perf_counter()
    model, times = fit_all(train, cats, args)
    result = {"config": vars(args), **times, "train_s": time.perf_counter() - start}
    synthetic, result["gen_rows_per_s"] = generate(
        model, train.height, args.seed, args.mode, args.temperature, args.fairness
    )
    result.update({f"tstr_{k}": v for k, v in tstr(synthetic, holdout, cats, args.seed).items()})
    result["data_dpr"] = data_dpr(synthetic)
    sharp, _ = generate(model, train.height, args.seed, "label-fair", 0.7)
    result.update({f"t07_{k}": v for k, v in tstr(sharp, holdout, cats, args.seed).items()})
    faithful, _ = generate(model, train.height, args.seed, "faithful", 1.0)
    result.update({f"faithful_{k}": v for k, v in tstr(faithful, holdout, cats, args.seed).items()})
    result["faithful_data_dpr"] = data_dpr(faithful)
    result["real_data_dpr"] = data_dpr(train)
    result["latent_leakage_auroc"] = leakage(model, train, holdout)
    xh, sh = (as_tensor(a, "cpu") for a in model.codec.encode(holdout))
    result["teacher_encode_rows_per_s"] = encode_rate(model.teacher.encoder, xh, sh)
    result["student_encode_rows_per_s"] = encode_rate(model.student, xh, sh)
    result["student_param_share"] = count_parameters(model.student) / count_parameters(
        model.teacher.encoder
    )
    result["exact_copies"] = synthetic.join(
        train, on=synthetic.columns, how="semi", nulls_equal=True
    ).height
    return result


def _default(model, name: str):
    """The default value of a field of a pydantic model class or a dataclass."""
    if hasattr(model, "model_fields"):
        field = model.model_fields[name]
        return field.default_factory() if field.default_factory else field.default
    return model.__dataclass_fields__[name].default


def parser() -> argparse.ArgumentParser:
    """Command-line options; every default is the library's current default."""
    t, d = TrainConfig, DistillConfig
    gmm_components = inspect.signature(GaussianMixtureSampler).parameters["n_components"].default
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--beta", type=float, default=_default(t, "beta"), help="teacher β")
    p.add_argument("--student-beta", type=float, default=_default(d, "beta"))
    p.add_argument("--penalty", default=_default(t, "penalty"), help="teacher penalty")
    p.add_argument("--student-penalty", default=_default(d, "penalty"))
    p.add_argument("--kl-weight", type=float, default=_default(t, "kl_weight"))
    p.add_argument("--epochs", type=int, default=_default(t, "epochs"))
    p.add_argument("--student-epochs", type=int, default=_default(d, "epochs"))
    p.add_argument("--latent", type=int, default=_default(t, "latent_dim"))
    p.add_argument("--batch", type=int, default=_default(t, "batch_size"))
    p.add_argument("--student-batch", type=int, default=_default(d, "batch_size"))
    p.add_argument("--lr", type=float, default=_default(t, "lr"))
    p.add_argument("--sampler", default="gmm")
    p.add_argument("--components", type=int, default=gmm_components, help="GMM components")
    p.add_argument("--mode", default=_default(DecodeOptions, "mode"))
    p.add_argument(
        "--temperature", type=float, default=_default(DecodeOptions, "label_temperature")
    )
    p.add_argument("--fairness", type=float, default=_default(DecodeOptions, "fairness"))
    p.add_argument("--seed", type=int, default=0)
    return p


def parse(argv=None):
    return parser().parse_args(argv)


if __name__ == "__main__":
    print(json.dumps(main(parse()), indent=1))
