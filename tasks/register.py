import time
from pathlib import Path

from prefect import task

from fairdistill import tracking
from fairdistill.audit import REJECTED, AuditOutcome
from models.bundle import PYFUNC_CODE, FairDistillModel, parts_digest
from tasks.reporting import log_stage


@task(name="register_model")
def register_model(
    dataset: str, model_dir: str, tracking_run_id: str, outcome: AuditOutcome
) -> str:
    """Register the trained model if its table passed the gate; returns `models:/<name>/<version>`,
    or "" when the gate rejected it (nothing is registered).

    One version per distinct trained model: a model whose parts (`parts_digest`) are already
    registered, e.g. by a re-run whose training stages all came from the cache, reuses that version.
    Otherwise codec, teacher, student, decoder and sampler are logged to the run as one MLflow model
    and registered."""
    started = time.perf_counter()
    if outcome.release == REJECTED:
        log_stage("register_model", started, "nothing registered, the gate rejected the table")
        return ""
    digest = parts_digest(model_dir)
    if uri := tracking.find_model_version(dataset, digest):
        log_stage(
            "register_model",
            started,
            "%s (the same trained model: no new version)",
            uri,
            tracking_run_id=tracking_run_id,
        )
        return uri
    example = next(FairDistillModel.load(model_dir).generate(5)).to_pandas()
    uri = tracking.register_bundle(
        Path(model_dir), PYFUNC_CODE, dataset, tracking_run_id, example, digest
    )
    log_stage("register_model", started, "%s", uri, tracking_run_id=tracking_run_id)
    return uri
