import time

from prefect import task

from fairdistill.ingest import Snapshot, snapshot_dataset
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
    return snapshot
