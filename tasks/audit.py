import time
from pathlib import Path

import polars as pl
from prefect import task
from prefect.client.orchestration import get_client
from prefect.runtime import deployment

from fairdistill import tracking
from fairdistill.audit import AuditOutcome, run_audit
from fairdistill.environment import release_free_memory
from fairdistill.ingest import Snapshot
from fairdistill.report import write_audit
from fairdistill.settings import (
    AuditSettings,
    Criterion,
    GateThresholds,
    configured_gate_from_environment,
)
from fairdistill.spec import DatasetSpec
from models.bundle import FairDistillModel
from models.image_audit import image_audit_parts
from tasks.reporting import log_stage


def configured_gate() -> GateThresholds:
    """The gate this run's deployment was configured with: its own `audit.gate` parameter (set in
    deployments/prefect.yaml), else the default thresholds. Outside a deployment (the command line,
    a notebook): `FAIRDISTILL_CONFIGURED_GATE`, a JSON mapping of thresholds, else the defaults.

    A run may be given a stricter gate; one given a looser gate does not release a champion
    (`AuditOutcome.release`)."""
    if deployment.id is None:
        return configured_gate_from_environment()
    with get_client(sync_client=True) as client:
        parameters = client.read_deployment(deployment.id).parameters
    return AuditSettings.model_validate(parameters.get("audit") or {}).gate


@task(name="audit")
def audit(
    spec: DatasetSpec,
    snapshot: Snapshot,
    model_dir: str,
    table_path: str,
    settings: AuditSettings,
    configured: GateThresholds,
    tracking_run_id: str,
    run: dict,
    criterion: Criterion = "dp",
) -> AuditOutcome:
    """Audit the synthetic table, made for the fairness ``criterion``, against the real train and
    holdout (beside TRTR, the fair reference of the criterion); write `audit.json` and
    `report.html` beside the table; log every metric, the gate's verdict and the report to
    MLflow."""
    started = time.perf_counter()
    release_free_memory()  # what the training stages freed: the audit is the refresh's peak
    train, holdout = pl.read_parquet(snapshot.train_path), pl.read_parquet(snapshot.holdout_path)
    synthetic = pl.read_parquet(table_path)
    model = FairDistillModel.load(model_dir)
    measure, write = run_audit, write_audit
    if spec.modality == "image":  # the image audit and report: the same gate, files and release
        measure, write = image_audit_parts(model, settings.seed)
    outcome = measure(
        train,
        holdout,
        synthetic,
        spec,
        settings,
        holdout_latents=model.encode_latent(holdout),
        run=run,
        configured_gate=configured,
        criterion=criterion,
    )
    files = write(outcome, Path(table_path).parent, spec, train, synthetic)
    tracking.log_audit(tracking_run_id, outcome.metrics, list(files))
    tracking.set_tags(tracking_run_id, tracking.gate_tags(outcome))
    verdict = "passed" if outcome.passed else "FAILED: " + "; ".join(outcome.failures)
    verdict += "".join(f"; note: {note}" for note in outcome.notes)
    log_stage(
        "audit",
        started,
        "gate %s (release: %s)",
        verdict,
        outcome.release,
        tracking_run_id=tracking_run_id,
    )
    return outcome
