"""Served mode end to end: `fairdistill serve`, refreshes triggered through the Prefect API, their
MLflow runs and registered model on the MLflow server, the lake, the notification webhook, and
`fairdistill stop`.

The servers are real processes on 127.0.0.1:4200 and :5000 with their own state in a temporary folder
(PREFECT_HOME, MLflow SQLite file and artifacts, lake, PID files): they get a fresh environment, not the
one conftest.py set up for in-process tests, and this process only talks to them over HTTP.

The runs use a deployment of their own, `refresh/loans-gated`: the shipped deployments' settings,
the small loans table, and a configured gate a seconds-long model can pass (an operator's
`audit.gate` in deployments/prefect.yaml). Against it: a passing run, a rejected run (a stricter
gate), a run with a looser gate and another seed (a new model), and a cached re-run of the first.
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from app.serve import host, mlflow_port, mlflow_url, port_free, prefect_port, prefect_url
from fairdistill.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
# Seconds of training: a model this small scores far below real data on AUROC, so the test
# deployment's configured gate allows a large drop; the runs below are stricter or looser than it.
SMALL = {
    "teacher": {"steps": 10, "rounds": 1, "hidden": [32, 32], "latent_dim": 4},
    "student": {"steps": 10, "rounds": 1, "hidden": [8]},
}
CONFIGURED = {"min_fairness_ratio": 0.0, "max_auroc_gap": 0.7, "max_copy_rate_excess": 0.0}
STRICT = {**CONFIGURED, "min_fairness_ratio": 1.0, "max_auroc_gap": 0.0}
LOOSER = {**CONFIGURED, "max_auroc_gap": 0.9}

pytestmark = [
    pytest.mark.served,
    pytest.mark.skipif(
        not (port_free(prefect_port()) and port_free(mlflow_port())),
        reason=f"served mode needs free ports {prefect_port()} and {mlflow_port()} on {host()}",
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


class Webhook(BaseHTTPRequestHandler):
    """Stands in for a chat webhook: keeps the body of every POST."""

    received: list[str] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        self.received.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def webhook():
    server = HTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/", Webhook.received
    server.shutdown()


@pytest.fixture(scope="module")
def served(tmp_path_factory, webhook):
    """Served mode on temporary state, notifications on; always stopped again, and stopped means
    stopped."""
    home = tmp_path_factory.mktemp("served")
    keep = ("PREFECT_", "MLFLOW_", "FAIRDISTILL_", "GX_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(keep)}
    env |= {
        "FAIRDISTILL_RUNTIME": str(home / "runtime"),
        "FAIRDISTILL_LAKE": str(home / "lake"),
        "FAIRDISTILL_MLFLOW_ARTIFACTS": str(home / "mlartifacts"),
        "FAIRDISTILL_NOTIFY_WEBHOOK": webhook[0],
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "PREFECT_HOME": str(home / "prefect"),
        "FAIRDISTILL_SERVE_TIMEOUT": "300",  # a loaded 2-core machine
        "PREFECT_WORKER_QUERY_SECONDS": "2",  # pick each run up at once (default: every 10 s)
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
    assert port_free(prefect_port()) and port_free(mlflow_port())


@pytest.fixture(scope="module")
def api():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: f"{prefect_url()}/api"}):
        yield


@pytest.fixture(scope="module")
def gated(served, api):
    """`refresh/loans-gated`: adult-nightly's deployment (entrypoint, pool, pull step, closed
    parameter schema), on the loans table, with its own gate."""
    from prefect.client.orchestration import get_client

    loans = load_spec(ROOT / "tests" / "data" / "loans.yaml").absolute().model_dump(mode="json")
    with get_client(sync_client=True) as client:
        adult = client.read_deployment_by_name("refresh/adult-nightly")
        client.create_deployment(
            flow_id=adult.flow_id,
            name="loans-gated",
            entrypoint=adult.entrypoint,
            path=adult.path,
            work_pool_name=adult.work_pool_name,
            work_queue_name=adult.work_queue_name,
            pull_steps=adult.pull_steps,
            parameter_openapi_schema=adult.parameter_openapi_schema,
            enforce_parameter_schema=True,
            parameters={"dataset": loans, "audit": {"gate": CONFIGURED}},
        )
    return "refresh/loans-gated"


@pytest.fixture(scope="module")
def runs(gated):
    """The four runs, each as (Prefect flow run, MLflow run, aliases, versions registered by then).

    The passing run first, then the others side by side: the rejected and the looser run move
    neither `latest` nor @champion, the looser one trains in a model folder of its own, and the
    cached re-run only reads the first run's folder and re-releases its version."""
    from mlflow import MlflowClient
    from prefect.deployments import run_deployment

    client = MlflowClient(tracking_uri=mlflow_url())
    cases = {
        "passing": (SMALL, CONFIGURED),
        "rejected": (SMALL, STRICT),
        "looser": ({**SMALL, "sampler": {"seed": 1}}, LOOSER),  # another model
        "cached": (SMALL, CONFIGURED),
    }
    out = {}
    for batch in (["passing"], ["rejected", "looser", "cached"]):
        started = {}
        for name in batch:
            settings, gate = cases[name]
            parameters = {**settings, "audit": {"bootstrap_resamples": 0, "gate": gate}}
            started[name] = run_deployment(
                gated, parameters=parameters, flow_run_name=name, timeout=0
            )
        for name, flow_run in started.items():
            flow_run = _finished(flow_run.id)
            out[name] = (flow_run, _ended(client, flow_run.id))
        aliases = dict(client.get_registered_model("fairdistill-loans").aliases)
        versions = client.search_model_versions("name = 'fairdistill-loans'")
        for name in batch:
            out[name] = (*out[name], aliases, versions)
    return out


def _finished(flow_run_id, timeout: float = 300):
    """The flow run once it reached a final state (polled every second)."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while not (flow_run := client.read_flow_run(flow_run_id)).state.is_final():
            assert time.monotonic() < deadline, f"{flow_run.name} still {flow_run.state.name}"
            time.sleep(1)
    return flow_run


def _ended(client, flow_run_id, timeout: float = 30):
    """The flow run's MLflow run once ended: the flow's hook ends it just after the final state."""
    experiment = client.get_experiment_by_name("fairdistill").experiment_id
    deadline = time.monotonic() + timeout
    while True:
        (tracked,) = client.search_runs(
            [experiment], f"tags.`prefect.flow_run_id` = '{flow_run_id}'"
        )
        if tracked.info.status != "RUNNING" or time.monotonic() > deadline:
            return tracked
        time.sleep(0.5)


def _latest(served) -> str | None:
    link = served["home"] / "lake" / "synthetic" / "loans" / "latest"
    return link.resolve().name if link.exists() else None


def test_serve_prints_the_urls_and_twice_starts_no_duplicates(served):
    for url in (f"{prefect_url()}/deployments", mlflow_url()):
        assert url in served["out"]
    assert "notifications on: fairdistill-notify-on-failure" in served["out"]
    pids = {p.name: p.read_text() for p in (served["home"] / "runtime").glob("*.pid")}
    assert set(pids) == {"prefect-server.pid", "mlflow-server.pid", "worker.pid"}

    again = _fairdistill("serve", served["env"], timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("already running") == 3
    assert {p.name: p.read_text() for p in (served["home"] / "runtime").glob("*.pid")} == pids


def test_deployments_carry_the_prefect_yaml_settings_and_a_closed_form(served, api):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import PrefectHTTPStatusError

    with get_client(sync_client=True) as client:
        adult = client.read_deployment_by_name("refresh/adult-nightly")
        compas = client.read_deployment_by_name("refresh/compas-nightly")
    # enforce_parameter_schema: the server refuses the run before any worker sees it
    refused = {
        "generation.rows": {"generation": {"rows": 0}},
        "-5 is less than the minimum of 1": {"teacher": {"hidden": [-5]}},
        "'teachr' was unexpected": {"teachr": {"epochs": 1}},  # an unknown top-level key
    }
    for message, parameters in refused.items():
        with pytest.raises(PrefectHTTPStatusError, match=message):
            run_deployment("refresh/adult-nightly", parameters=parameters)
    assert adult.work_pool_name == compas.work_pool_name == "fairdistill-process"
    assert [s.schedule.cron for s in adult.schedules] == ["0 2 * * *"]
    assert [s.schedule.cron for s in compas.schedules] == ["30 2 * * *"]
    assert adult.schedules[0].schedule.timezone == "UTC"
    assert adult.enforce_parameter_schema and compas.enforce_parameter_schema
    assert adult.parameter_openapi_schema["additionalProperties"] is False
    assert adult.global_concurrency_limit.limit == compas.global_concurrency_limit.limit == 1
    assert compas.parameters["dataset"] == "compas"
    assert "DESIGN" not in json.dumps(adult.parameter_openapi_schema) + adult.description


def test_a_passing_run_completes_publishes_and_crowns_its_model(served, runs):
    flow_run, tracked, aliases, versions = runs["passing"]
    assert flow_run.state.is_completed(), f"{flow_run.state!r}\n{_logs(served['home'] / 'runtime')}"
    assert flow_run.name == "passing"  # the name given when it was triggered
    tags = tracked.data.tags
    assert tracked.info.run_name == "passing" and tracked.info.status == "FINISHED"
    assert tags["fairdistill.gate"] == "passed" and tags["fairdistill.release"] == "champion"
    assert tags["prefect.flow_run_url"] == f"{prefect_url()}/flow-runs/flow-run/{flow_run.id}"
    assert tags["prefect.deployment"] == "refresh/loans-gated"
    assert aliases == {"champion": "1"} and len(versions) == 1


def test_a_rejected_run_fails_with_one_message_and_moves_nothing(served, runs):
    flow_run, tracked, aliases, versions = runs["rejected"]
    assert flow_run.state.is_failed()
    message = flow_run.state.message
    assert message.startswith("the synthetic table of loans failed the audit gate: model_dpr ")
    report = served["home"] / "lake" / "rejected" / "loans"
    assert f"(report: {report}/" in message and "What to try:" in message
    assert "Traceback" not in message
    assert tracked.info.status == "FAILED"
    assert tracked.data.tags["fairdistill.gate"] == "failed"
    assert "fairdistill.gate.failed.model_dpr" in tracked.data.tags
    assert "fairdistill.error" not in tracked.data.tags
    assert aliases["champion"] == "1"
    assert tracked.info.run_id not in {v.run_id for v in versions}  # nothing registered


def test_a_looser_gate_publishes_under_its_run_id_as_a_challenger(served, runs):
    flow_run, tracked, aliases, versions = runs["looser"]
    assert flow_run.state.is_completed()
    assert "looser than the configured one (max_auroc_gap)" in flow_run.state.message
    assert tracked.info.status == "FINISHED"
    assert tracked.data.tags["fairdistill.release"] == "challenger"
    assert aliases == {"champion": "1", "challenger": "2"} and len(versions) == 2
    assert {v.run_id for v in versions if str(v.version) == "2"} == {tracked.info.run_id}
    lake_run = tracked.data.tags["lake_run_id"]
    assert (served["home"] / "lake" / "synthetic" / "loans" / lake_run / "report.html").exists()
    assert _latest(served) != lake_run


def test_a_cached_rerun_adds_no_model_version_and_latest_follows_the_champion(served, runs):
    from mlflow import MlflowClient

    flow_run, tracked, aliases, versions = runs["cached"]
    assert flow_run.state.is_completed()
    assert tracked.data.tags["fairdistill.release"] == "champion"
    assert aliases == {"champion": "1", "challenger": "2"} and len(versions) == 2
    assert tracked.info.run_id not in {v.run_id for v in versions}  # it registered nothing
    client = MlflowClient(tracking_uri=mlflow_url())
    assert client.get_metric_history(tracked.info.run_id, "teacher.recon") == []  # trained nothing
    assert _latest(served) == tracked.data.tags["lake_run_id"]


def test_failures_are_events_and_reach_the_configured_webhook(served, runs, webhook):
    _, received = webhook
    query = {"filter": {"event": {"prefix": ["fairdistill."]}}, "limit": 50}
    request = urllib.request.Request(
        f"{prefect_url()}/api/events/filter",
        data=json.dumps(query).encode(),
        headers={"Content-Type": "application/json"},
    )
    deadline = time.monotonic() + 60  # the server stores events in batches, a moment after
    while True:
        with urllib.request.urlopen(request, timeout=10) as response:
            events = json.loads(response.read())["events"]
        failed = [e for e in events if e["event"] == "fairdistill.gate.failed"]
        if failed or time.monotonic() > deadline:
            break
        time.sleep(1)
    (rejection,) = failed
    assert rejection["resource"]["prefect.resource.id"] == "fairdistill.dataset.loans"
    assert rejection["payload"]["message"] == runs["rejected"][0].state.message
    deadline = time.monotonic() + 60  # the automation acts within seconds
    while not received and time.monotonic() < deadline:
        time.sleep(1)
    (body,) = received
    assert json.loads(body)["text"].startswith(
        "fairdistill.gate.failed · loans: the synthetic table of loans failed the audit gate"
    )


def test_served_runs_draw_no_progress_bars(served, runs):
    worker_log = (served["home"] / "runtime" / "worker.log").read_text(errors="replace")
    assert "train_teacher: " in worker_log  # the flow runs' console output is here
    assert "it/s" not in worker_log  # tqdm's rate: no bar drawn
