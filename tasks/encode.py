import polars as pl
from prefect import get_run_logger, task

from fairdistill.codec import TabularCodec
from fairdistill.ingest import Snapshot
from fairdistill.spec import DatasetSpec
from models.bundle import save_codec
from tasks.caching import ON_MODEL_DIR


@task(name="encode", cache_policy=ON_MODEL_DIR, persist_result=True)
def encode(spec: DatasetSpec, snapshot: Snapshot, model_dir: str) -> str:
    """Fit the tabular codec on the training rows and save it beside the models; returns model_dir."""
    codec = TabularCodec(
        categorical=spec.categorical,
        numeric=spec.numeric,
        datetime=spec.datetime,
        target=spec.target,
        sensitive=spec.sensitive_columns,
    ).fit(pl.read_parquet(snapshot.train_path))
    path = save_codec(codec, model_dir)
    get_run_logger().info(
        "codec: %d blocks, x width %d, %d sensitive groups -> %s",
        len(codec.blocks_),
        codec.blocks_[-1].stop,
        len(codec.groups_),
        path,
    )
    return model_dir
