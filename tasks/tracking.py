from prefect import get_run_logger, task

from fairdistill import tracking
from fairdistill.ingest import Snapshot
from fairdistill.settings import RefreshSettings
from fairdistill.spec import DatasetSpec


@task(name="start_tracking")
def start_tracking(spec: DatasetSpec, snapshot: Snapshot, settings: RefreshSettings) -> str:
    """Open the refresh's MLflow run with its settings, seeds, fingerprint and code version."""
    params = {
        f"{section}.{key}": value
        for section, values in settings.model_dump().items()
        for key, value in values.items()
    }
    run_id = tracking.start_refresh_run(spec.slug, snapshot.run_id, snapshot.fingerprint, params)
    get_run_logger().debug("MLflow run %s (%s)", run_id, tracking.tracking_uri())
    return run_id
