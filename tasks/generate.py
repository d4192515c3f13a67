import time

import polars as pl
from prefect import get_run_logger, task

from fairdistill import tracking
from fairdistill.ingest import Snapshot
from fairdistill.lake import stage_dir
from fairdistill.settings import GenerationSettings
from models.bundle import FairDistillModel
from models.pipeline import synthetic_rows, write_synthetic_table
from tasks.reporting import log_stage


@task(name="generate")
def generate(
    dataset: str,
    snapshot: Snapshot,
    model_dir: str,
    settings: GenerationSettings,
    tracking_run_id: str,
) -> str:
    """Sample and decode `settings.rows` new rows (default: the training size) into the run's
    staging folder; returns the Parquet path. Rows equal to a training row are replaced."""
    started = time.perf_counter()
    train = pl.read_parquet(snapshot.train_path)
    chunks = synthetic_rows(
        FairDistillModel.load(model_dir), settings.rows or train.height, settings, exclude=train
    )
    path = stage_dir("staging", dataset, snapshot.run_id) / "synthetic.parquet"
    rows, rate = write_synthetic_table(chunks, path)
    tracking.log_metrics(tracking_run_id, {"generate.rows": rows, "generate.rows_per_second": rate})
    log_stage(started, "generate: %d rows (%s) at %.0f rows/s", rows, settings.mode, rate)
    get_run_logger().debug("synthetic table staged at %s", path)
    return str(path)
