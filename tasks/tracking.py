"""The MLflow run of a refresh, tied to its Prefect flow run both ways.

`start_tracking` opens the run, named after the flow run and tagged with its id and UI URL, and logs
the MLflow run's URL in Prefect. `finish_tracking` is the flow's hook for every final state: it ends
the run with the flow (FINISHED = published, FAILED = rejected or failed, with the error as a tag,
KILLED = cancelled) and emits a Prefect event when a gate rejects a table or a refresh fails, for
an automation to notify someone (deployments/notify-on-failure.yaml).
"""

from prefect import get_run_logger, task
from prefect.events import emit_event
from prefect.logging.loggers import flow_run_logger
from prefect.runtime import deployment, flow_run

from fairdistill import tracking
from fairdistill.audit import REJECTED
from fairdistill.ingest import Snapshot
from fairdistill.settings import RefreshSettings
from fairdistill.spec import DatasetSpec, dataset_name
from tasks.reporting import prefect_ui_url

FLOW_RUN_ID = "prefect.flow_run_id"
# Events of a refresh that needs someone's attention (resource: fairdistill.dataset.<name>).
GATE_FAILED_EVENT = "fairdistill.gate.failed"
REFRESH_FAILED_EVENT = "fairdistill.refresh.failed"


@task(name="start_tracking")
def start_tracking(spec: DatasetSpec, snapshot: Snapshot, settings: RefreshSettings) -> str:
    """Open the refresh's MLflow run, named after the flow run, with its settings, seeds,
    fingerprint, code version and the Prefect flow run it belongs to; returns its id."""
    params = {
        f"{section}.{key}": value
        for section, values in settings.model_dump().items()
        for key, value in values.items()
    }
    tags = {
        "dataset": spec.name,
        "lake_run_id": snapshot.run_id,
        "fingerprint": snapshot.fingerprint,
        FLOW_RUN_ID: str(flow_run.id),
        "prefect.flow_run_name": flow_run.name,
    }
    if url := prefect_ui_url():
        tags["prefect.flow_run_url"] = url
    if deployment.id is not None:
        tags["prefect.deployment"] = f"{flow_run.flow_name}/{deployment.name}"
    run_id = tracking.start_refresh_run(flow_run.name, tags, params)
    get_run_logger().info("MLflow run %r: %s", flow_run.name, tracking.run_url(run_id))
    return run_id


def finish_tracking(flow, run, state) -> None:
    """Flow hook for the final state: end the MLflow run with the flow, and on a failure emit the
    event that an automation can turn into a notification."""
    tracked = tracking.find_run(FLOW_RUN_ID, str(run.id))
    rejected = tracked is not None and tracked.data.tags.get("fairdistill.release") == REJECTED
    if tracked is not None:
        status = (
            "FINISHED" if state.is_completed() else "KILLED" if state.is_cancelled() else "FAILED"
        )
        error = {} if state.is_completed() or rejected else {"fairdistill.error": state.message}
        tracking.end_refresh_run(tracked.info.run_id, status, error)
        flow_run_logger(run, flow).info(
            "MLflow run %s ended %s", tracking.run_url(tracked.info.run_id), status
        )
    if state.is_failed() or state.is_crashed():
        default = flow.parameters.properties["dataset"]["default"]
        dataset = dataset_name(run.parameters.get("dataset", default))
        emit_event(
            event=GATE_FAILED_EVENT if rejected else REFRESH_FAILED_EVENT,
            resource={
                "prefect.resource.id": f"fairdistill.dataset.{dataset}",
                "prefect.resource.name": dataset,
            },
            related=[
                {
                    "prefect.resource.id": f"prefect.flow-run.{run.id}",
                    "prefect.resource.role": "flow-run",
                    "prefect.resource.name": run.name,
                }
            ],
            payload={
                "message": state.message,
                "state": state.name,
                "mlflow_run": tracking.run_url(tracked.info.run_id) if tracked else None,
            },
        )
