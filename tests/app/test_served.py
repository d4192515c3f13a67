"""Served mode end to end: `fairdistill serve`, a small run of `refresh/adult-nightly` triggered through
the Prefect API, the MLflow run on the MLflow server, the table in the lake, `fairdistill stop`.

The servers are real processes on 127.0.0.1:4200 and :5000 with their own state in a temporary folder
(PREFECT_HOME, MLflow SQLite file and artifacts, lake, PID files): they get a fresh environment, not the
one conftest.py set up for in-process tests, and this process only talks to them over HTTP.
"""

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from app.serve import HOST, MLFLOW_PORT, MLFLOW_URL, PREFECT_PORT, PREFECT_URL, port_free
from fairdistill.tracking import CHAMPION

ROOT = Path(__file__).resolve().parents[2]
# Seconds of training, not a minute; a model this small cannot pass the real audit gate, so the gate is
# opened: this test is about serving, the gate has its own tests.
SMALL = {
    "teacher": {"steps": 6, "rounds": 1, "hidden": [32, 32], "latent_dim": 4},
    "student": {"steps": 6, "rounds": 1, "hidden": [8]},
    "generation": {"rows": 500},
    "audit": {
        "bootstrap_resamples": 0,
        "gate": {"min_model_dpr": 0.0, "max_auroc_drop": 1.0, "max_copy_rate_excess": 1.0},
    },
}

pytestmark = [
    pytest.mark.served,
    pytest.mark.skipif(
        not (port_free(PREFECT_PORT) and port_free(MLFLOW_PORT)),
        reason=f"served mode needs free ports {PREFECT_PORT} and {MLFLOW_PORT} on {HOST}",
    ),
]


def _fairdistill(command: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _logs(runtime: Path) -> str:
    return "\n".join(
        f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        for log in sorted(runtime.glob("*.log"))
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Served mode on temporary state; always stopped again, and stopped means stopped."""
    home = tmp_path_factory.mktemp("served")
    keep = ("PREFECT_", "MLFLOW_", "FAIRDISTILL_", "GX_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(keep)}
    env |= {
        "FAIRDISTILL_RUNTIME": str(home / "runtime"),
        "FAIRDISTILL_LAKE": str(home / "lake"),
        "FAIRDISTILL_MLFLOW_ARTIFACTS": str(home / "mlartifacts"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "PREFECT_HOME": str(home / "prefect"),
        "FAIRDISTILL_SERVE_TIMEOUT": "300",  # a loaded 2-core machine
    }
    try:
        started = _fairdistill("serve", env, timeout=900)
        if "already in use by a program" in started.stderr:  # taken since collection
            pytest.skip(started.stderr.strip())
        assert started.returncode == 0, started.stderr + _logs(home / "runtime")
        yield {"home": home, "env": env, "out": started.stdout}
    finally:
        stopped = _fairdistill("stop", env, timeout=180)
    assert stopped.returncode == 0, stopped.stderr
    assert not list((home / "runtime").glob("*.pid"))
    assert port_free(PREFECT_PORT) and port_free(MLFLOW_PORT)


def test_serve_prints_the_urls_and_twice_starts_no_duplicates(served):
    for url in (f"{PREFECT_URL}/deployments", MLFLOW_URL):
        assert url in served["out"]
    pids = {p.name: p.read_text() for p in (served["home"] / "runtime").glob("*.pid")}
    assert set(pids) == {"prefect-server.pid", "mlflow-server.pid", "worker.pid"}

    again = _fairdistill("serve", served["env"], timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already running") == 3
    assert {p.name: p.read_text() for p in (served["home"] / "runtime").glob("*.pid")} == pids


def test_deployments_carry_the_prefect_yaml_settings(served):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: f"{PREFECT_URL}/api"}):
        with get_client(sync_client=True) as client:
            adult = client.read_deployment_by_name("refresh/adult-nightly")
            compas = client.read_deployment_by_name("refresh/compas-nightly")
        # enforce_parameter_schema: the server refuses the run before any worker sees it
        with pytest.raises(PrefectHTTPStatusError, match="generation.rows"):
            run_deployment("refresh/adult-nightly", parameters={"generation": {"rows": 0}})
    assert adult.work_pool_name == compas.work_pool_name == "fairdistill-process"
    assert [s.schedule.cron for s in adult.schedules] == ["0 2 * * *"]
    assert [s.schedule.cron for s in compas.schedules] == ["30 2 * * *"]
    assert adult.schedules[0].schedule.timezone == "UTC"
    assert adult.enforce_parameter_schema and compas.enforce_parameter_schema
    assert adult.global_concurrency_limit.limit == compas.global_concurrency_limit.limit == 1
    assert compas.parameters["dataset"] == "compas"


def test_a_triggered_run_completes_and_lands_in_mlflow_and_the_lake(served):
    from mlflow import MlflowClient
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: f"{PREFECT_URL}/api"}):
        run = run_deployment("refresh/adult-nightly", parameters=SMALL, timeout=420)
    assert run.state.is_completed(), f"{run.state!r}\n{_logs(served['home'] / 'runtime')}"
    assert run.name == "refresh-adult"

    client = MlflowClient(tracking_uri=MLFLOW_URL)
    experiment = client.get_experiment_by_name("fairdistill")
    (mlflow_run,) = client.search_runs([experiment.experiment_id])
    assert mlflow_run.data.tags["dataset"] == "adult"
    assert mlflow_run.data.params["teacher.rounds"] == "1"
    champion = client.get_model_version_by_alias("fairdistill-adult", CHAMPION)
    assert champion.run_id == mlflow_run.info.run_id
    lake_run = mlflow_run.data.tags["lake_run_id"]

    latest = served["home"] / "lake" / "synthetic" / "adult" / "latest"
    assert latest.resolve().name == lake_run
    assert pl.read_parquet(latest / "synthetic.parquet").height == 500
