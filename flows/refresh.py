"""The refresh flow: turn a dataset into a fair synthetic table, one stage per line."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from prefect import flow
from prefect.runtime import flow_run
from pydantic import BaseModel

from fairdistill.lake import model_dir, new_run_id
from fairdistill.settings import (
    AuditSettings,
    GenerationSettings,
    RefreshSettings,
    SamplerSettings,
    StudentSettings,
    TeacherSettings,
    dataset_settings,
)
from fairdistill.spec import DatasetSpec, load_builtin
from fairdistill.tracking import code_version
from tasks.audit import audit as audit_synthetic_table
from tasks.encode import encode
from tasks.generate import generate, register_model
from tasks.ingest import ingest
from tasks.publish import publish_synthetic_table
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


@flow(name="refresh", flow_run_name=run_name)
def refresh(
    dataset: DatasetSpec
    | Literal["adult", "compas", "colored-mnist", "colored-mnist-mod3"] = "adult",
    teacher: TeacherSettings | None = None,
    student: StudentSettings | None = None,
    sampler: SamplerSettings | None = None,
    generation: GenerationSettings | None = None,
    audit: AuditSettings | None = None,
) -> RefreshResult:
    """ingest → validate → encode → train_teacher → distill → fit_sampler → generate → audit →
    publish. The table is published only if it passes the audit gate.

    `dataset` is a built-in name (its shipped spec) or a whole spec for your own data. A settings
    field not given takes the dataset's tuned value (a built-in's `settings.yaml`) or the default."""
    dataset = load_builtin(dataset) if isinstance(dataset, str) else dataset
    settings = dataset_settings(
        dataset.name,
        teacher=teacher,
        student=student,
        sampler=sampler,
        generation=generation,
        audit=audit,
    )
    run_id = new_run_id()
    snapshot = ingest(dataset, run_id)
    validation_report = validate(dataset, snapshot)
    tracking_run_id = start_tracking(dataset, snapshot, settings)
    models = str(model_dir(dataset.name, snapshot.fingerprint, settings.model_key()))

    models = encode(dataset, snapshot, models)
    models = train_teacher(snapshot, models, settings.teacher, tracking_run_id)
    models = distill(snapshot, models, settings.student, tracking_run_id)
    models = fit_sampler(snapshot, models, settings.sampler, tracking_run_id)
    model_uri = register_model(dataset.name, models, tracking_run_id)
    table = generate(dataset.name, snapshot, models, settings.generation, tracking_run_id)
    run = run_identity(snapshot, model_uri, tracking_run_id, settings)
    outcome = audit_synthetic_table(
        dataset, snapshot, models, table, settings.audit, tracking_run_id, run
    )
    table = publish_synthetic_table(dataset.name, run_id, table, outcome, model_uri)

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
