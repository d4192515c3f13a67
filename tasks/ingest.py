from prefect import get_run_logger, task

from fairdistill.ingest import Snapshot, snapshot_dataset
from fairdistill.spec import DatasetSpec


@task(name="ingest", task_run_name="ingest-{spec.name}")
def ingest(spec: DatasetSpec, run_id: str) -> Snapshot:
    """Read the source, normalise it to its spec and write the raw snapshot to the lake."""
    snapshot = snapshot_dataset(spec, run_id)
    get_run_logger().info(
        "raw snapshot: %s (%d train rows, %d holdout rows, fingerprint %s)",
        snapshot.train_path,
        snapshot.train_rows,
        snapshot.holdout_rows,
        snapshot.fingerprint,
    )
    return snapshot
