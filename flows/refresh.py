"""The refresh flow: turn a dataset into a fair synthetic table, one stage per line."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger, unmapped
from prefect.runtime import flow_run
from pydantic import BaseModel

from fairdistill.lake import dataset_lock, model_dir, new_run_id
from fairdistill.settings import (
    AuditSettings,
    GenerationSettings,
    RefreshSettings,
    SamplerSettings,
    StudentSettings,
    TeacherSettings,
)
from fairdistill.spec import DatasetSpec, load_builtin
from fairdistill.tracking import code_version
from flows.task_runner import task_runner
from tasks.audit import audit as audit_synthetic_table
from tasks.encode import encode
from tasks.generate import generate, merge_shards, register_model, shards
from tasks.ingest import ingest
from tasks.publish import publish_synthetic_table
from tasks.recover import recover
from tasks.tracking import start_tracking
from tasks.train import distill, fit_sampler, train_teacher
from tasks.validate import validate


class RefreshResult(BaseModel):
    """Where a refresh put everything."""

    dataset: str
    run_id: str
    fingerprint: str
    raw_train: str
    raw_holdout: str
    validation_report: str
    mlflow_run_id: str
    model_uri: str
    synthetic_table: str
    audit: str
    report: str
    metrics: dict[str, float]


def run_name() -> str:
    """`refresh-<dataset>`, for a built-in name or a full spec alike."""
    dataset = flow_run.parameters["dataset"]
    name = (
        dataset if isinstance(dataset, str) else getattr(dataset, "name", None) or dataset["name"]
    )
    return f"refresh-{name}"


@flow(name="refresh", flow_run_name=run_name, task_runner=task_runner())
def refresh(
    dataset: DatasetSpec | Literal["adult", "compas"] = "adult",
    teacher: TeacherSettings = TeacherSettings(),  # noqa: B008
    student: StudentSettings = StudentSettings(),  # noqa: B008
    sampler: SamplerSettings = SamplerSettings(),  # noqa: B008
    generation: GenerationSettings = GenerationSettings(),  # noqa: B008
    audit: AuditSettings = AuditSettings(),  # noqa: B008
) -> RefreshResult:
    """ingest → validate → encode → train_teacher → distill → fit_sampler → generate → audit →
    publish. The table is published only if it passes the audit gate. The stages run under the
    dataset's lock, after `recover` has cleaned up what a refresh that died left behind.

    `dataset` is a built-in name (its shipped spec) or a whole spec for your own data."""
    dataset = load_builtin(dataset) if isinstance(dataset, str) else dataset
    settings = RefreshSettings(
        teacher=teacher, student=student, sampler=sampler, generation=generation, audit=audit
    )
    # One refresh per dataset at a time: a second one waits here, then reuses the trained stages.
    with dataset_lock(
        dataset.slug, {"flow_run_id": str(flow_run.id)}, get_run_logger().warning
    ) as abandoned:
        recover(dataset.slug, abandoned)
        run_id = new_run_id()
        snapshot = ingest(dataset, run_id)
        validation_report = validate(dataset, snapshot, sampler)
        tracking_run_id = start_tracking(dataset, snapshot, settings)
        models = str(model_dir(dataset.slug, snapshot.fingerprint, settings.model_key()))

        models = encode(dataset, snapshot, models)
        models = train_teacher(snapshot, models, teacher, tracking_run_id)
        models = distill(snapshot, models, student, tracking_run_id)
        models = fit_sampler(snapshot, models, sampler, tracking_run_id)
        model_uri = register_model(dataset.slug, models, tracking_run_id)
        parts = generate.map(  # one task per shard: side by side on a Dask task runner
            *map(unmapped, (snapshot, models, generation)),
            shards(generation, snapshot),
            unmapped(tracking_run_id),
        )
        table = merge_shards(snapshot, parts, tracking_run_id)
        run = run_identity(snapshot, model_uri, tracking_run_id, settings)
        outcome = audit_synthetic_table(
            dataset, snapshot, models, table, audit, tracking_run_id, run
        )
        table = publish_synthetic_table(dataset.slug, run_id, table, outcome, model_uri)

        return RefreshResult(
            dataset=dataset.name,
            run_id=run_id,
            fingerprint=snapshot.fingerprint,
            raw_train=snapshot.train_path,
            raw_holdout=snapshot.holdout_path,
            validation_report=validation_report,
            mlflow_run_id=tracking_run_id,
            model_uri=model_uri,
            synthetic_table=table,
            audit=str(Path(table).with_name("audit.json")),
            report=str(Path(table).with_name("report.html")),
            metrics=outcome.metrics,
        )


def run_identity(snapshot, model_uri: str, tracking_run_id: str, settings: RefreshSettings) -> dict:
    """What every artifact of the run carries: ids, dataset fingerprint, code version, seeds."""
    return {
        "run_id": snapshot.run_id,
        "fingerprint": snapshot.fingerprint,
        "model": model_uri,
        "mlflow_run_id": tracking_run_id,
        "code_version": code_version(),
        "seeds": settings.seeds(),
    }
