import time

from prefect import get_run_logger, task

from fairdistill.ingest import SMALL_TABLE, SMALL_TABLE_ROWS, Snapshot, snapshot_dataset
from fairdistill.spec import DatasetSpec
from tasks.reporting import log_stage


@task(name="ingest", task_run_name="ingest-{spec.name}")
def ingest(spec: DatasetSpec, run_id: str) -> Snapshot:
    """Read the source, normalise it to its spec and write the raw snapshot to the lake."""
    started = time.perf_counter()
    snapshot = snapshot_dataset(spec, run_id)
    log_stage(
        "ingest",
        started,
        "%d train + %d holdout rows, fingerprint %s -> %s",
        snapshot.train_rows,
        snapshot.holdout_rows,
        snapshot.fingerprint,
        snapshot.train_path.rsplit("/", 1)[0],
    )
    if snapshot.train_rows < SMALL_TABLE_ROWS:
        get_run_logger().warning(
            SMALL_TABLE.format(rows=snapshot.train_rows, holdout=snapshot.holdout_rows)
        )
    return snapshot
