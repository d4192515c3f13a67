"""Embedded mode: the local stores and Prefect's temporary API server of one `fairdistill refresh`.

- The stores are created under a lock: two commands started together against a fresh MLflow SQLite
  file or PREFECT_HOME would both run the schema migrations, and one of them would crash.
- The temporary server is the one Prefect's ephemeral mode starts (`SubprocessASGIServer`), started
  here, in the command's main thread, so that the kernel stops it when the command dies, even by
  kill -9 (Linux: PR_SET_PDEATHSIG; elsewhere it is stopped at a normal exit only).

Nothing of this runs when PREFECT_API_URL names a server (served mode, the test harness).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from fairdistill.locks import exclusive

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with(parent: int):
    """A `preexec_fn`: the child gets SIGTERM when the thread that started it ends (the main thread
    here, so: when the process ends), and exits at once if its parent is already gone."""

    def tie() -> None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)

    return tie


def _tied_server_class():
    from prefect.server.api.server import SubprocessASGIServer

    class TiedServer(SubprocessASGIServer):
        """Prefect's temporary server, its process tied to this one. It is the instance Prefect's
        client finds (the class keeps one instance per port, shared with its subclasses)."""

        def _run_uvicorn_command(self) -> subprocess.Popen:
            # Prefect's own command, started with the tie: Popen is wrapped for this one call only.
            popen = subprocess.Popen
            tie = _die_with(os.getpid())
            subprocess.Popen = lambda *args, **kwargs: popen(*args, preexec_fn=tie, **kwargs)
            try:
                return super()._run_uvicorn_command()
            finally:
                subprocess.Popen = popen

    return TiedServer if _LIBC is not None else SubprocessASGIServer


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
    the flow's libraries then, about 8 s of imports beside about 8 s of boot on two cores.
    """
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        create_mlflow_store()
        while_starting()
        yield
        return
    server = _tied_server_class()()
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
