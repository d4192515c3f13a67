"""The learning stages: train the teacher, distil the student, fit the latent sampler.

Each reads the encoded training rows, trains one part, saves it into the model folder and returns that
folder, so the flow reads as a chain. Losses go to MLflow every epoch (`<stage>.<loss>`, step = epoch)
and to the Prefect log.
"""

import time
from pathlib import Path

import numpy as np
import polars as pl
from prefect import get_run_logger, task

from fairdistill import tracking
from fairdistill.ingest import Snapshot
from fairdistill.settings import configure_torch_threads
from flows.params import DistillConfig, SamplerConfig, TrainConfig
from models import student as student_model
from models import teacher as teacher_model
from models.bundle import (
    latent_means,
    load_codec,
    load_student,
    load_teacher,
    save_sampler,
    save_student,
    save_teacher,
)
from models.samplers import make_sampler
from models.teacher import head_spec
from tasks.caching import ON_MODEL_DIR


def encoded_training_rows(snapshot: Snapshot, model_dir: str) -> tuple[np.ndarray, np.ndarray]:
    return load_codec(model_dir).encode(pl.read_parquet(snapshot.train_path))


def encode_throughput(encoder, x: np.ndarray, s: np.ndarray) -> float:
    """Rows per second of an encoder's posterior means over the training rows (best of 3)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        latent_means(encoder, x, s)
        best = min(best, time.perf_counter() - start)
    return len(x) / best


def report_epoch(stage: str, tracking_run_id: str):
    """Per-epoch losses to MLflow and to the Prefect log."""
    to_mlflow, logger = tracking.epoch_logger(tracking_run_id, stage), get_run_logger()

    def on_epoch(losses: dict) -> None:
        to_mlflow(losses)
        terms = ", ".join(f"{k}={v:.4g}" for k, v in losses.items() if k != "epoch")
        logger.info("%s epoch %d: %s", stage, losses["epoch"], terms)

    return on_epoch


@task(name="train_teacher", cache_policy=ON_MODEL_DIR, persist_result=True)
def train_teacher(
    snapshot: Snapshot, model_dir: str, config: TrainConfig, tracking_run_id: str
) -> str:
    """Train the FairDisCo teacher VAE (resumes from its checkpoint after a crash)."""
    configure_torch_threads()
    x, s = encoded_training_rows(snapshot, model_dir)
    start = time.perf_counter()
    teacher, history = teacher_model.train_teacher(
        x,
        s,
        head_spec(load_codec(model_dir).blocks_),
        config,
        on_epoch=report_epoch("teacher", tracking_run_id),
        checkpoint_path=Path(model_dir) / "teacher.ckpt",
    )
    save_teacher(teacher, config, model_dir)
    tracking.log_metrics(
        tracking_run_id,
        {
            "teacher.epochs": len(history),
            "teacher.seconds": time.perf_counter() - start,
            "teacher.encoder_parameters": student_model.count_parameters(teacher.encoder),
        },
    )
    return model_dir


@task(name="distill", cache_policy=ON_MODEL_DIR, persist_result=True)
def distill(snapshot: Snapshot, model_dir: str, config: DistillConfig, tracking_run_id: str) -> str:
    """Distil the frozen teacher's encoder into the small student encoder."""
    configure_torch_threads()
    x, s = encoded_training_rows(snapshot, model_dir)
    teacher, _ = load_teacher(model_dir)
    start = time.perf_counter()
    student, history = student_model.distill(
        teacher,
        x,
        s,
        config,
        on_epoch=report_epoch("student", tracking_run_id),
        checkpoint_path=Path(model_dir) / "student.ckpt",
    )
    save_student(student, config, model_dir)
    tracking.log_metrics(
        tracking_run_id,
        {
            "student.epochs": len(history),
            "student.seconds": time.perf_counter() - start,
            "student.encoder_parameters": student_model.count_parameters(student),
            "teacher.encode_rows_per_second": encode_throughput(teacher.encoder, x, s),
            "student.encode_rows_per_second": encode_throughput(student, x, s),
        },
    )
    return model_dir


@task(name="fit_sampler", cache_policy=ON_MODEL_DIR, persist_result=True)
def fit_sampler(
    snapshot: Snapshot, model_dir: str, config: SamplerConfig, tracking_run_id: str
) -> str:
    """Fit the latent sampler on the student's latent means of the training rows."""
    configure_torch_threads()
    x, s = encoded_training_rows(snapshot, model_dir)
    student, _ = load_student(model_dir)
    latents = latent_means(student, x, s)
    sampler = make_sampler(config.name, **config.sampler_params()).fit(latents)
    save_sampler(sampler, model_dir)
    get_run_logger().info(
        "sampler %s fitted on %d latents of width %d", config.name, *latents.shape
    )
    return model_dir
