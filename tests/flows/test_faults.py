"""Refreshes that are killed, run side by side, or find planted files: `fairdistill refresh` in
child processes, on the loans table with tiny settings.

Children are forked from a preloaded multiprocessing forkserver, so each starts in milliseconds
instead of re-importing Prefect, torch and MLflow; each runs the command's `main` as a user would
and writes its console to a log file. Kills are SIGKILL (kill -9): no handler, no cleanup runs.
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

from app.cli import EXIT_OK, main
from fairdistill import lake as lake_module

pytestmark = pytest.mark.slow

SERVER_APP = b"prefect.server.api.server:create_app"
# Runs in a forked child: its environment, its console into a log file, then the command itself.
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
from app.cli import main
code = main(ARGV)
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
"""
# Each stage's one line starts with its name; a kill after a stage's line lands in the next one.
STAGES = (
    "recover",
    "ingest",
    "validate",
    "encode",
    "train_teacher",
    "distill",
    "fit_sampler",
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
def settings_file(data_dir, tmp_path_factory) -> Path:
    """tests/data/fast.yaml without bootstrap intervals (the audit's slowest part)."""
    path = tmp_path_factory.mktemp("settings") / "faults.yaml"
    text = (data_dir / "fast.yaml").read_text()
    path.write_text(text.replace("bootstrap_resamples: 20", "bootstrap_resamples: 0"))
    return path


class Home:
    """A folder with its own lake, MLflow store and PREFECT_HOME, as a user's project folder."""

    def __init__(self, folder: Path, api_url: str | None = None):
        self.folder, self.api_url, self.started = folder, api_url, None
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
        }
        return env | ({"PREFECT_API_URL": self.api_url} if self.api_url else {})

    def published(self) -> pl.DataFrame:
        return pl.read_parquet(self.lake / "synthetic" / "loans" / "latest" / "synthetic.parquet")


def start(forkserver, home: Home, args: list[str], log: Path):
    names = {
        "ENV": home.env(),
        "DROP": [] if home.api_url else ["PREFECT_API_URL"],
        "LOG": str(log),
        "HOME": str(home.folder),
        "ARGV": ["refresh", *args],
    }
    process = forkserver.Process(target=exec, args=(CHILD, names))
    process.start()
    return process


def wait_for(log: Path, text: str, process, timeout: float = 240) -> None:
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


@pytest.fixture(scope="module")
def side_by_side(forkserver, data_dir, settings_file, tmp_path_factory):
    """Two refreshes of loans started together in a fresh folder: no MLflow store, no Prefect
    database yet, each command with its own temporary server."""
    home = Home(tmp_path_factory.mktemp("side-by-side"))
    args = ["--spec", str(data_dir / "loans.yaml"), "--config", str(settings_file)]
    logs = [home.folder / f"{name}.log" for name in ("first", "second")]
    processes = [start(forkserver, home, args, log) for log in logs]
    for process in processes:
        process.join(timeout=600)
    return home, [p.exitcode for p in processes], [log.read_text() for log in logs]


def test_two_refreshes_of_one_dataset_at_once_both_succeed(side_by_side):
    home, codes, logs = side_by_side
    assert codes == [EXIT_OK, EXIT_OK], "\n".join(logs)
    # One trained; the other came after it (it waited for the dataset's lock if it got there
    # first) and reused the trained stages: they never trained side by side in one folder.
    trained = [
        log for log in logs if "train_teacher:" in log and "train_teacher: reused" not in log
    ]
    reused = [log for log in logs if "train_teacher: reused" in log]
    assert len(trained) == len(reused) == 1
    assert "waiting for it to finish" not in trained[0]
    tables = sorted(lake_module_runs(home.lake))
    assert len(tables) == 2 and pl.read_parquet(tables[0]).equals(pl.read_parquet(tables[1]))
    assert gone(home.prefect_home), "a temporary server outlived its command"


def lake_module_runs(lake: Path) -> list[Path]:
    """The published tables of loans (not `latest`, a link to one of them)."""
    runs = (lake / "synthetic" / "loans").glob("*/synthetic.parquet")
    return [path for path in runs if path.parent.name != "latest"]


def test_kill_9_of_a_refresh_stops_its_temporary_server(forkserver, side_by_side, data_dir):
    home = side_by_side[0]
    log = home.folder / "killed.log"
    process = start(forkserver, home, ["--spec", str(data_dir / "loans.yaml")], log)
    wait_for(log, "recover:", process)
    assert len(servers_of(home.prefect_home)) == 1
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    assert gone(home.prefect_home), "the temporary server outlived its killed command"


@pytest.fixture(scope="module")
def killed_at_each_stage(forkserver, prefect_harness, data_dir, settings_file, tmp_path_factory):
    """One refresh killed after each stage's line (so inside the next stage), each one the re-run
    of the one before, then a re-run that finishes. On the session's Prefect API."""
    from prefect.settings import PREFECT_API_URL

    home = Home(tmp_path_factory.mktemp("killed"), api_url=PREFECT_API_URL.value())
    home.started = datetime.now(UTC)
    args = ["--spec", str(data_dir / "loans.yaml"), "--config", str(settings_file)]
    for stage in STAGES:
        log = home.folder / f"killed-after-{stage}.log"
        process = start(forkserver, home, args, log)
        wait_for(log, f"{stage}:", process)
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    log = home.folder / "rerun.log"
    process = start(forkserver, home, args, log)
    process.join(timeout=600)
    return home, process.exitcode, log.read_text()


def test_a_refresh_killed_at_each_stage_reruns_to_the_same_table(
    killed_at_each_stage, side_by_side
):
    home, code, log = killed_at_each_stage
    assert code == EXIT_OK, log
    assert home.published().equals(side_by_side[0].published())  # as if never interrupted
    assert re.search(r"recover: [1-9]\d* run\(s\) marked Crashed", log)  # the last one killed
    assert not list((home.lake / "staging" / "loans").iterdir())
    assert not list(home.lake.rglob(f".*{lake_module.TEMP_SUFFIX}"))


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


class Planted:
    """Unpickling this creates a marker file: the proof that a planted pickle ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickles_planted_in_the_lake_never_run(
    killed_at_each_stage, side_by_side, data_dir, settings_file, monkeypatch, caplog
):
    """Prefect result files (as the old cache held them: a record naming its own serializer), model
    parts and checkpoints are replaced by pickles that run code when loaded; a re-run retrains
    what it cannot verify, runs none of them, and gives the same table."""
    home = killed_at_each_stage[0]
    marker = home.folder / "planted-code-ran"
    payload = pickle.dumps(Planted(marker))
    record = {
        "metadata": {"serializer": {"type": "pickle", "picklelib": "cloudpickle"}},
        "result": base64.b64encode(payload).decode(),
    }
    from prefect.settings import get_current_settings

    # Where the old cache lived, and Prefect's result storage of this (in-process) run.
    storage = Path(get_current_settings().results.local_storage_path)
    for folder in (home.lake / "cache", storage):
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(3):
            (folder / f"{index:032x}").write_text(json.dumps(record))
    models = next((home.lake / "models" / "loans").iterdir())
    for name in ("teacher.pt", "student.pt", "teacher.ckpt", "student.ckpt", "sampler.json"):
        (models / name).write_bytes(payload)

    monkeypatch.setenv("FAIRDISTILL_LAKE", str(home.lake))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", home.mlflow)
    args = ["refresh", "--spec", str(data_dir / "loans.yaml"), "--config", str(settings_file)]
    with caplog.at_level("WARNING"):
        assert main(args) == EXIT_OK
    assert not marker.exists(), "a planted pickle ran"
    assert "train_teacher: teacher.pt in" in caplog.text and "retraining" in caplog.text
    assert home.published().equals(side_by_side[0].published())


def test_a_registered_model_whose_files_changed_is_not_loaded(side_by_side, monkeypatch, capsys):
    """Loading a model runs its code artifact: an edited pyfunc.py must never run."""
    from fairdistill import tracking

    home = side_by_side[0]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", home.mlflow)
    uri = "models:/fairdistill-loans@champion"
    assert tracking.load_bundle(uri).codec.target == "approved"  # as registered: loads
    marker = home.folder / "edited-code-ran"
    stored = list((home.folder / "mlartifacts" / "models").glob("*/artifacts/pyfunc.py"))
    assert len(stored) == 2  # the code artifact of each registered version
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
