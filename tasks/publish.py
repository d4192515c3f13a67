import time
from dataclasses import dataclass
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from fairdistill import lake, tracking
from fairdistill.audit import CHAMPION, REJECTED, AuditOutcome
from fairdistill.report import rejection_message, summary_markdown, summary_paragraph
from tasks.reporting import log_stage, prefect_ui_url

PUBLISHED = "{dataset}: published {folder}; `latest` points at it and {model} is @champion"
PUBLISHED_AS_CHALLENGER = (
    "{dataset}: published {folder} under its run id only: this run's gate is looser than the "
    "configured one ({looser}), so `latest` and @champion did not move; {model} is {alias}"
)


@dataclass(frozen=True)
class Publication:
    """Where a run's table went and what it released (`fairdistill.audit` CHAMPION, …)."""

    release: str
    folder: str
    table: str
    report: str
    message: str


@task(name="publish")
def publish_synthetic_table(
    dataset: str,
    run_id: str,
    table_path: str,
    outcome: AuditOutcome,
    model_uri: str,
    tracking_run_id: str,
) -> Publication:
    """Move the run's folder (table, audit.json, report.html) to its final place and release it.

    A champion (passed the configured gate) goes to `synthetic/<dataset>/<run_id>/`, `latest`
    moves to it and its model version becomes @champion; a challenger (passed a looser gate) goes
    there too, without moving `latest` or @champion, and its version becomes @challenger; a
    rejected table goes to `rejected/<dataset>/<run_id>/`. The message says which, with final
    paths; the audit summary goes to Prefect with links to the report, the table and the runs."""
    started = time.perf_counter()
    staging = Path(table_path).parent
    if outcome.release == REJECTED:
        folder = lake.reject(staging, dataset, run_id)
        message = rejection_message(dataset, outcome, folder)
    else:
        # The table's audit.json names its model: `recover` re-aligns @champion with `latest`.
        lake.write_json(
            outcome.to_dict() | {"run": outcome.run | {"model": model_uri}}, staging / "audit.json"
        )
        folder = lake.publish(staging, dataset, run_id, latest=outcome.release == CHAMPION)
        description = summary_paragraph(outcome, dataset)
        released = tracking.release_version(
            model_uri, outcome.release, tracking.version_tags(outcome), description
        )
        template = PUBLISHED if outcome.release == CHAMPION else PUBLISHED_AS_CHALLENGER
        alias = "@challenger" if released else "@champion already (the same trained model)"
        looser = ", ".join(outcome.looser_thresholds)
        message = template.format(
            dataset=dataset, folder=folder, model=model_uri, looser=looser, alias=alias
        )
    table, report = folder / Path(table_path).name, folder / "report.html"
    tracking.set_tags(tracking_run_id, {"fairdistill.table": table, "fairdistill.report": report})
    links = {
        "report": str(report),
        "table": str(table),
        "MLflow run": tracking.run_url(tracking_run_id),
        "model": model_uri or "not registered (rejected)",
    }
    if url := prefect_ui_url():
        links["Prefect flow run"] = url
    title = f"fairdistill audit — {dataset}"
    create_markdown_artifact(
        summary_markdown(outcome, title, links), key=f"audit-{dataset}", description=title
    )
    if outcome.release == REJECTED:
        get_run_logger().error(message)
    else:
        log_stage("publish", started, "%s", message, tracking_run_id=tracking_run_id)
    return Publication(outcome.release, str(folder), str(table), str(report), message)
