import time
from pathlib import Path

import polars as pl
from prefect import task
from prefect.artifacts import create_markdown_artifact

from fairdistill import tracking
from fairdistill.audit import AuditOutcome, run_audit
from fairdistill.image_report import IMAGE_MORE, IMAGE_ROWS, write_image_audit
from fairdistill.ingest import Snapshot
from fairdistill.report import summary_markdown, write_audit
from fairdistill.settings import AuditSettings, GenerationSettings
from fairdistill.spec import DatasetSpec
from models.bundle import FairDistillModel
from models.image_audit import run_image_audit
from tasks.reporting import log_stage

COUNTERFACTUAL_CODES = 8  # latent codes shown in every group in an image report


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
    latents = model.encode_latent(holdout)
    folder, title, tables = (
        Path(table_path).parent,
        f"fairdistill audit — {spec.name}",
        (train, synthetic),
    )
    if spec.modality == "image":  # the image audit and report, beside the same gate and files
        outcome = run_image_audit(
            train, holdout, synthetic, spec, settings, holdout_latents=latents, run=run
        )
        twins = GenerationSettings(mode="counterfactual", seed=settings.seed)
        rows = COUNTERFACTUAL_CODES * len(model.codec.groups_)
        files = write_image_audit(outcome, folder, spec, *tables, next(model.generate(rows, twins)))
        summary = summary_markdown(outcome, title, IMAGE_ROWS, IMAGE_MORE)
    else:
        outcome = run_audit(
            train, holdout, synthetic, spec, settings, holdout_latents=latents, run=run
        )
        files = write_audit(outcome, folder, spec, *tables)
        summary = summary_markdown(outcome, title)
    tracking.log_audit(tracking_run_id, outcome.metrics, list(files))
    create_markdown_artifact(summary, key=f"audit-{spec.name}", description=title)
    verdict = "passed" if outcome.passed else "FAILED: " + ", ".join(outcome.failures)
    log_stage(started, "audit: gate %s", verdict)
    return outcome
