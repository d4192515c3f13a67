"""Served mode: Prefect server, MLflow server, deployments and a worker, on 127.0.0.1 by default.

`start()` launches each process in its own session, with a PID file and a log in the runtime folder
(`FAIRDISTILL_RUNTIME`, default `./.runtime`), waits until it answers, and leaves it running; `stop()`
ends them, worker first. Starting twice starts no duplicates: a live PID file means "already running".
Locations (PREFECT_HOME, the MLflow SQLite file and artifact folder, the lake) come from the environment
as `fairdistill.environment.configure_environment()` sets it, so a test can point everything elsewhere;
so do the address and ports (`FAIRDISTILL_HOST`, `FAIRDISTILL_PREFECT_PORT`, `FAIRDISTILL_MLFLOW_PORT`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from app.notify import apply_notifications
from fairdistill.errors import FairdistillError

DEFAULT_HOST, DEFAULT_PREFECT_PORT, DEFAULT_MLFLOW_PORT = "127.0.0.1", 4200, 5000
POOL = "fairdistill-process"
WORKER = "fairdistill-worker"
ROOT = Path(__file__).resolve().parents[1]  # the checkout the deployments run from
PREFECT_FILE = ROOT / "deployments" / "prefect.yaml"
STOP_ORDER = ("worker", "mlflow-server", "prefect-server")

PORT_TAKEN = (
    "port {port} on {host} is already in use by a program that `fairdistill serve` did not start "
    "(no live PID in {pid_file}); stop that program (`ss -ltnp 'sport = :{port}'` shows it) or "
    "choose another port ({variable}), and run `fairdistill serve` again"
)
BAD_PORT = "{variable}={value!r} is not a port; give a number from 1 to 65535"
NOT_READY = (
    "{name} did not become ready within {timeout:.0f} s ({probe}); see {log}:\n{tail}\n"
    "on a slow machine raise FAIRDISTILL_SERVE_TIMEOUT (seconds) and run `fairdistill serve` again"
)
STEP_FAILED = "`{command}` failed ({problem}); see {log}:\n{tail}"
ORPHANED = "its worker stopped while it was in progress (fairdistill stop); trigger it again"


class ServeError(FairdistillError):
    """Served mode could not start: a port is taken, a process is not ready in time, a step failed."""


def host() -> str:
    """The address both servers listen on (`FAIRDISTILL_HOST`, default loopback only)."""
    return os.environ.get("FAIRDISTILL_HOST", DEFAULT_HOST)


def _port(variable: str, default: int) -> int:
    value = os.environ.get(variable, str(default))
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ServeError(BAD_PORT.format(variable=variable, value=value))
    return int(value)


def prefect_port() -> int:
    return _port("FAIRDISTILL_PREFECT_PORT", DEFAULT_PREFECT_PORT)


def mlflow_port() -> int:
    return _port("FAIRDISTILL_MLFLOW_PORT", DEFAULT_MLFLOW_PORT)


def prefect_url() -> str:
    return f"http://{host()}:{prefect_port()}"


def mlflow_url() -> str:
    return f"http://{host()}:{mlflow_port()}"


def servers() -> dict[str, tuple[int, str]]:
    """Each server's port and the variable that sets it."""
    return {
        "prefect-server": (prefect_port(), "FAIRDISTILL_PREFECT_PORT"),
        "mlflow-server": (mlflow_port(), "FAIRDISTILL_MLFLOW_PORT"),
    }


def runtime_dir() -> Path:
    return Path(os.environ.get("FAIRDISTILL_RUNTIME", ".runtime")).expanduser().resolve()


def _timeout() -> float:
    return float(os.environ.get("FAIRDISTILL_SERVE_TIMEOUT", "180"))


def _env(**extra: str) -> dict[str, str]:
    """The configured environment, minus client settings, plus `extra`; nothing phones home."""
    clients = ("PREFECT_API_URL", "MLFLOW_TRACKING_URI")
    env = {k: v for k, v in os.environ.items() if k not in clients}
    quiet = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    return {**env, **quiet, **extra}


def _client_env() -> dict[str, str]:
    """What the deploy commands and the worker (hence every flow run) see: the served APIs."""
    api = {"PREFECT_API_URL": f"{prefect_url()}/api", "MLFLOW_TRACKING_URI": mlflow_url()}
    return _env(**api, FAIRDISTILL_ROOT=str(ROOT))


def _commands() -> dict[str, list[str]]:
    """The long-running processes. MLflow: the SQLite file of embedded mode, new experiments' artifacts
    in the same local folder (so runs logged in either mode read in both), no job execution."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    backend = uri if uri.startswith("sqlite:") else f"sqlite:///{Path('mlflow.db').resolve()}"
    artifacts = Path(os.environ.get("FAIRDISTILL_MLFLOW_ARTIFACTS", "mlartifacts")).resolve()
    python = [sys.executable, "-m"]
    return {
        "prefect-server": [*python, "prefect", "server", "start", "--host", host(),
                           "--port", str(prefect_port()), "--analytics-off"],
        "mlflow-server": [*python, "mlflow", "server", "--host", host(), "--port", str(mlflow_port()),
                          "--workers", "1", "--backend-store-uri", backend,
                          "--default-artifact-root", artifacts.as_uri(), "--no-serve-artifacts"],
        "worker": [*python, "prefect", "worker", "start", "--pool", POOL, "--name", WORKER,
                   "--type", "process"],
    }  # fmt: skip


# --- processes: PID files, liveness, ports ---------------------------------------------------------


def _pid_file(name: str) -> Path:
    return runtime_dir() / f"{name}.pid"


def _log_file(name: str) -> Path:
    return runtime_dir() / f"{name}.log"


def _stat(pid: int | str) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name: [state, ppid, pgid, …]; [] if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _alive(pid: int) -> bool:
    """True for a running process (a zombie waiting for its parent is not)."""
    return _stat(pid)[:1] not in ([], ["Z"])


def running_pid(name: str) -> int | None:
    """The PID in `<name>.pid` if that process is alive and still runs our command, else None."""
    try:
        pid = int(_pid_file(name).read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) and " ".join(_commands()[name][1:4]) in cmdline else None


def port_free(port: int, address: str | None = None) -> bool:
    """True if nothing listens on (or holds) `address:port` (default: the served host)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address or host(), port))
        except OSError:
            return False
    return True


def _tail(name: str, lines: int = 15) -> str:
    try:
        return "\n".join(_log_file(name).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _open_log(name: str, command: list[str]):
    runtime_dir().mkdir(parents=True, exist_ok=True)
    log = _log_file(name).open("ab")
    log.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(command)}\n".encode())
    log.flush()
    return log


def _launch(name: str, env: dict[str, str]) -> int:
    """Start process `name` in its own session, output to `<name>.log`; record and return its PID."""
    command = _commands()[name]
    with _open_log(name, command) as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    _pid_file(name).write_text(f"{process.pid}\n")
    return process.pid


def _run_step(command: list[str], env: dict[str, str]) -> None:
    """Run a setup command to completion (at most the serve timeout), output added to `deploy.log`."""
    with _open_log("deploy", command) as log:
        try:
            code = subprocess.run(
                command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, timeout=_timeout(), check=False,
            ).returncode  # fmt: skip
            problem = f"exit status {code}"
        except subprocess.TimeoutExpired:
            code, problem = None, f"still running after {_timeout():.0f} s, killed"
    if code != 0:
        shown, log = " ".join(command[2:]), _log_file("deploy")
        tail = _tail("deploy")
        raise ServeError(STEP_FAILED.format(command=shown, problem=problem, log=log, tail=tail))


# --- the APIs: readiness, runs left behind ---------------------------------------------------------


def _request(
    url: str, payload: dict | None = None, method: str | None = None, timeout: float = 5
) -> tuple[bytes | None, str]:
    """``(body, "")`` of a 2xx answer (a POST when `payload` is given, unless `method` says
    otherwise), or ``(None, what went wrong)`` when nothing answers so within `timeout` seconds."""
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read(), ""
    except urllib.error.HTTPError as refused:
        return None, f"HTTP {refused.code}: {refused.read()[:300].decode(errors='replace')}"
    except (urllib.error.URLError, OSError) as failed:
        return None, str(failed)


def _http(
    url: str, payload: dict | None = None, method: str | None = None, timeout: float = 5
) -> bytes | None:
    """The body of a 2xx answer (`_request`), or None."""
    return _request(url, payload, method, timeout)[0]


def prefect_healthy() -> bool:
    return _http(f"{prefect_url()}/api/health") == b"true"


def mlflow_healthy() -> bool:
    return _http(f"{mlflow_url()}/health") == b"OK"


def worker_polling(since: float = 0.0) -> bool:
    """True once a worker named WORKER has sent the pool a heartbeat at or after `since` (epoch s)."""
    body = _http(f"{prefect_url()}/api/work_pools/{POOL}/workers/filter", {})
    beats = [w["last_heartbeat_time"] for w in json.loads(body or "[]") if w["name"] == WORKER]
    return any(beat and datetime.fromisoformat(beat).timestamp() >= since for beat in beats)


def crash_unfinished_runs() -> int:
    """Mark the pool's pending or running flow runs Crashed, once no worker runs them any more.

    That frees their deployment's concurrency slot (limit 1), which the next refresh would otherwise
    wait for forever. Returns how many runs were marked.
    """
    unfinished = {"type": {"any_": ["PENDING", "RUNNING", "CANCELLING"]}}
    query = {"flow_runs": {"state": unfinished}, "work_pools": {"name": {"any_": [POOL]}}}
    runs = json.loads(_http(f"{prefect_url()}/api/flow_runs/filter", query) or "[]")
    crashed = {"state": {"type": "CRASHED", "name": "Crashed", "message": ORPHANED}}
    for run in runs:
        _http(f"{prefect_url()}/api/flow_runs/{run['id']}/set_state", crashed)
    return len(runs)


def _wait(name: str, pid: int, ready: Callable[[], bool], probe: str) -> None:
    """Poll `ready` every second until true; fail after the timeout, or at once if `pid` exits."""
    start, timeout = time.monotonic(), _timeout()
    while not ready():
        if not _alive(pid) or time.monotonic() - start > timeout:
            log, tail = _log_file(name), _tail(name)
            message = NOT_READY.format(name=name, timeout=timeout, probe=probe, log=log, tail=tail)
            raise ServeError(message)
        time.sleep(1)


# --- start and stop --------------------------------------------------------------------------------


def _start_servers(say: Callable[[str], None]) -> None:
    """Both servers boot together (a cold start is mostly imports), then each is waited for."""
    for name, (port, variable) in servers().items():
        if running_pid(name) is None and not port_free(port):
            pid_file = _pid_file(name)
            message = PORT_TAKEN.format(
                port=port, host=host(), pid_file=pid_file, variable=variable
            )
            raise ServeError(message)
    begin, started = time.monotonic(), {}
    for name in servers():
        if (pid := running_pid(name)) is not None:
            say(f"{name} already running (pid {pid})")
        else:
            env = _env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false") if "mlflow" in name else _env()
            started[name] = _launch(name, env)
    probes = {"prefect-server": (prefect_healthy, f"{prefect_url()}/api/health"),
              "mlflow-server": (mlflow_healthy, f"{mlflow_url()}/health")}  # fmt: skip
    for name, pid in started.items():
        ready, url = probes[name]
        _wait(name, pid, ready, f"GET {url}")
        say(f"{name} ready (pid {pid}) after {time.monotonic() - begin:.1f} s")


def _deploy(say: Callable[[str], None]) -> None:
    """Create the process work pool if missing, apply deployments/prefect.yaml (idempotent), then
    close the deployments' parameter forms."""
    env, prefect = _client_env(), [sys.executable, "-m", "prefect"]
    if _http(f"{prefect_url()}/api/work_pools/{POOL}") is None:
        _run_step([*prefect, "work-pool", "create", POOL, "--type", "process"], env)
    _run_step(
        [*prefect, "--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_FILE)], env
    )
    closed = close_parameter_schemas()
    say(
        f"work pool {POOL} and the {closed} deployments in {PREFECT_FILE.relative_to(ROOT)} applied"
    )


# Tries of each deployment's schema update (`close_parameter_schemas`).
PATCH_ATTEMPTS = 5


def close_parameter_schemas() -> int:
    """Make each refresh deployment refuse unknown top-level parameters; returns how many.

    Prefect derives a deployment's parameter schema from the flow's signature, which leaves the top
    level open: with `enforce_parameter_schema` an unknown section (a typo such as `teachr`) would
    pass the server and crash the run in the worker. `additionalProperties: false` makes the server
    refuse it when the run is created, as it already refuses unknown keys inside each section."""
    query, wait = {"flows": {"name": {"any_": ["refresh"]}}}, _timeout()
    found = _http(f"{prefect_url()}/api/deployments/filter", query, timeout=wait)
    deployments = json.loads(found or "[]")
    for deployment in deployments:
        schema = {**deployment["parameter_openapi_schema"], "additionalProperties": False}
        url = f"{prefect_url()}/api/deployments/{deployment['id']}"
        # The server may still be writing the deployments just applied (SQLite: one writer at a
        # time), so a refused update is tried again for a few seconds before it counts.
        for attempt in range(PATCH_ATTEMPTS):
            body, error = _request(url, {"parameter_openapi_schema": schema}, "PATCH", wait)
            if body is not None:
                break
            time.sleep(attempt + 1)
        else:
            raise ServeError(f"could not close the parameter schema of {url} ({error})")
    return len(deployments)


def _start_worker(say: Callable[[str], None]) -> None:
    """The worker starts last, so that a run it picks up at once can log to MLflow."""
    if (pid := running_pid("worker")) is not None:
        say(f"worker already running (pid {pid})")
        return
    if count := crash_unfinished_runs():
        say(f"marked {count} run(s) left unfinished by an earlier worker as Crashed")
    begin, since = time.monotonic(), time.time() - 1
    pid = _launch("worker", _client_env())
    _wait("worker", pid, lambda: worker_polling(since), f"a heartbeat of {WORKER} in {POOL}")
    say(f"worker ready (pid {pid}) after {time.monotonic() - begin:.1f} s")


def start(say: Callable[[str], None] = print) -> None:
    """Start the servers, apply the deployments, start a worker, print the URLs.

    On failure, the processes this call started are stopped again; ones already running stay.
    """
    before = {name: running_pid(name) for name in STOP_ORDER}
    try:
        _start_servers(say)
        _deploy(say)
        apply_notifications(f"{prefect_url()}/api", say)
        _start_worker(say)
    except ServeError:
        for name in STOP_ORDER:
            if (pid := running_pid(name)) is not None and pid != before[name]:
                _terminate(pid)
                _pid_file(name).unlink(missing_ok=True)
        raise
    say(f"\nPrefect UI   {prefect_url()}/deployments  (API {prefect_url()}/api)")
    say(f"MLflow UI    {mlflow_url()}")
    say(f"PIDs, logs   {runtime_dir()}/")
    say("stop with    fairdistill stop  (or make stop)")


def _group_alive(pgid: int) -> bool:
    """True while a process of the group runs (zombies waiting for their reaper do not count)."""
    try:
        os.waitpid(pgid, os.WNOHANG)  # reap the leader if it is our own child
    except ChildProcessError:
        pass
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat(stat.parent.name)
        if fields[2:3] == [str(pgid)] and fields[0] != "Z":
            return True
    return False


def _terminate(pid: int, grace: float = 30.0) -> None:
    """SIGTERM the process group that `pid` leads; SIGKILL it if still there after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while _group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        if not _group_alive(pid):
            return


def stop(say: Callable[[str], None] = print) -> None:
    """Stop the worker, then the MLflow server, then the Prefect server; remove their PID files.

    A refresh in progress ends with the worker; its run is marked Crashed before the server stops.
    """
    for name in STOP_ORDER:
        if (pid := running_pid(name)) is None:
            say(f"{name} not running")
        else:
            _terminate(pid)
            say(f"{name} stopped (pid {pid})")
        _pid_file(name).unlink(missing_ok=True)
        if name == "worker" and prefect_healthy() and (count := crash_unfinished_runs()):
            say(f"marked {count} unfinished run(s) Crashed")
