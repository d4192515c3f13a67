"""The Parquet lake: where each stage's output lands, written so readers never see half a file.

`FAIRDISTILL_LAKE` is a local folder (default `./lake`) or an fsspec URL (`s3://bucket/lake`,
`gs://…`, `file:///…`). With a URL, the stages work in a local folder (`FAIRDISTILL_WORK`, default
`./lake`) and every output a reader looks at is copied to the URL as soon as it is final (`mirror`):
the raw snapshot, the validation result, a published or rejected run folder, and `latest`, which on
an object store is a small object holding the run id (there are no symbolic links).

Layout (the same locally and at the URL)::

    raw/<dataset>/<run_id>/{train,holdout}.parquet, manifest.json
    validation/<dataset>/<run_id>/validation.json
    models/<dataset>/<key>/            trained parts, keyed by dataset fingerprint and settings, and
                                       manifest.json: the sha256 of each part, recorded as written
    staging/<dataset>/<run_id>/        a run's outputs while it is being made (readers never look here)
    synthetic/<dataset>/<run_id>/      published tables, and synthetic/<dataset>/latest -> <run_id>
    rejected/<dataset>/<run_id>/       tables that failed the audit gate, with their report
    locks/<dataset>.lock               held by the refresh of <dataset> in progress (one at a time)

The lake holds data only: Parquet, JSON and tensor files (loaded with ``weights_only=True``), never a
pickled object, so nothing read from it runs code.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from fairdistill import errors
from fairdistill.locks import exclusive

# Temporary files (of an atomic write, of the `latest` swap) are hidden and end with this suffix, so
# `collect_garbage` finds what a killed run left behind.
TEMP_SUFFIX = ".tmp"
MANIFEST = "manifest.json"
LOCK_WAIT = "another refresh of {dataset} holds {lock} (pid {pid}); waiting for it to finish"


def lake_url() -> str | None:
    """The lake's fsspec URL when `FAIRDISTILL_LAKE` is one, else None (a local lake)."""
    location = os.environ.get("FAIRDISTILL_LAKE", "lake")
    return location.rstrip("/") if "://" in location else None


def lake_root() -> Path:
    """The local folder the stages work in: the lake itself, or for a lake at a URL,
    `FAIRDISTILL_WORK` (default `./lake`)."""
    local = os.environ.get("FAIRDISTILL_WORK", "lake") if lake_url() else None
    return Path(local or os.environ.get("FAIRDISTILL_LAKE", "lake")).expanduser().resolve()


def mirror(path: Path) -> str | None:
    """Copy a final output (a file or folder under `lake_root()`) to the same place in the lake at
    `FAIRDISTILL_LAKE`'s URL; returns its URL, or None for a local lake. The `latest` link is copied
    as an object holding the run id it points at."""
    url = lake_url()
    if url is None:
        return None
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    target = f"{root}/{Path(path).relative_to(lake_root()).as_posix()}"
    if Path(path).is_symlink():
        fs.pipe_file(target, os.readlink(path).encode())
    elif Path(path).is_dir():
        fs.put(str(path), target, recursive=True)
    else:
        fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(str(path), target)
    return f"{url}/{Path(path).relative_to(lake_root()).as_posix()}"


def new_run_id() -> str:
    """Sortable and unique: UTC time plus random hex, e.g. `20261126T213000Z-3fa9c1`."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def stage_dir(stage: str, dataset: str, run_id: str) -> Path:
    return lake_root() / stage / dataset / run_id


def atomic_write(path: Path, write) -> Path:
    """Write through a temporary file in the same folder, then rename over `path` (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
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


def merge_parquet_parts(parts: list[Path], path: Path) -> int:
    """Join part files (same schema) into one Parquet file, in order, atomically, and remove them;
    returns the rows. One part is simply renamed. Polars' streaming engine joins them on every core
    in bounded memory (8 parts of 250,000 Adult rows: 0.6 s, against 2.8 s row group by row group
    through Arrow)."""
    parts = [Path(part) for part in parts]
    if len(parts) == 1:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(parts[0], path)
    else:
        atomic_write(path, lambda tmp: pl.scan_parquet(parts).sink_parquet(tmp, compression="zstd"))
        for part in parts:
            part.unlink()
    return pq.ParquetFile(path).metadata.num_rows


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
    crash before the swap leaves `latest` on the previous run.

    `latest` is the record of what is published: the MLflow `champion` alias follows it (set right
    after, and set again from it by the next refresh if a crash fell in between)."""
    target = _move(staging, "synthetic", dataset, run_id)
    mirror(target)
    if not latest:
        return target
    link = latest_link("synthetic", dataset)
    tmp = link.with_name(f".latest.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    tmp.symlink_to(run_id, target_is_directory=True)
    os.replace(tmp, link)
    mirror(link)  # after the folder: a reader of the URL never finds `latest` ahead of its table
    return target


def reject(staging: Path, dataset: str, run_id: str) -> Path:
    """Keep a run that failed the audit gate out of sight: its folder moves to
    `rejected/<dataset>/<run_id>/` and `latest` stays where it was."""
    target = _move(staging, "rejected", dataset, run_id)
    mirror(target)
    return target


def model_dir(dataset: str, fingerprint: str, settings: dict) -> Path:
    """Where a run's trained parts live, keyed by the dataset fingerprint and the settings that decide
    them: a re-run with the same inputs finds (and resumes) the same folder."""
    key = hashlib.sha256(json.dumps([fingerprint, settings], sort_keys=True).encode()).hexdigest()
    return lake_root() / "models" / dataset / key[:16]


def published_run(dataset: str) -> dict | None:
    """The run identity in `audit.json` of the table `latest` points at (None before the first)."""
    audit = latest_link("synthetic", dataset) / "audit.json"
    return json.loads(audit.read_text()).get("run") if audit.is_file() else None


# --- one refresh per dataset, and what a dead one leaves behind --------------------------------


@contextmanager
def dataset_lock(
    dataset: str, holder: dict, on_wait: Callable[[str], None] | None = None
) -> Iterator[dict | None]:
    """Hold `locks/<dataset>.lock` for the block: one refresh of a dataset at a time in this lake.

    A second refresh waits (after ``on_wait(message)``) until the first ends, then finds its trained
    stages. The block receives the `holder` record of a refresh that died holding the lock (its
    process killed), or None. A lake that cannot be written is a `LocationError`.
    """
    lock = lake_root() / "locks" / f"{dataset}.lock"

    def waiting(record: dict) -> None:
        if on_wait is not None:
            on_wait(LOCK_WAIT.format(dataset=dataset, lock=lock, pid=record.get("pid", "?")))

    held = ExitStack()
    try:
        abandoned = held.enter_context(exclusive(lock, {"pid": os.getpid(), **holder}, waiting))
    except OSError as error:
        raise errors.LocationError(
            errors.LOCATION_NOT_WRITABLE.format(
                name="FAIRDISTILL_LAKE", path=lake_root(), reason=error.strerror or error
            )
        ) from None
    with held:
        yield abandoned


def collect_garbage(dataset: str) -> list[Path]:
    """Remove what dead refreshes of `dataset` left: staging folders and temporary files.

    Call it while holding the dataset's lock: no other refresh of the dataset is then past its
    start, so every staging folder and temporary file of the dataset belongs to a dead one.
    Returns the removed paths.
    """
    removed = []
    staging = lake_root() / "staging" / dataset
    for path in sorted(staging.iterdir()) if staging.is_dir() else []:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        removed.append(path)
    for stage in ("raw", "validation", "models", "synthetic", "rejected"):
        for path in sorted((lake_root() / stage / dataset).rglob(f".*{TEMP_SUFFIX}")):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


# --- content hashes of a model folder ----------------------------------------------------------


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_digest(paths: Iterable[Path]) -> str:
    """sha256 over the `file_digest` of each file, in the given order (a digest of source code)."""
    return hashlib.sha256("".join(file_digest(path) for path in paths).encode()).hexdigest()


def folder_digest(folder: Path, ignore: Collection[str] = ()) -> str:
    """sha256 over every file under `folder` (but the relative paths in `ignore`): its relative path
    and its `file_digest`, sorted."""
    entries = sorted(
        f"{name}\0{file_digest(path)}"
        for path in folder.rglob("*")
        if path.is_file() and (name := path.relative_to(folder).as_posix()) not in ignore
    )
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def _manifest(folder: Path) -> dict:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def record_parts(folder: Path, stage: str, files: list[str], code: str) -> None:
    """Record in `folder/manifest.json` the sha256 of the files a stage wrote and read (`files`) and
    the digest of the code that wrote them. Call it after the files are written."""
    manifest = _manifest(folder)
    manifest[stage] = {"code": code, "files": {name: _part_digest(folder / name) for name in files}}
    write_json(manifest, folder / MANIFEST)


def _part_digest(path: Path) -> str | None:
    """A part's sha256, or None for a part the stage did not write (an image model's label model):
    recorded as absent, it must stay absent."""
    return file_digest(path) if path.is_file() else None


def stale_parts(folder: Path, stage: str, files: list[str], code: str) -> list[str] | None:
    """Which of a stage's `files` no longer match what `record_parts` recorded.

    None: nothing recorded for this stage and code (a first run: train). []: every file is there
    with its recorded sha256, and every file recorded as absent is still absent (reuse the stage).
    Otherwise the names of the files that are missing, planted or changed since (retrain).
    """
    entry = _manifest(folder).get(stage)
    if not isinstance(entry, dict) or entry.get("code") != code:
        return None
    recorded = entry.get("files") or {}
    return [
        name
        for name in files
        if name not in recorded or _part_digest(folder / name) != recorded[name]
    ]
