"""The whole generator in one call, one function per stage: encode → teacher → student → sampler.

The Prefect tasks wrap these stages (with caching, checkpoints and tracking) and the benchmarks call
them too; in a notebook, without Prefect::

    from fairdistill.spec import load_builtin
    from fairdistill.ingest import read_dataset
    from models.pipeline import fit_generator, synthetic_rows

    spec = load_builtin("adult")
    train, holdout, _ = read_dataset(spec)
    model = fit_generator(train, spec)                     # default settings
    table = pl.concat(synthetic_rows(model, 1_000, exclude=train))
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
import torch

from fairdistill.codec import TabularCodec
from fairdistill.images import ImageCodec
from fairdistill.lake import write_parquet_chunks
from fairdistill.settings import (
    GenerationSettings,
    RefreshSettings,
    SamplerSettings,
    StudentSettings,
    TeacherSettings,
)
from fairdistill.spec import DatasetSpec
from models.bundle import FairDistillModel, latent_means
from models.device import torch_threads
from models.samplers import make_sampler
from models.student import StudentEncoder, distill
from models.teacher import TeacherVAE, head_spec, train_teacher

OnEpoch = Callable[[str, dict], None]


def fit_codec(train: pl.DataFrame, spec: DatasetSpec) -> TabularCodec | ImageCodec:
    """The reversible codec of the spec's columns, fitted on the training rows: a `TabularCodec`,
    or an `ImageCodec` for an image dataset. Its layout picks the networks of every later stage."""
    if spec.modality == "image":
        size = spec.image_format
        return ImageCodec(
            spec.image[0],
            spec.target,
            spec.sensitive_columns,
            size.height,
            size.width,
            size.channels,
        ).fit(train)
    return TabularCodec(
        categorical=spec.categorical,
        numeric=spec.numeric,
        datetime=spec.datetime,
        target=spec.target,
        sensitive=spec.sensitive_columns,
    ).fit(train)


def fit_teacher(
    codec: TabularCodec | ImageCodec,
    x: np.ndarray,
    s: np.ndarray,
    settings: TeacherSettings,
    *,
    on_epoch: Callable[[dict], None] | None = None,
    checkpoint_path: str | os.PathLike | None = None,
) -> tuple[TeacherVAE, list[dict]]:
    """The FairDisCo teacher VAE trained on the encoded rows (`models.teacher.train_teacher`)."""
    with torch_threads("train"):
        return train_teacher(
            x,
            s,
            head_spec(codec.blocks_),
            settings,
            on_epoch=on_epoch,
            checkpoint_path=checkpoint_path,
        )


def fit_student(
    teacher: TeacherVAE,
    x: np.ndarray,
    s: np.ndarray,
    settings: StudentSettings,
    *,
    on_epoch: Callable[[dict], None] | None = None,
    checkpoint_path: str | os.PathLike | None = None,
) -> tuple[StudentEncoder, list[dict]]:
    """The student encoder distilled from the frozen teacher (`models.student.distill`)."""
    with torch_threads("train"):
        return distill(teacher, x, s, settings, on_epoch=on_epoch, checkpoint_path=checkpoint_path)


def fit_sampler(encoder: torch.nn.Module, x: np.ndarray, s: np.ndarray, settings: SamplerSettings):
    """The latent sampler, fitted on an encoder's (the student's) latent means of the training rows."""
    with torch_threads("train"):
        latents = latent_means(encoder, x, s)
        return make_sampler(settings.name, **settings.sampler_params()).fit(latents)


def fit_generator(
    train: pl.DataFrame,
    spec: DatasetSpec,
    settings: RefreshSettings | None = None,
    *,
    on_epoch: OnEpoch | None = None,
) -> FairDistillModel:
    """Fit codec, teacher, student and sampler on the training rows: a model that generates rows.

    ``on_epoch(stage, losses)`` receives each epoch's losses of the ``"teacher"`` and ``"student"``.
    """
    settings = settings or RefreshSettings()
    codec = fit_codec(train, spec)
    x, s = codec.encode(train)
    teacher, _ = fit_teacher(
        codec, x, s, settings.teacher, on_epoch=_for_stage(on_epoch, "teacher")
    )
    student, _ = fit_student(
        teacher, x, s, settings.student, on_epoch=_for_stage(on_epoch, "student")
    )
    sampler = fit_sampler(student, x, s, settings.sampler)
    return FairDistillModel(codec, teacher, student, sampler, settings.teacher, settings.student)


def _for_stage(on_epoch: OnEpoch | None, stage: str) -> Callable[[dict], None] | None:
    return partial(on_epoch, stage) if on_epoch is not None else None


def encode_rate(encoder, x: np.ndarray, s: np.ndarray, repeats: int = 3) -> float:
    """Rows per second of an encoder's posterior means over ``x`` (best of ``repeats``)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        latent_means(encoder, x, s)
        best = min(best, time.perf_counter() - start)
    return len(x) / best


def synthetic_rows(
    model: FairDistillModel,
    rows: int,
    settings: GenerationSettings | None = None,
    *,
    exclude: pl.DataFrame | None = None,
) -> Iterator[pl.DataFrame]:
    """`rows` new rows in chunks, in the columns and dtypes of the source table.

    A decoded row identical to a row of `exclude` (the training table) is dropped and replaced by the
    next one, so no synthetic row is an exact copy of a training row.
    """
    spare = rows // 100 + 16
    produced = 0
    for chunk in model.generate(rows + spare, settings):
        if exclude is not None:
            chunk = chunk.join(exclude, on=chunk.columns, how="anti", nulls_equal=True)
        chunk = chunk.head(rows - produced)
        produced += chunk.height
        yield chunk
        if produced == rows:
            return
    raise RuntimeError(
        f"only {produced} of {rows} rows were new: the generator copies training rows; "
        "retrain with a larger latent or more epochs"
    )


def write_synthetic_table(chunks: Iterator[pl.DataFrame], path: Path) -> tuple[int, float]:
    """Stream the chunks into one Parquet file; returns (rows, rows per second)."""
    start = time.perf_counter()
    rows = write_parquet_chunks(chunks, path)
    return rows, rows / max(time.perf_counter() - start, 1e-9)
