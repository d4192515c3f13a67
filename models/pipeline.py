"""The whole generator in one call, one function per stage: encode → teacher → student → sampler →
labels (the label model and its per-group calibration).

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

import dataclasses
import logging
import math
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
from fairdistill.metrics import duplicate_rate
from fairdistill.settings import (
    GenerationSettings,
    RefreshSettings,
    SamplerSettings,
    StudentSettings,
    TeacherSettings,
)
from fairdistill.spec import DatasetSpec
from models.bundle import FairDistillModel, chunk_sizes, latent_means
from models.calibration import LabelCalibration, calibrate_labels
from models.device import torch_threads
from models.label_model import LabelModel, fit_label_model
from models.samplers import make_sampler
from models.student import StudentEncoder, distill
from models.teacher import TeacherVAE, earlier_columns, head_spec, train_teacher

OnRound = Callable[[str, dict], None]
# Most rows drawn per row kept when excess copies of training rows are replaced.
MAX_DRAWS = 3
_COPY, _HASH = "__fairdistill_copy__", "__fairdistill_row_hash__"
_log = logging.getLogger(__name__)


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
        min_category_rows=spec.min_category_rows,
    ).fit(train)


def fit_teacher(
    codec: TabularCodec | ImageCodec,
    x: np.ndarray,
    s: np.ndarray,
    settings: TeacherSettings,
    *,
    on_round: Callable[[dict], None] | None = None,
    checkpoint_path: str | os.PathLike | None = None,
) -> tuple[TeacherVAE, list[dict]]:
    """The FairDisCo teacher VAE trained on the encoded rows (`models.teacher.train_teacher`)."""
    with torch_threads("train"):
        return train_teacher(
            x,
            s,
            head_spec(codec.blocks_),
            settings,
            on_round=on_round,
            checkpoint_path=checkpoint_path,
        )


def earlier_column_pairs(codec: TabularCodec | ImageCodec, teacher: TeacherVAE) -> list[str]:
    """The teacher decoder's earlier-columns pairs by column, ``"earlier → later"`` (the column
    drawn given the other; `models.teacher.earlier_pairs`), in drawing order."""
    earlier = earlier_columns(teacher.decoder)
    return [
        f"{codec.blocks_[a].column} → {codec.blocks_[b].column}"
        for a, b in (earlier.pairs if earlier is not None else [])
    ]


def fit_student(
    teacher: TeacherVAE,
    x: np.ndarray,
    s: np.ndarray,
    settings: StudentSettings,
    *,
    on_round: Callable[[dict], None] | None = None,
    checkpoint_path: str | os.PathLike | None = None,
) -> tuple[StudentEncoder, list[dict]]:
    """The student encoder distilled from the frozen teacher (`models.student.distill`)."""
    with torch_threads("train"):
        return distill(teacher, x, s, settings, on_round=on_round, checkpoint_path=checkpoint_path)


def fit_sampler(encoder: torch.nn.Module, x: np.ndarray, s: np.ndarray, settings: SamplerSettings):
    """The latent sampler, fitted on an encoder's (the student's) latent means of the training rows."""
    with torch_threads("train"):
        latents = latent_means(encoder, x, s)
        return make_sampler(settings.name, **settings.sampler_params(len(x))).fit(latents)


# Most training rows the label model is fitted on.
LABEL_MODEL_ROWS = 200_000


def fit_labels(
    model: FairDistillModel, train: pl.DataFrame, spec: DatasetSpec, settings: SamplerSettings
) -> tuple[LabelModel | None, LabelCalibration]:
    """The label stage, on a model whose sampler is fitted, seeded by the sampler's seed: the label
    model ``p(y | x, s)`` of a table's rows (`models.label_model`; None for images), then the
    per-group label offsets of the `dp` and `eo` decode modes (`models.calibration`)."""
    with torch_threads("train"):
        label_model = None
        if spec.modality != "image":
            # 600 steps of 512 rows see 300k rows: a seeded sample bounds memory on large tables
            rows = (
                train.sample(LABEL_MODEL_ROWS, seed=settings.seed)
                if train.height > LABEL_MODEL_ROWS
                else train
            )
            x, s = model.codec.encode(rows)
            device = str(next(model.teacher.parameters()).device)
            label_model, _ = fit_label_model(
                x, s, model.teacher.layout, seed=settings.seed, device=device
            )
        with_label_model = dataclasses.replace(model, label_model=label_model)
        return label_model, calibrate_labels(with_label_model, train, spec, seed=settings.seed)


def fit_generator(
    train: pl.DataFrame,
    spec: DatasetSpec,
    settings: RefreshSettings | None = None,
    *,
    on_round: OnRound | None = None,
) -> FairDistillModel:
    """Fit codec, teacher, student, sampler and label calibration on the training rows: a model that
    generates rows.

    ``on_round(stage, losses)`` receives each round's losses of the ``"teacher"`` and ``"student"``.
    """
    settings = settings or RefreshSettings()
    codec = fit_codec(train, spec)
    x, s = codec.encode(train)
    teacher, _ = fit_teacher(
        codec, x, s, settings.teacher, on_round=_for_stage(on_round, "teacher")
    )
    student, _ = fit_student(
        teacher, x, s, settings.student, on_round=_for_stage(on_round, "student")
    )
    sampler = fit_sampler(student, x, s, settings.sampler)
    model = FairDistillModel(codec, teacher, student, sampler, teacher.settings, student.settings)
    model.label_model, model.labels = fit_labels(model, train, spec, settings.sampler)
    return model


def _for_stage(on_round: OnRound | None, stage: str) -> Callable[[dict], None] | None:
    return partial(on_round, stage) if on_round is not None else None


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

    Copies of training rows (`exclude`): a row that is unique in the training table is never
    reproduced (it may identify a person); a row the training table itself repeats is common, and a
    fresh real sample repeats training rows about as often as the table repeats itself
    (`duplicate_rate`: 0.1% on Adult, 23% on a census extract), so up to that share of the rows may
    be such common copies. Other copies are replaced by further draws. After ``MAX_DRAWS`` × `rows`
    draws, the rows still missing are filled with the withheld copies and a warning says so:
    generation never fails because of copies; the audit's privacy check judges the table.
    """
    if exclude is None or exclude.height == 0:  # nothing to copy
        yield from model.generate(rows, settings)
        return
    exclude = exclude.select(model.codec.columns_)  # not an image snapshot's `_source`
    allowed = math.floor(duplicate_rate(exclude) * rows)
    # How often train holds each row, by 64-bit row hash (a group-by on every column of a
    # million-row table needs ≈ 1 GB, the hashes 8 bytes a row). Equal rows have equal hashes, so
    # no copy goes unnoticed; a new row whose hash meets a training row's (odds ≈ rows · train
    # rows / 2⁶⁴) is merely treated as a copy.
    known = pl.DataFrame({_HASH: exclude.hash_rows()}).group_by(_HASH).len(_COPY)
    settings = settings or GenerationSettings()
    produced, copies, withheld = 0, 0, []
    # Draw in rounds: the rows asked for, then as many more as the copies set aside are likely to
    # need (asking MAX_DRAWS × rows at once made two chunks of a small table where one was needed).
    drawn, chunks, ask = 0, 0, rows
    while produced < rows and drawn < MAX_DRAWS * rows:
        ask = min(ask, MAX_DRAWS * rows - drawn)
        kept_before = produced
        for chunk in model.generate(ask, settings, first_chunk=chunks):
            hashes = chunk.cast(exclude.schema).hash_rows()  # hashed in train's dtypes
            flagged = (
                chunk.with_columns(hashes.alias(_HASH))
                .join(known, on=_HASH, how="left", maintain_order="left")
                .drop(_HASH)
                .with_columns(pl.col(_COPY).fill_null(0))
            )
            common = pl.col(_COPY) > 1
            rank = common.cum_sum() + copies
            ok = (pl.col(_COPY) == 0) | (common & (rank <= allowed))
            keep = flagged.filter(ok).head(rows - produced)
            withheld.append(flagged.filter(~ok).drop(_COPY))
            copies += int((keep[_COPY] > 0).sum())
            produced += keep.height
            yield keep.drop(_COPY)
            if produced == rows:
                return
        drawn, chunks = drawn + ask, chunks + len(chunk_sizes(ask, settings.chunk_size))
        kept = (produced - kept_before) / ask
        ask = math.ceil((rows - produced) / kept) if kept > 0 else MAX_DRAWS * rows
    fill = pl.concat(withheld).head(rows - produced)
    _log.warning(
        "%d of %d synthetic rows copy a training row, more than a fresh real sample would (%d): "
        "the generator memorises rows; see the audit's privacy numbers",
        copies + fill.height,
        rows,
        allowed,
    )
    yield fill


def sharded_rows(
    model: FairDistillModel,
    rows: int,
    settings: GenerationSettings | None = None,
    *,
    exclude: pl.DataFrame | None = None,
) -> Iterator[pl.DataFrame]:
    """`synthetic_rows` shard after shard (`GenerationSettings.shards`: shard i seeded seed + i):
    the rows a sharded refresh writes, whether its shards run here or on a cluster."""
    settings = settings or GenerationSettings()
    for index, shard_rows in settings.shards(rows):
        yield from synthetic_rows(model, shard_rows, settings.for_shard(index), exclude=exclude)


def write_synthetic_table(chunks: Iterator[pl.DataFrame], path: Path) -> tuple[int, float]:
    """Stream the chunks into one Parquet file; returns (rows, rows per second)."""
    start = time.perf_counter()
    rows = write_parquet_chunks(chunks, path)
    return rows, rows / max(time.perf_counter() - start, 1e-9)
