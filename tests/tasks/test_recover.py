"""The recover stage: what a refresh that died leaves behind is gone at the next start, and `latest`
and `champion` agree whichever step of publish the death fell on."""

import os
from pathlib import Path

import mlflow
import polars as pl
import pytest
from prefect.logging import disable_run_logger

from fairdistill import lake, tracking
from fairdistill.audit import AuditOutcome
from fairdistill.settings import AuditSettings
from tasks.publish import publish_synthetic_table
from tasks.recover import recover


class Killed(BaseException):
    """Stands for kill -9 at one step: nothing after it runs."""


def registered_versions(dataset: str) -> list[str]:
    client = mlflow.MlflowClient()
    name = tracking.registered_model_name(dataset)
    client.create_registered_model(name)
    versions = [client.create_model_version(name, source=f"file:///v{i}") for i in (1, 2)]
    return [f"models:/{name}/{v.version}" for v in versions]


def staged(dataset: str, run_id: str, model_uri: str) -> str:
    folder = lake.stage_dir("staging", dataset, run_id)
    table = lake.write_parquet(pl.DataFrame({"x": [1]}), folder / "synthetic.parquet")
    lake.write_json({"run": {"run_id": run_id, "model": model_uri}}, folder / "audit.json")
    return str(table)


PASSED = AuditOutcome(metrics={}, checks=[], settings=AuditSettings())
STEPS = ["move the folder", "make the new link", "swap latest", "set champion", "none"]


@pytest.mark.parametrize("step", STEPS)
def test_a_death_at_any_step_of_publish_leaves_latest_and_champion_agreeing(step, monkeypatch):
    dataset = f"toy{STEPS.index(step)}"
    v1, v2 = registered_versions(dataset)
    run = tracking.start_refresh_run(dataset, {}, {})
    with disable_run_logger():
        publish_synthetic_table.fn(dataset, "run-1", staged(dataset, "run-1", v1), PASSED, v1, run)
        table = staged(dataset, "run-2", v2)
        with monkeypatch.context() as patch:
            replace, symlink = os.replace, Path.symlink_to
            replaced = []

            def kill_at_replace(src, dst):
                replaced.append(dst)
                wanted = {"move the folder": 1, "swap latest": 2}.get(step)
                if len(replaced) == wanted:
                    raise Killed
                return replace(src, dst)

            def kill_at_link(self, *args, **kwargs):
                if step == "make the new link":
                    raise Killed
                return symlink(self, *args, **kwargs)

            def kill_at_champion(*args):
                raise Killed

            patch.setattr(lake.os, "replace", kill_at_replace)
            patch.setattr(Path, "symlink_to", kill_at_link)
            if step == "set champion":
                patch.setattr(tracking, "release_version", kill_at_champion)
            try:
                publish_synthetic_table.fn(dataset, "run-2", table, PASSED, v2, run)
            except Killed:
                pass
        recover.fn(dataset, None)
    published = lake.published_run(dataset)["model"]
    assert tracking.champion(dataset) == published
    assert published == (
        v1 if step in ("move the folder", "make the new link", "swap latest") else v2
    )
    assert not list((lake.lake_root() / "staging" / dataset).iterdir())
    assert not list(lake.lake_root().rglob(f".*{lake.TEMP_SUFFIX}"))


def test_recover_marks_the_flow_run_that_died_with_the_lock_crashed(prefect_harness):
    from prefect import flow, get_client, task
    from prefect.states import Running

    @task
    def stage():
        return 1

    @flow
    def dead():
        stage()

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(dead, state=Running())
        task_run = client.create_task_run(stage, run.id, "stage-1", state=Running())
    with disable_run_logger():
        recover.fn("toy", {"pid": 1, "flow_run_id": str(run.id)})
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(run.id).state.type.value == "CRASHED"
        assert client.read_task_run(task_run.id).state.type.value == "CRASHED"
