"""The Parquet lake: where each stage's output lands, written so readers never see half a file.

Layout (under `FAIRDISTILL_LAKE`, default `./lake`)::

    raw/<dataset>/<run_id>/{train,holdout}.parquet, manifest.json
    validation/<dataset>/<run_id>/validation.json
    synthetic/<dataset>/<run_id>/...   and   synthetic/<dataset>/latest
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl


def lake_root() -> Path:
    return Path(os.environ.get("FAIRDISTILL_LAKE", "lake")).expanduser().resolve()


def new_run_id() -> str:
    """Sortable and unique: UTC time plus random hex, e.g. `20261126T213000Z-3fa9c1`."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def stage_dir(stage: str, dataset: str, run_id: str) -> Path:
    return lake_root() / stage / dataset / run_id


def _atomic_write(path: Path, write) -> Path:
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
    return _atomic_write(path, lambda tmp: frame.write_parquet(tmp, compression="zstd"))


def write_json(payload: dict, path: Path) -> Path:
    text = json.dumps(payload, indent=2, sort_keys=True, default=str)
    return _atomic_write(path, lambda tmp: tmp.write_text(text + "\n"))
