"""The refresh flow: turn a dataset into a fair synthetic table, one stage per line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger, unmapped
from prefect.context import FlowRunContext
from prefect.runtime import flow_run
from prefect.states import Completed, Failed
from pydantic import BaseModel

from fairdistill.audit import REJECTED
from fairdistill.errors import GateFailed
from fairdistill.lake import dataset_lock, model_dir, new_run_id
from fairdistill.settings import (
    AuditSettings,
    GenerationSettings,
    RefreshSettings,
    SamplerSettings,
    StudentSettings,
    TeacherSettings,
    dataset_settings,
)
from fairdistill.spec import DatasetSpec, dataset_name, load_builtin
from fairdistill.tracking import code_version
from flows.task_runner import task_runner
from tasks.audit import audit as audit_synthetic_table
from tasks.audit import configured_gate
from tasks.encode import encode
from tasks.generate import generate, merge_shards, shards
from tasks.ingest import ingest
from tasks.publish import publish_synthetic_table
from tasks.recover import recover
from tasks.register import register_model
from tasks.tracking import finish_tracking, start_tracking
from tasks.train import calibrate_labels, distill, fit_sampler, train_teacher
from tasks.validate import validate


class RefreshResult(BaseModel):
    """Where a refresh put everything, and what it released (`champion` or `challenger`)."""

    dataset: str
    run_id: str
    fingerprint: str
    raw_train: str
    raw_holdout: str
    validation_report: str
    mlflow_run_id: str
    model_uri: str
    release: str
    synthetic_table: str
    audit: str
    report: str
    metrics: dict[str, float]
    gate_notes: list[str] = []  # checks passed by their interval (`AuditOutcome.notes`)


def run_name() -> str:
    """The flow run's own name when someone triggered it by hand with a name (the Prefect UI's
    Run name, `run_deployment(flow_run_name=...)`); else, for scheduled runs and direct calls,
    `refresh-<dataset>-<UTC time>`. Prefect renames every run that has a `flow_run_name`, so the
    name given at creation is kept here."""
    run = FlowRunContext.get().flow_run
    if run.deployment_id is not None and not run.auto_scheduled:
        return run.name
    dataset = dataset_name(flow_run.parameters["dataset"])
    return f"refresh-{dataset}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


@flow(
    name="refresh",
    flow_run_name=run_name,
    task_runner=task_runner(),
    on_completion=[finish_tracking],
    on_failure=[finish_tracking],
    on_crashed=[finish_tracking],
    on_cancellation=[finish_tracking],
)
def refresh(
    dataset: DatasetSpec
    | Literal["adult", "compas", "colored-mnist", "colored-mnist-mod3"] = "adult",
    teacher: TeacherSettings | None = None,
    student: StudentSettings | None = None,
    sampler: SamplerSettings | None = None,
    generation: GenerationSettings | None = None,
    audit: AuditSettings | None = None,
):
    """ingest → validate → encode → train_teacher → distill → fit_sampler → calibrate_labels →
    generate → audit → register_model → publish. The table is published only if it passes the
    audit gate; a rejected table ends the run Failed with one message that says what failed and what to try. The stages
    run under the dataset's lock, after `recover` has cleaned up what a refresh that died left
    behind.

    A settings field not given takes the dataset's tuned value (a built-in's `settings.yaml`, e.g.
    datasets/colored-mnist/settings.yaml) or the default (`fairdistill.settings.dataset_settings`).

    Args:
        dataset: A built-in dataset (adult, compas, colored-mnist, colored-mnist-mod3) or a whole
            spec for your own data.
        teacher: The teacher VAE and its training.
        student: The small student encoder distilled from the teacher.
        sampler: How new latent codes are drawn.
        generation: How many rows to make and how to decode them fairly.
        audit: The audit and its gate; a gate looser than the deployment's own publishes the
            table under its run id only.
    """
    dataset = load_builtin(dataset) if isinstance(dataset, str) else dataset
    settings = dataset_settings(
        dataset.name,
        teacher=teacher,
        student=student,
        sampler=sampler,
        generation=generation,
        audit=audit,
    )
    # One refresh per dataset at a time: a second one waits here, then reuses the trained stages.
    with dataset_lock(
        dataset.slug, {"flow_run_id": str(flow_run.id)}, get_run_logger().warning
    ) as abandoned:
        recover(dataset.slug, abandoned)
        run_id = new_run_id()
        snapshot = ingest(dataset, run_id)
        validation_report = validate(dataset, snapshot, settings.sampler)
        tracking_run_id = start_tracking(dataset, snapshot, settings)
        models = str(model_dir(dataset.slug, snapshot.fingerprint, settings.model_key()))

        models = encode(dataset, snapshot, models)
        models = train_teacher(snapshot, models, settings.teacher, tracking_run_id)
        models = distill(snapshot, models, settings.student, tracking_run_id)
        models = fit_sampler(snapshot, models, settings.sampler, tracking_run_id)
        models = calibrate_labels(dataset, snapshot, models, settings.sampler, tracking_run_id)
        parts = generate.map(  # one task per shard: side by side on a Dask task runner
            *map(unmapped, (snapshot, models, settings.generation)),
            shards(settings.generation, snapshot),
            unmapped(tracking_run_id),
        )
        table = merge_shards(snapshot, parts, tracking_run_id)
        run = run_identity(snapshot, models, tracking_run_id, settings)
        outcome = audit_synthetic_table(
            dataset,
            snapshot,
            models,
            table,
            settings.audit,
            configured_gate(),
            tracking_run_id,
            run,
            settings.generation.criterion,
        )
        model_uri = register_model(dataset.slug, models, tracking_run_id, outcome)
        published = publish_synthetic_table(
            dataset.slug, run_id, table, outcome, model_uri, tracking_run_id
        )

    if published.release == REJECTED:
        return Failed(
            message=published.message, data=GateFailed(published.message, outcome.metrics)
        )
    result = RefreshResult(
        dataset=dataset.name,
        run_id=run_id,
        fingerprint=snapshot.fingerprint,
        raw_train=snapshot.train_path,
        raw_holdout=snapshot.holdout_path,
        validation_report=validation_report,
        mlflow_run_id=tracking_run_id,
        model_uri=model_uri,
        release=published.release,
        synthetic_table=published.table,
        audit=str(Path(published.folder) / "audit.json"),
        report=published.report,
        metrics=outcome.metrics,
        gate_notes=outcome.notes,
    )
    return Completed(message=published.message, data=result)


def run_identity(snapshot, models: str, tracking_run_id: str, settings: RefreshSettings) -> dict:
    """What every artifact of the run carries: ids, dataset fingerprint, model folder, code version,
    seeds."""
    return {
        "run_id": snapshot.run_id,
        "fingerprint": snapshot.fingerprint,
        "model_dir": models,
        "mlflow_run_id": tracking_run_id,
        "code_version": code_version(),
        "seeds": settings.seeds(),
    }
