"""The Parquet lake: where each stage's output lands, written so readers never see half a file.

Layout (under `FAIRDISTILL_LAKE`, default `./lake`)::

    raw/<dataset>/<run_id>/{train,holdout}.parquet, manifest.json
    validation/<dataset>/<run_id>/validation.json
    models/<dataset>/<key>/            trained parts, keyed by dataset fingerprint and settings
    cache/                             Prefect's cached stage results (they point into models/)
    staging/<dataset>/<run_id>/        a run's outputs while it is being made (readers never look here)
    synthetic/<dataset>/<run_id>/      published tables, and synthetic/<dataset>/latest -> <run_id>
    rejected/<dataset>/<run_id>/       tables that failed the audit gate, with their report
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq


def lake_root() -> Path:
    return Path(os.environ.get("FAIRDISTILL_LAKE", "lake")).expanduser().resolve()


def new_run_id() -> str:
    """Sortable and unique: UTC time plus random hex, e.g. `20261126T213000Z-3fa9c1`."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def stage_dir(stage: str, dataset: str, run_id: str) -> Path:
    return lake_root() / stage / dataset / run_id


def atomic_write(path: Path, write) -> Path:
    """Write through a temporary file in the same folder, then rename over `path` (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def write_parquet(frame: pl.DataFrame, path: Path) -> Path:
    return atomic_write(path, lambda tmp: frame.write_parquet(tmp, compression="zstd"))


def write_json(payload: dict, path: Path) -> Path:
    text = json.dumps(payload, indent=2, sort_keys=True, default=str)
    return atomic_write(path, lambda tmp: tmp.write_text(text + "\n"))


def write_parquet_chunks(chunks: Iterable[pl.DataFrame], path: Path) -> int:
    """Stream frames into one Parquet file (one row group per chunk), atomically; returns the rows."""
    rows = 0

    def write(tmp: Path) -> None:
        nonlocal rows
        writer = None
        try:
            for chunk in chunks:
                table = chunk.to_arrow()
                writer = writer or pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table)
                rows += chunk.height
        finally:
            if writer is not None:
                writer.close()

    atomic_write(path, write)
    return rows


def latest_link(stage: str, dataset: str) -> Path:
    return lake_root() / stage / dataset / "latest"


def _move(staging: Path, stage: str, dataset: str, run_id: str) -> Path:
    target = stage_dir(stage, dataset, run_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    if staging.resolve() != target.resolve():
        os.replace(staging, target)
    return target


def publish(staging: Path, dataset: str, run_id: str, latest: bool = True) -> Path:
    """Make a finished run visible: rename its folder into `synthetic/<dataset>/<run_id>/`, then swap
    the `latest` symlink to it (unless `latest` is False: a table published under its run id only).
    Both steps are atomic renames, so a reader sees the previous run or this one, never a mix; a
    crash before the swap leaves `latest` on the previous run."""
    target = _move(staging, "synthetic", dataset, run_id)
    if not latest:
        return target
    link = latest_link("synthetic", dataset)
    tmp = link.with_name(f".latest.{secrets.token_hex(4)}")
    tmp.symlink_to(run_id, target_is_directory=True)
    os.replace(tmp, link)
    return target


def reject(staging: Path, dataset: str, run_id: str) -> Path:
    """Keep a run that failed the audit gate out of sight: its folder moves to
    `rejected/<dataset>/<run_id>/` and `latest` stays where it was."""
    return _move(staging, "rejected", dataset, run_id)


def model_dir(dataset: str, fingerprint: str, settings: dict) -> Path:
    """Where a run's trained parts live, keyed by the dataset fingerprint and the settings that decide
    them: a re-run with the same inputs finds (and resumes) the same folder."""
    key = hashlib.sha256(json.dumps([fingerprint, settings], sort_keys=True).encode()).hexdigest()
    return lake_root() / "models" / dataset / key[:16]
