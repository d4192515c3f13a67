"""The learning stages: train the teacher, distil the student, fit the latent sampler, calibrate the
labels.

Each reads the encoded training rows, trains one part with its `models.pipeline` stage function, saves
it into the model folder, records its hash, and returns that folder, so the flow reads as a chain. A
part already there whose hash checks out is reused (`tasks.caching`); a crash mid-training resumes
from the stage's checkpoint.
"""

import time

import numpy as np
import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from fairdistill import tracking
from fairdistill.ingest import Snapshot
from fairdistill.settings import SamplerSettings, StudentSettings, TeacherSettings
from fairdistill.spec import DatasetSpec
from models import pipeline
from models.bundle import (
    FairDistillModel,
    load_codec,
    load_sampler,
    load_student,
    load_teacher,
    save_label_model,
    save_labels,
    save_sampler,
    save_student,
    save_teacher,
)
from models.student import count_parameters
from tasks.caching import checkpoint, record, remove_checkpoints, reuse
from tasks.reporting import log_stage, report_round


def encoded_training_rows(snapshot: Snapshot, model_dir: str) -> tuple[np.ndarray, np.ndarray]:
    return load_codec(model_dir).encode(pl.read_parquet(snapshot.train_path))


@task(name="train_teacher", cache_policy=NO_CACHE)
def train_teacher(
    snapshot: Snapshot, model_dir: str, settings: TeacherSettings, tracking_run_id: str
) -> str:
    """Train the FairDisCo teacher VAE (resumes from its checkpoint after a crash)."""
    if reuse("train_teacher", model_dir):
        return model_dir
    started = time.perf_counter()
    x, s = encoded_training_rows(snapshot, model_dir)
    codec = load_codec(model_dir)
    teacher, history = pipeline.fit_teacher(
        codec,
        x,
        s,
        settings,
        on_round=report_round("teacher", tracking_run_id),
        checkpoint_path=checkpoint(model_dir, "teacher"),
    )
    save_teacher(teacher, teacher.settings, model_dir)
    record("train_teacher", model_dir)
    remove_checkpoints(model_dir, "teacher")
    tracking.log_metrics(
        tracking_run_id,
        {
            "teacher.rounds": len(history),
            "teacher.encoder_parameters": count_parameters(teacher.encoder),
        },
    )
    pairs = pipeline.earlier_column_pairs(codec, teacher)
    tracking.set_tags(tracking_run_id, {"fairdistill.teacher.earlier_columns": ", ".join(pairs)})
    log_stage(
        "train_teacher",
        started,
        "%d rounds, loss %.3f; drawn given an earlier column: %s",
        len(history),
        history[-1]["val_total"],
        ", ".join(pairs) or "none",
        tracking_run_id=tracking_run_id,
    )
    return model_dir


@task(name="distill", cache_policy=NO_CACHE)
def distill(
    snapshot: Snapshot, model_dir: str, settings: StudentSettings, tracking_run_id: str
) -> str:
    """Distil the frozen teacher's encoder into the small student encoder."""
    if reuse("distill", model_dir):
        return model_dir
    started = time.perf_counter()
    x, s = encoded_training_rows(snapshot, model_dir)
    teacher, _ = load_teacher(model_dir)
    student, history = pipeline.fit_student(
        teacher,
        x,
        s,
        settings,
        on_round=report_round("student", tracking_run_id),
        checkpoint_path=checkpoint(model_dir, "student"),
    )
    save_student(student, student.settings, model_dir)
    record("distill", model_dir)
    remove_checkpoints(model_dir, "student")
    share = count_parameters(student) / count_parameters(teacher.encoder)
    tracking.log_metrics(
        tracking_run_id,
        {
            "student.rounds": len(history),
            "student.encoder_parameters": count_parameters(student),
            "teacher.encode_rows_per_second": pipeline.encode_rate(teacher.encoder, x, s),
            "student.encode_rows_per_second": pipeline.encode_rate(student, x, s),
        },
    )
    log_stage(
        "distill",
        started,
        "%d rounds, student %.0f%% of the teacher encoder",
        len(history),
        100 * share,
        tracking_run_id=tracking_run_id,
    )
    return model_dir


@task(name="fit_sampler", cache_policy=NO_CACHE)
def fit_sampler(
    snapshot: Snapshot, model_dir: str, settings: SamplerSettings, tracking_run_id: str
) -> str:
    """Fit the latent sampler on the student's latent means of the training rows."""
    if reuse("fit_sampler", model_dir):
        return model_dir
    started = time.perf_counter()
    x, s = encoded_training_rows(snapshot, model_dir)
    student, _ = load_student(model_dir)
    sampler = pipeline.fit_sampler(student, x, s, settings)
    save_sampler(sampler, model_dir)
    record("fit_sampler", model_dir)
    log_stage(
        "fit_sampler",
        started,
        "%s on %d latents",
        settings.name,
        len(x),
        tracking_run_id=tracking_run_id,
    )
    return model_dir


@task(name="calibrate_labels", cache_policy=NO_CACHE)
def calibrate_labels(
    spec: DatasetSpec,
    snapshot: Snapshot,
    model_dir: str,
    settings: SamplerSettings,
    tracking_run_id: str,
) -> str:
    """Fit the label model p(y | x, s) and the per-group label offsets of the `dp` and `eo`
    decode modes on the trained model."""
    if reuse("calibrate_labels", model_dir):
        return model_dir
    started = time.perf_counter()
    teacher, teacher_settings = load_teacher(model_dir)
    student, student_settings = load_student(model_dir)
    # the parts this stage is built from, not a labels file it is about to replace
    model = FairDistillModel(
        load_codec(model_dir),
        teacher,
        student,
        load_sampler(model_dir),
        teacher_settings,
        student_settings,
    )
    train = pl.read_parquet(snapshot.train_path)
    label_model, labels = pipeline.fit_labels(model, train, spec, settings)
    if label_model is not None:
        save_label_model(label_model, model_dir)
    save_labels(labels, model_dir)
    record("calibrate_labels", model_dir)
    tracking.log_metrics(
        tracking_run_id,
        {
            f"labels.{criterion}.shift.{group}": shift
            for criterion, shifts in labels.shifts.items()
            for group, shift in enumerate(shifts)
        }
        | {"labels.temperature": labels.temperature},
    )
    log_stage(
        "calibrate_labels",
        started,
        "log-odds shifts per group at the fair label's temperature %g: %s",
        labels.temperature,
        "; ".join(
            f"{criterion} {' '.join(f'{s:+.2f}' for s in shifts)} "
            f"({labels.proxy_steps[criterion]} proxy step(s))"
            for criterion, shifts in labels.shifts.items()
        ),
        tracking_run_id=tracking_run_id,
    )
    return model_dir
