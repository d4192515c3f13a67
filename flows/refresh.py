"""The refresh flow: turn a dataset into a fair synthetic table, one stage per line."""

from __future__ import annotations

from prefect import flow
from pydantic import BaseModel

from fairdistill.lake import new_run_id
from fairdistill.spec import DatasetSpec, load_builtin
from tasks.ingest import ingest
from tasks.validate import validate


class RefreshResult(BaseModel):
    """Where a refresh put everything."""

    dataset: str
    run_id: str
    fingerprint: str
    raw_train: str
    raw_holdout: str
    validation_report: str


@flow(name="refresh", flow_run_name="refresh-{dataset.name}")
def refresh(dataset: DatasetSpec = load_builtin("adult")) -> RefreshResult:  # noqa: B008
    """Ingest → validate (later: encode → train → distill → sample → generate → audit → publish)."""
    run_id = new_run_id()
    snapshot = ingest(dataset, run_id)
    validation_report = validate(dataset, snapshot)
    return RefreshResult(
        dataset=dataset.name,
        run_id=run_id,
        fingerprint=snapshot.fingerprint,
        raw_train=snapshot.train_path,
        raw_holdout=snapshot.holdout_path,
        validation_report=validation_report,
    )
