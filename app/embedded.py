"""Embedded mode: the local stores and Prefect's temporary API server of one `fairdistill refresh`.

- The stores are created under a lock: two commands started together against a fresh MLflow SQLite
  file or PREFECT_HOME would both run the schema migrations, and one of them would crash.
- The temporary server is the one Prefect's ephemeral mode starts (`SubprocessASGIServer`'s command),
  started here by a thread that lives as long as it, so that the kernel stops it when the command
  dies, even by kill -9 (Linux: PR_SET_PDEATHSIG; elsewhere it is stopped at a normal exit only).

Nothing of this runs when PREFECT_API_URL names a server (served mode, the test harness).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from fairdistill.locks import exclusive

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with(parent: int):
    """A `preexec_fn`: the child gets SIGTERM when the thread that started it ends, and exits at
    once if its parent is already gone."""

    def tie() -> None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)

    return tie


# Prefect's ephemeral-mode server, as `prefect.server.api.server.SubprocessASGIServer` starts it
# (its command, environment, ports and port retry). Started from here because importing that class
# imports the server's whole application, about 2 s of the command's start-up that only the server's
# own process needs; and so that the process is tied to this one.
SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}
PORT_TAKEN = 3  # uvicorn's exit code when it cannot start (here: another process took the port)
# Prefect's ports for its temporary server: below the kernel's ephemeral range, from which outgoing
# connections take their local ports (one could take a port chosen there before the server binds it).
SERVER_PORTS = range(8000, 9000)


def free_port() -> int:
    """A port of `SERVER_PORTS` free on the loopback interface now, tried in random order."""
    for port in random.Random().sample(SERVER_PORTS, len(SERVER_PORTS)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(
        f"no free port in {SERVER_PORTS.start}–{SERVER_PORTS.stop - 1} for Prefect's temporary "
        "API server; set PREFECT_API_URL to a running server"
    )


class TemporaryServer:
    """Prefect's temporary API server in a process of its own, tied to this one: it gets SIGTERM
    when the thread that started it ends (Linux), and is stopped by `stop` otherwise."""

    def __init__(self) -> None:
        self.port: int | None = None
        self.process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _launch(self) -> None:
        import prefect
        from prefect.settings import get_current_settings

        self.port = free_port()
        command = [
            *(sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent)),
            *("--factory", "prefect.server.api.server:create_app"),
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *("--log-level", "error", "--lifespan", "on"),
        ]
        settings = get_current_settings().to_environment_variables(exclude_unset=True)
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **SERVER_ENV, **settings},
            preexec_fn=_die_with(os.getpid()) if _LIBC is not None else None,
        )

    def start(self) -> None:
        """Start the process and wait for its health check (Prefect's start-up timeout)."""
        import httpx
        from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

        atexit.register(self.stop)  # where there is no parent-death signal
        self._launch()
        deadline = time.monotonic() + PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
        with httpx.Client() as client:
            while time.monotonic() < deadline:
                code = self.process.poll()
                if code == PORT_TAKEN:
                    self._launch()
                    continue
                if code is not None:
                    raise RuntimeError(f"Prefect's temporary API server exited with code {code}")
                try:
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            "Prefect's temporary API server did not answer in time; raise "
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS or set PREFECT_API_URL to a server"
        )

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def create_mlflow_store() -> None:
    """Create a SQLite MLflow store (tables and migrations) under a lock beside its file."""
    import mlflow

    uri = mlflow.get_tracking_uri()
    if not uri.startswith("sqlite:///"):
        return
    database = Path(uri.removeprefix("sqlite:///")).expanduser().resolve()
    with exclusive(database.with_name(f".{database.name}.lock"), {"pid": os.getpid()}):
        client = mlflow.MlflowClient()
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)


def _start_server(server) -> None:
    # The server creates (migrates) its database as it starts: one start at a time per home.
    from prefect.settings import PREFECT_HOME

    with exclusive(Path(PREFECT_HOME.value()) / "server-start.lock", {"pid": os.getpid()}):
        server.start()


@contextmanager
def _naming(api_url: str) -> Iterator[None]:
    """For the block, this process's settings and environment name the temporary server, so the
    processes a flow starts (Dask workers) and the task context it sends them use it too: without
    it each worker started a temporary server of its own (2 Dask workers on 2 cores then made the
    shards one after another). No UI link is printed: the server is gone when the command ends."""
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = api_url
    try:
        with temporary_settings({PREFECT_API_URL: api_url, PREFECT_UI_URL: ""}):
            yield
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before


@contextmanager
def local_apis(while_starting: Callable[[], object] = lambda: None) -> Iterator[None]:
    """For the block: the MLflow store created, and Prefect's temporary server running (unless an
    API is configured), started under a lock in PREFECT_HOME and stopped at the end.

    The server boots in a thread (its process starts, the thread waits for its health check) while
    this thread creates the MLflow store and runs ``while_starting``: `fairdistill refresh` imports
    the flow's libraries then, about 9 s of imports beside about 6 s of boot on two cores.
    """
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        create_mlflow_store()
        while_starting()
        yield
        return
    server = TemporaryServer()
    # The thread that starts the server lives until the server stops: a parent-death signal
    # follows the thread that created the process, not the process (prctl(2), PR_SET_PDEATHSIG).
    with ThreadPoolExecutor(max_workers=1) as pool:
        boot = pool.submit(_start_server, server)
        create_mlflow_store()
        while_starting()
        boot.result()
        try:
            with _naming(server.api_url):
                yield
        finally:
            # Send what is queued for the API before it stops (as Prefect's own harness does).
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=5)
            EventsWorker.drain_all(timeout=5)
            server.stop()
