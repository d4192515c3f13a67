"""Where the refresh's tasks run: threads in this process, or a Dask cluster (prefect-dask).

`FAIRDISTILL_DASK` chooses, so the same flow runs anywhere without a code change:

- unset or empty: in this process, one task at a time (the default; nothing to install);
- `local`: a Dask LocalCluster on this machine, `FAIRDISTILL_DASK_WORKERS` worker processes
  (default: one per core) of one thread each; its dashboard at http://127.0.0.1:8787/status;
- an address such as `tcp://scheduler:8786`: an existing Dask cluster.

Generation shards (`GenerationSettings.shard_rows`) run side by side on the cluster's workers.
"""

from __future__ import annotations

import os

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner


def local_worker_env() -> dict[str, str]:
    """The environment of a LocalCluster's worker processes: one thread each (torch, OpenMP,
    Polars), since the workers share the cores.

    And glibc's mmap threshold at its ceiling (32 MiB), put in Dask's config of what a nanny sets
    before it spawns a worker (glibc reads it as the process starts; a nanny's ``env`` comes after).
    Why: Dask's nanny sets MALLOC_TRIM_THRESHOLD_ (to hand freed memory back to the OS), which also
    freezes that threshold at 128 KiB; each chunk's tensors were then mapped and zeroed anew, and a
    worker generated at half speed (Adult, 250,000 rows: 75k against 150k rows/s). Trimming stays
    on."""
    import dask

    dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": 32 * 2**20})
    return {"FAIRDISTILL_GENERATE_THREADS": "1", "OMP_NUM_THREADS": "1", "POLARS_MAX_THREADS": "1"}


def task_runner() -> TaskRunner:
    where = os.environ.get("FAIRDISTILL_DASK", "").strip()
    if not where:
        return ThreadPoolTaskRunner(max_workers=1)
    from prefect_dask import DaskTaskRunner

    if where == "local":
        workers = int(os.environ.get("FAIRDISTILL_DASK_WORKERS", os.cpu_count() or 1))
        return DaskTaskRunner(
            cluster_kwargs={
                "n_workers": workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": "127.0.0.1:8787",
                "env": local_worker_env(),
            }
        )
    return DaskTaskRunner(address=where)
