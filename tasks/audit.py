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
from models.image_audit import image_audit_parts
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
    model = FairDistillModel.load(model_dir)
    audit_fn, write, summary = run_audit, write_audit, ()
    if spec.modality == "image":  # the image audit and report, the same gate and files
        audit_fn, write, summary = image_audit_parts(model, settings.seed)
    latents = model.encode_latent(holdout)
    outcome = audit_fn(train, holdout, synthetic, spec, settings, holdout_latents=latents, run=run)
    files = write(outcome, Path(table_path).parent, spec, train, synthetic)
    title = f"fairdistill audit — {spec.name}"
    tracking.log_audit(tracking_run_id, outcome.metrics, list(files))
    create_markdown_artifact(
        summary_markdown(outcome, title, *summary), key=f"audit-{spec.name}", description=title
    )
    verdict = "passed" if outcome.passed else "FAILED: " + ", ".join(outcome.failures)
    log_stage(started, "audit: gate %s", verdict)
    return outcome
