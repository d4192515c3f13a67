from pathlib import Path

import polars as pl
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from fairdistill import tracking
from fairdistill.audit import audit_table, check_gate, gate_as_dicts, gate_passed
from fairdistill.ingest import Snapshot
from fairdistill.lake import write_json
from fairdistill.report import render_html, summary_markdown
from fairdistill.spec import DatasetSpec
from flows.params import AuditConfig
from models.bundle import FairDistillModel


@task(name="audit")
def audit(
    spec: DatasetSpec,
    snapshot: Snapshot,
    model_dir: str,
    table_path: str,
    config: AuditConfig,
    tracking_run_id: str,
    run: dict,
) -> dict:
    """Audit the synthetic table against the real train and holdout; write `audit.json` and
    `report.html` beside the table, log every metric and the report to MLflow, show the summary in
    Prefect. Returns {"passed", "audit", "report"}."""
    train, holdout = pl.read_parquet(snapshot.train_path), pl.read_parquet(snapshot.holdout_path)
    synthetic = pl.read_parquet(table_path)
    latents = FairDistillModel.load(model_dir).encode_latent(holdout)
    metrics = audit_table(
        train,
        holdout,
        synthetic,
        spec,
        random_state=config.seed,
        n_resamples=config.bootstrap_resamples,
        holdout_latents=latents,
    )
    checks = check_gate(metrics, config.gate.as_dict())
    folder = Path(table_path).parent
    payload = {
        "run": run,
        "metrics": metrics,
        "thresholds": config.as_dict(),
        "gate": gate_as_dicts(checks),
        "passed": gate_passed(checks),
    }
    audit_path = write_json(payload, folder / "audit.json")
    report = folder / "report.html"
    report.write_text(
        render_html(
            metrics, checks, spec, train, synthetic, run=run, min_dpr=config.gate.min_model_dpr
        )
    )
    tracking.log_audit(tracking_run_id, metrics, [audit_path, report])
    title = f"fairdistill audit — {spec.name}"
    create_markdown_artifact(
        summary_markdown(metrics, checks, title), key=f"audit-{spec.name}", description=title
    )
    get_run_logger().info("audit %s: %s", "PASSED" if payload["passed"] else "FAILED", report)
    return {
        "passed": payload["passed"],
        "audit": str(audit_path),
        "report": str(report),
        "failures": [
            f"{c.name} {c.value:.3f} (needs {c.rule} {c.threshold:.3f})"
            for c in checks
            if not c.passed
        ],
        "metrics": metrics,
    }
