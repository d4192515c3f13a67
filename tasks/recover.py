"""Recover what a refresh of the same dataset left when its process died (kill -9, out of memory, a
power cut): nothing of it may stay Running, half-written or disagreeing.

It runs first in every refresh, while the refresh holds the dataset's lock (`fairdistill.lake.
dataset_lock`), so no other refresh of the dataset is past its start: whatever a dead one left is
garbage, and the lock file names the flow run that died holding it.
"""

import time

from prefect import get_client, task
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    TaskRunFilter,
    TaskRunFilterState,
    TaskRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound
from prefect.states import Crashed

from fairdistill import lake, tracking
from tasks.reporting import log_stage

DIED = "its process died while it held the lock of {dataset} (found by the next refresh)"
UNFINISHED = [StateType.RUNNING, StateType.PENDING, StateType.SCHEDULED]


def mark_crashed(flow_run_id: str, message: str) -> int:
    """Set a dead flow run, and its unfinished task runs, Crashed; returns how many runs changed
    (0 when the run is unknown to this Prefect API, or already final)."""
    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(flow_run_id)
        except ObjectNotFound:
            return 0
        if run.state is None or run.state.is_final():
            return 0
        unfinished = TaskRunFilterState(type=TaskRunFilterStateType(any_=UNFINISHED))
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])),
            task_run_filter=TaskRunFilter(state=unfinished),
        )
        for task_run in task_runs:
            client.set_task_run_state(task_run.id, Crashed(message=message), force=True)
        client.set_flow_run_state(run.id, Crashed(message=message), force=True)
    return 1 + len(task_runs)


def align_champion(dataset: str) -> str | None:
    """Point `champion` at the model of the table `latest` points at, if a crash inside publish left
    them apart (`latest` moves first). Returns the model URI moved to, or None."""
    published = lake.published_run(dataset) or {}
    model = published.get("model")
    if not model or tracking.champion(dataset) == model:
        return None
    tracking.set_champion(model)
    return model


@task(name="recover")
def recover(dataset: str, abandoned: dict | None) -> None:
    """Mark the flow run that died holding the lock Crashed, collect staging folders and temporary
    files of dead runs, and re-align `champion` with `latest`."""
    started = time.perf_counter()
    died = (abandoned or {}).get("flow_run_id")
    crashed = mark_crashed(died, DIED.format(dataset=dataset)) if died else 0
    removed = lake.collect_garbage(dataset)
    moved = align_champion(dataset)
    log_stage(
        "recover",
        started,
        "%d run(s) marked Crashed, %d leftover(s) removed, champion %s",
        crashed,
        len(removed),
        f"moved to {moved}" if moved else "agrees with latest",
    )
