"""Where the refresh's tasks run (`flows.task_runner`)."""

import sys
from pathlib import Path

import pytest

from flows.task_runner import local_worker_env


def _environment_at_start() -> str:
    # What the process was started with: later changes to os.environ do not show here.
    return Path("/proc/self/environ").read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/environ")
def test_local_workers_start_with_the_mmap_threshold_and_run_one_thread_each():
    """glibc reads MALLOC_MMAP_THRESHOLD_ as a process starts: a worker must be spawned with it
    (a nanny's ``env`` is applied after the spawn, too late)."""
    from distributed import Client, LocalCluster

    env = local_worker_env()
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, env=env, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        started_with = client.submit(_environment_at_start).result()
        threads = client.submit(lambda: __import__("os").environ["OMP_NUM_THREADS"]).result()
    assert f"MALLOC_MMAP_THRESHOLD_={32 * 2**20}" in started_with.split("\0")
    assert threads == "1"
