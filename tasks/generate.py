import time
from pathlib import Path

import polars as pl
from prefect import get_run_logger, task

from fairdistill import tracking
from fairdistill.ingest import Snapshot
from fairdistill.lake import stage_dir
from fairdistill.settings import GenerationSettings
from models.bundle import PYFUNC_CODE, FairDistillModel
from models.pipeline import synthetic_rows, write_synthetic_table
from tasks.reporting import log_stage


@task(name="register_model")
def register_model(dataset: str, model_dir: str, tracking_run_id: str) -> str:
    """Log codec, teacher, student, decoder and sampler as one MLflow model and register it."""
    started = time.perf_counter()
    example = next(FairDistillModel.load(model_dir).generate(5)).to_pandas()
    uri = tracking.register_bundle(Path(model_dir), PYFUNC_CODE, dataset, tracking_run_id, example)
    log_stage("register_model", started, "%s", uri, tracking_run_id=tracking_run_id)
    return uri


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
    log_stage(
        "generate",
        started,
        "%d rows (%s) at %.0f rows/s",
        rows,
        settings.mode,
        rate,
        tracking_run_id=tracking_run_id,
    )
    get_run_logger().debug("synthetic table staged at %s", path)
    return str(path)
