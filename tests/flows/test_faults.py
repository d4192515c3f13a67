"""Commands that are killed, run side by side, or find planted files: `fairdistill refresh` in child
processes, on the loans table with tiny settings.

Children are forked from a preloaded multiprocessing forkserver, so each starts in milliseconds
instead of re-importing Prefect, torch and MLflow; each runs the command's code as a user would and
writes its console to a log file. Kills are SIGKILL (kill -9): no handler, no cleanup runs. The
refreshes run on the session's Prefect API; the test of Prefect's temporary server starts its own.
"""

import base64
import json
import multiprocessing
import os
import pickle
import re
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from app.cli import main
from fairdistill import lake as lake_module
from fairdistill.settings import load_settings

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

SERVER_APP = b"prefect.server.api.server:create_app"
FAST_GATE = load_settings(
    Path(__file__).parents[1] / "data" / "fast.yaml"
).audit.gate.model_dump_json()
# Runs in a forked child: its environment, its console into a log file, then `CODE`.
CHILD = """
import os, sys
os.environ.update(ENV)
for name in DROP:
    os.environ.pop(name, None)
log = os.open(LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.dup2(log, 1)
os.dup2(log, 2)
os.chdir(HOME)
from fairdistill.environment import configure_environment
configure_environment()  # what `main` does first, before Prefect reads its settings
import prefect.context
prefect.context.refresh_global_settings_context()  # Prefect was imported by the forkserver
exec(CODE)
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
"""
REFRESH = "from app.cli import main\nsys.stdout.flush()\nos._exit(main(ARGV))\n"
# What the command does before its flow: the stores, and Prefect's temporary server; then it waits.
# Inside, it prints the API its settings name and the one a process it starts sees (a Dask worker).
LOCAL_APIS = (
    "import subprocess, time\nfrom app.embedded import local_apis\n"
    "from prefect.settings import PREFECT_API_URL\n"
    "with local_apis():\n"
    "    child = subprocess.run([sys.executable, '-c', "
    "'import os; print(os.environ.get(\"PREFECT_API_URL\"))'], capture_output=True, text=True)\n"
    "    print('api', PREFECT_API_URL.value(), 'child', child.stdout.strip(), flush=True)\n"
    "    print('apis up', flush=True)\n    time.sleep(600)\n"
)
# Each stage's one line starts with its name; a kill after a stage's line lands in the next one.
STAGES = (
    "recover",
    "ingest",
    "validate",
    "encode",
    "train_teacher",
    "distill",
    "fit_sampler",
    "calibrate_labels",
    "register_model",
    "generate",
    "audit",
)


@pytest.fixture(scope="module")
def forkserver():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["app.cli", "app.embedded", "flows.refresh"])
    return context


@pytest.fixture(scope="module")
def api_url(prefect_harness) -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


@pytest.fixture(scope="module")
def refresh_args(data_dir, tmp_path_factory) -> list[str]:
    """loans with tests/data/fast.yaml, without bootstrap intervals (the audit's slowest part)."""
    path = tmp_path_factory.mktemp("settings") / "faults.yaml"
    text = (data_dir / "fast.yaml").read_text()
    path.write_text(text.replace("bootstrap_resamples: 20", "bootstrap_resamples: 0"))
    return ["refresh", "--spec", str(data_dir / "loans.yaml"), "--config", str(path)]


class Home:
    """A fresh folder with its own lake, MLflow store and PREFECT_HOME, as a user's project."""

    def __init__(self, folder: Path, api_url: str | None = None):
        self.folder, self.api_url, self.started = folder, api_url, datetime.now(UTC)
        self.prefect_home = folder / ".prefect"
        self.lake = folder / "lake"
        self.mlflow = f"sqlite:///{folder / 'mlflow.db'}"

    def env(self) -> dict[str, str]:
        env = {
            "PREFECT_HOME": str(self.prefect_home),
            "FAIRDISTILL_LAKE": str(self.lake),
            "MLFLOW_TRACKING_URI": self.mlflow,
            "FAIRDISTILL_MLFLOW_ARTIFACTS": str(self.folder / "mlartifacts"),
            "FAIRDISTILL_GENERATE_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            # fast.yaml's open gate is this project's configured gate: passing runs are champions
            "FAIRDISTILL_CONFIGURED_GATE": FAST_GATE,
        }
        return env | ({"PREFECT_API_URL": self.api_url} if self.api_url else {})

    def start(self, forkserver, name: str, code: str, argv: list[str] = ()):
        """A child running `code`, its console in `<name>.log`; returns (process, log)."""
        log = self.folder / f"{name}.log"
        names = {
            "ENV": self.env(),
            "DROP": [] if self.api_url else ["PREFECT_API_URL"],
            "LOG": str(log),
            "HOME": str(self.folder),
            "CODE": code,
            "ARGV": list(argv),
        }
        process = forkserver.Process(target=exec, args=(CHILD, names))
        process.start()
        return process, log

    def published(self) -> pl.DataFrame:
        return pl.read_parquet(self.lake / "synthetic" / "loans" / "latest" / "synthetic.parquet")


def wait_for(log: Path, text: str, process, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if process.exitcode is not None:
            raise AssertionError(f"exited {process.exitcode} before {text!r}:\n{log.read_text()}")
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} within {timeout} s:\n{log.read_text()}")


def servers_of(prefect_home: Path) -> list[int]:
    """Live Prefect temporary servers started with this PREFECT_HOME."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if SERVER_APP not in (proc / "cmdline").read_bytes():
                continue
            environ = (proc / "environ").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if f"PREFECT_HOME={prefect_home}".encode() in environ and state != "Z":
            found.append(int(proc.name))
    return found


def gone(prefect_home: Path, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while servers_of(prefect_home) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not servers_of(prefect_home)


def test_two_commands_start_together_in_a_fresh_folder_and_kill_9_leaves_no_server(
    forkserver, tmp_path
):
    """Both create the MLflow store and Prefect's database at once and start their temporary
    servers; killed, neither leaves its server behind."""
    home = Home(tmp_path)
    children = [home.start(forkserver, f"apis-{i}", LOCAL_APIS) for i in range(2)]
    try:
        for process, log in children:
            wait_for(log, "apis up", process)
        assert len(servers_of(home.prefect_home)) == 2
        # each names its own server to the processes it starts, as Dask workers need
        named = [
            re.search(r"api (\S+) child (\S+)", log.read_text()).groups() for _, log in children
        ]
        assert all(api == child and api.startswith("http://127.0.0.1:") for api, child in named)
        assert named[0][0] != named[1][0]
    finally:  # killed whatever happened: a failed check must not leave them sleeping
        for process, _ in children:
            os.kill(process.pid, signal.SIGKILL)
            process.join()
    assert gone(home.prefect_home), "a temporary server outlived its killed command"


def published_runs(lake: Path) -> list[Path]:
    """The published tables of loans (not `latest`, a link to one of them)."""
    runs = (lake / "synthetic" / "loans").glob("*/synthetic.parquet")
    return [path for path in runs if path.parent.name != "latest"]


@pytest.fixture(scope="module")
def side_by_side(forkserver, api_url, refresh_args, tmp_path_factory):
    """Two refreshes of loans started together in a fresh folder (no MLflow store yet)."""
    home = Home(tmp_path_factory.mktemp("side-by-side"), api_url)
    children = [home.start(forkserver, name, REFRESH, refresh_args) for name in ("a", "b")]
    for process, _ in children:
        process.join(timeout=600)
    return home, [p.exitcode for p, _ in children], [log.read_text() for _, log in children]


def test_two_refreshes_of_one_dataset_at_once_both_succeed(side_by_side):
    home, codes, logs = side_by_side
    assert codes == [0, 0], "\n".join(logs)
    # One trained; the other waited for the dataset's lock, then reused the trained stages: they
    # never trained side by side in one folder.
    trained = [
        log for log in logs if "train_teacher:" in log and "train_teacher: reused" not in log
    ]
    reused = [log for log in logs if "train_teacher: reused" in log]
    assert len(trained) == len(reused) == 1
    assert "another refresh of loans holds" in reused[0] and "waiting for it" in reused[0]
    tables = sorted(published_runs(home.lake))
    assert len(tables) == 2 and pl.read_parquet(tables[0]).equals(pl.read_parquet(tables[1]))


class Planted:
    """Unpickling this creates a marker file: the proof that a planted pickle ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def plant_pickles(home: Home) -> Path:
    """Prefect result files (as the old cache held them: a record naming its own serializer), model
    parts and checkpoints replaced by pickles that run code when loaded; returns their marker."""
    from tasks.caching import checkpoint

    marker = home.folder / "planted-code-ran"
    payload = pickle.dumps(Planted(marker))
    record = {
        "metadata": {"serializer": {"type": "pickle", "picklelib": "cloudpickle"}},
        "result": base64.b64encode(payload).decode(),
    }
    for folder in (home.lake / "cache", home.prefect_home / "storage"):
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(3):
            (folder / f"{index:032x}").write_text(json.dumps(record))
    models = next((home.lake / "models" / "loans").iterdir())
    checkpoints = (checkpoint(str(models), part).name for part in ("teacher", "student"))
    parts = ("teacher.pt", "student.pt", *checkpoints, "sampler.json")
    for name in (*parts, "labels.json"):
        (models / name).write_bytes(payload)
    return marker


@pytest.fixture(scope="module")
def killed_at_each_stage(forkserver, api_url, refresh_args, tmp_path_factory):
    """A refresh killed after each stage's line (so inside the next stage), each the re-run of the
    one before; then pickles planted in the lake, and a re-run that finishes."""
    home = Home(tmp_path_factory.mktemp("killed"), api_url)
    for stage in STAGES:
        process, log = home.start(forkserver, f"killed-after-{stage}", REFRESH, refresh_args)
        wait_for(log, f"{stage}:", process)
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    marker = plant_pickles(home)
    process, log = home.start(forkserver, "rerun", REFRESH, refresh_args)
    process.join(timeout=600)
    return home, process.exitcode, log.read_text(), marker


def test_a_refresh_killed_at_each_stage_reruns_to_the_same_table(
    killed_at_each_stage, side_by_side
):
    home, code, log, _ = killed_at_each_stage
    assert code == 0, log
    assert home.published().equals(side_by_side[0].published())  # as if never interrupted
    assert re.search(r"recover: [1-9]\d* run\(s\) marked Crashed", log)  # the last one killed
    assert not list((home.lake / "staging" / "loans").iterdir())
    assert not list(home.lake.rglob(f".*{lake_module.TEMP_SUFFIX}"))


def test_pickles_planted_in_the_lake_never_run(killed_at_each_stage):
    """The re-run retrained the parts it could not verify and ran none of the planted pickles."""
    _, code, log, marker = killed_at_each_stage
    assert code == 0 and not marker.exists(), "a planted pickle ran"
    assert "train_teacher: teacher.pt in" in log and "retraining" in log


def test_no_killed_run_is_left_running(killed_at_each_stage):
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
        TaskRunFilter,
        TaskRunFilterStartTime,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    since = killed_at_each_stage[0].started

    def flow_runs(*states):
        state = FlowRunFilterState(type=FlowRunFilterStateType(any_=list(states)))
        since_start = FlowRunFilterStartTime(after_=since)
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(state=state, start_time=since_start)
        )

    unfinished = [StateType.RUNNING, StateType.PENDING]
    with get_client(sync_client=True) as client:
        running, crashed = flow_runs(*unfinished), flow_runs(StateType.CRASHED)
        state = TaskRunFilterState(type=TaskRunFilterStateType(any_=unfinished))
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(
                state=state, start_time=TaskRunFilterStartTime(after_=since)
            )
        )
    assert running == [] and tasks == []
    assert len(crashed) == len(STAGES)  # each killed refresh, marked by the next one


def test_latest_and_champion_agree_after_the_kills(killed_at_each_stage, monkeypatch):
    from fairdistill import tracking

    home = killed_at_each_stage[0]
    monkeypatch.setenv("FAIRDISTILL_LAKE", str(home.lake))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", home.mlflow)
    assert tracking.champion("loans") == lake_module.published_run("loans")["model"]


def test_a_registered_model_whose_files_changed_is_not_loaded(side_by_side, monkeypatch, capsys):
    """Loading a model runs its code artifact: an edited pyfunc.py must never run."""
    from fairdistill import tracking

    home = side_by_side[0]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", home.mlflow)
    uri = "models:/fairdistill-loans@champion"
    assert tracking.load_bundle(uri).codec.target == "approved"  # as registered: loads
    marker = home.folder / "edited-code-ran"
    stored = list((home.folder / "mlartifacts" / "models").glob("*/artifacts/pyfunc.py"))
    # one registered version: the second refresh reused the trained model, and its version
    assert len(stored) == 1
    for code in stored:
        code.write_text(
            code.read_text() + f"\nfrom pathlib import Path\nPath({str(marker)!r}).touch()\n"
        )
    args = ["generate", "--model", uri, "--rows", "5", "--out", str(home.folder / "x.parquet")]
    assert main(args) == 2
    assert "refusing to load models:/fairdistill-loans@champion: its files differ" in (
        capsys.readouterr().err
    )
    assert not marker.exists()
