import time
from pathlib import Path

import polars as pl
from prefect import task
from prefect.artifacts import create_markdown_artifact

from fairdistill import tracking
from fairdistill.audit import AuditOutcome, run_audit
from fairdistill.ingest import Snapshot
from fairdistill.report import summary_markdown, write_audit
from fairdistill.settings import AuditSettings
from fairdistill.spec import DatasetSpec
from models.bundle import FairDistillModel
from tasks.reporting import log_stage


@task(name="audit")
def audit(
    spec: DatasetSpec,
    snapshot: Snapshot,
    model_dir: str,
    table_path: str,
    settings: AuditSettings,
    tracking_run_id: str,
    run: dict,
) -> AuditOutcome:
    """Audit the synthetic table against the real train and holdout; write `audit.json` and
    `report.html` beside the table, log every metric and the report to MLflow, show the summary in
    Prefect."""
    started = time.perf_counter()
    train, holdout = pl.read_parquet(snapshot.train_path), pl.read_parquet(snapshot.holdout_path)
    synthetic = pl.read_parquet(table_path)
    latents = FairDistillModel.load(model_dir).encode_latent(holdout)
    outcome = run_audit(train, holdout, synthetic, spec, settings, holdout_latents=latents, run=run)
    files = write_audit(outcome, Path(table_path).parent, spec, train, synthetic)
    tracking.log_audit(tracking_run_id, outcome.metrics, list(files))
    title = f"fairdistill audit — {spec.name}"
    create_markdown_artifact(
        summary_markdown(outcome, title), key=f"audit-{spec.slug}", description=title
    )
    verdict = "passed" if outcome.passed else "FAILED: " + ", ".join(outcome.failures)
    log_stage("audit", started, "gate %s", verdict, tracking_run_id=tracking_run_id)
    return outcome
