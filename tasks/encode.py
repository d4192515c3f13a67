import time

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from fairdistill.ingest import Snapshot
from fairdistill.spec import DatasetSpec
from models.bundle import save_codec
from models.pipeline import fit_codec
from tasks.caching import record, reuse
from tasks.reporting import log_stage


@task(name="encode", cache_policy=NO_CACHE)
def encode(spec: DatasetSpec, snapshot: Snapshot, model_dir: str) -> str:
    """Fit the tabular codec on the training rows and save it beside the models; returns model_dir.
    A codec already there whose hash checks out is reused (`tasks.caching`)."""
    if reuse("encode", model_dir):
        return model_dir
    started = time.perf_counter()
    codec = fit_codec(pl.read_parquet(snapshot.train_path), spec)
    save_codec(codec, model_dir)
    record("encode", model_dir)
    log_stage(
        "encode",
        started,
        "%d blocks, x width %d, %d sensitive groups",
        len(codec.blocks_),
        codec.n_features_out_,
        len(codec.groups_),
    )
    return model_dir
