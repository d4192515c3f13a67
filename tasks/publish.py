from pathlib import Path

from prefect import get_run_logger, task

from fairdistill import errors, tracking
from fairdistill.lake import publish, stage_dir


@task(name="publish")
def publish_synthetic_table(
    dataset: str, run_id: str, table_path: str, audit: dict, model_uri: str
) -> str:
    """Publish the run's folder (table, audit.json, report.html) if the audit gate passed: it moves to
    `synthetic/<dataset>/<run_id>/`, `latest` moves to it, and the model version becomes `champion`.
    Otherwise the folder moves to `rejected/<dataset>/<run_id>/`, `latest` stays, and the run fails."""
    staging = Path(table_path).parent
    if not audit["passed"]:
        rejected = stage_dir("rejected", dataset, run_id)
        rejected.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(rejected)
        raise errors.GateFailed(
            errors.GATE_FAILED.format(
                dataset=dataset,
                failures=", ".join(audit["failures"]),
                rejected=rejected,
                report=rejected / "report.html",
            ),
            audit["metrics"],
        )
    folder = publish(staging, "synthetic", dataset, run_id)
    tracking.set_champion(model_uri)
    get_run_logger().info("published %s; %s is now @%s", folder, model_uri, tracking.CHAMPION)
    return str(folder / Path(table_path).name)
