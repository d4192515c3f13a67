import time
from pathlib import Path

from prefect import task

from fairdistill import errors, lake, tracking
from fairdistill.audit import AuditOutcome
from tasks.reporting import log_stage


@task(name="publish")
def publish_synthetic_table(
    dataset: str, run_id: str, table_path: str, outcome: AuditOutcome, model_uri: str
) -> str:
    """Publish the run's folder (table, audit.json, report.html) if the audit gate passed: it moves to
    `synthetic/<dataset>/<run_id>/`, `latest` moves to it, and the model version becomes `champion`.
    Otherwise the folder moves to `rejected/<dataset>/<run_id>/`, `latest` stays, and the run fails."""
    started = time.perf_counter()
    staging = Path(table_path).parent
    if not outcome.passed:
        rejected = lake.reject(staging, dataset, run_id)
        raise errors.GateFailed(
            errors.GATE_FAILED.format(
                dataset=dataset,
                failures=", ".join(outcome.failures),
                rejected=rejected,
                report=rejected / "report.html",
            ),
            outcome.metrics,
        )
    folder = lake.publish(staging, dataset, run_id)
    tracking.set_champion(model_uri)
    log_stage("publish", started, "%s; %s is @%s", folder, model_uri, tracking.CHAMPION)
    return str(folder / Path(table_path).name)
