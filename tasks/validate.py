import time

import polars as pl
from prefect import task
from prefect.artifacts import create_markdown_artifact

from expectations.check import load_suite, validate_frame
from expectations.messages import raise_for_failures, summary_markdown
from fairdistill.ingest import Snapshot
from fairdistill.lake import mirror, stage_dir, write_json
from fairdistill.settings import SamplerSettings
from fairdistill.spec import DatasetSpec
from tasks.reporting import log_stage


@task(name="validate", task_run_name="validate-{spec.name}")
def validate(spec: DatasetSpec, snapshot: Snapshot, sampler: SamplerSettings) -> str:
    """Run the dataset's expectation suite on the training snapshot; stop the flow if it fails, or
    if the sampler settings do not fit the training rows (before any training either way).

    The result goes to the lake as JSON and to Prefect as a markdown artifact, pass or fail.
    Returns the path of the saved validation result.
    """
    started = time.perf_counter()
    report = validate_frame(pl.read_parquet(snapshot.train_path), spec, load_suite(spec))
    path = write_json(
        report.to_json(), stage_dir("validation", spec.slug, snapshot.run_id) / "validation.json"
    )
    mirror(path)
    create_markdown_artifact(
        summary_markdown(report),
        key=f"validation-{spec.slug}",
        description=f"validation of {spec.name}",
    )
    raise_for_failures(report, spec, f"{spec.source_location()} (training split)")
    sampler.check_fits(snapshot.train_rows, spec.name)
    log_stage("validate", started, "suite %s passed -> %s", report.suite_name, path)
    return str(path)
