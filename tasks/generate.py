from pathlib import Path

import polars as pl
from prefect import get_run_logger, task

from fairdistill import tracking
from fairdistill.generate import synthetic_rows, write_synthetic_table
from fairdistill.ingest import Snapshot
from fairdistill.lake import stage_dir
from fairdistill.settings import configure_torch_threads
from flows.params import GenerationConfig
from models.bundle import FairDistillModel


@task(name="register_model")
def register_model(dataset: str, model_dir: str, tracking_run_id: str) -> str:
    """Log codec, teacher, student, decoder and sampler as one MLflow model and register it."""
    example = next(FairDistillModel.load(model_dir).generate(5, seed=0)).to_pandas()
    uri = tracking.register_bundle(Path(model_dir), dataset, tracking_run_id, example)
    get_run_logger().info("registered model %s", uri)
    return uri


@task(name="generate")
def generate(
    dataset: str, snapshot: Snapshot, model_dir: str, config: GenerationConfig, tracking_run_id: str
) -> str:
    """Sample and decode `config.rows` new rows (default: the training size) into the run's staging
    folder; returns the Parquet path. Rows equal to a training row are replaced."""
    configure_torch_threads("generate")
    train = pl.read_parquet(snapshot.train_path)
    chunks = synthetic_rows(
        FairDistillModel.load(model_dir),
        config.rows or train.height,
        seed=config.seed,
        mode=config.mode,
        fairness=config.fairness,
        label_temperature=config.label_temperature,
        chunk_size=config.chunk_size,
        exclude=train,
    )
    path = stage_dir("staging", dataset, snapshot.run_id) / "synthetic.parquet"
    rows, rate = write_synthetic_table(chunks, path)
    tracking.log_metrics(tracking_run_id, {"generate.rows": rows, "generate.rows_per_second": rate})
    get_run_logger().info("generated %d rows at %.0f rows/s -> %s", rows, rate, path)
    return str(path)
