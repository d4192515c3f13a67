import time
from pathlib import Path

import polars as pl
from prefect import get_run_logger, task

from fairdistill import tracking
from fairdistill.ingest import Snapshot
from fairdistill.lake import merge_parquet_parts, stage_dir
from fairdistill.settings import GenerationSettings
from models.bundle import FairDistillModel
from models.pipeline import synthetic_rows, write_synthetic_table
from tasks.reporting import log_stage


def shards(settings: GenerationSettings, snapshot: Snapshot) -> list[tuple[int, int]]:
    """The ``(index, rows)`` shards of the table to generate (default size: the training size)."""
    return settings.shards(settings.rows or snapshot.train_rows)


@task(name="generate", task_run_name="generate-shard-{shard[0]}")
def generate(
    snapshot: Snapshot,
    model_dir: str,
    settings: GenerationSettings,
    shard: tuple[int, int],
    tracking_run_id: str,
) -> str:
    """Sample and decode one shard's rows (seeded `seed + shard index`) into a part file of the
    run's staging folder; returns its path. Copies of training rows follow `synthetic_rows`."""
    started = time.perf_counter()
    index, rows = shard
    train = pl.read_parquet(snapshot.train_path)
    model = FairDistillModel.load(model_dir)
    chunks = synthetic_rows(model, rows, settings.for_shard(index), exclude=train)
    path = (
        stage_dir("staging", snapshot.dataset, snapshot.run_id) / f"parts/part-{index:05d}.parquet"
    )
    written, rate = write_synthetic_table(chunks, path)
    tracking.log_metrics(tracking_run_id, {f"generate.shard_{index}.rows_per_second": rate})
    log_stage(
        "generate",
        started,
        "shard %d: %d rows (%s) at %.0f rows/s",
        index,
        written,
        settings.mode,
        rate,
        tracking_run_id=tracking_run_id,
    )
    return str(path)


@task(name="merge_shards")
def merge_shards(snapshot: Snapshot, parts: list[str], tracking_run_id: str) -> str:
    """Join the shards' part files, in shard order, into the run's one synthetic table."""
    path = stage_dir("staging", snapshot.dataset, snapshot.run_id) / "synthetic.parquet"
    rows = merge_parquet_parts([Path(part) for part in parts], path)
    tracking.log_metrics(tracking_run_id, {"generate.rows": rows})
    get_run_logger().debug("%d part(s), %d rows -> %s", len(parts), rows, path)
    return str(path)
