"""Where torch runs: the device and the number of CPU threads of each stage."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; ``"cpu"`` or ``"cuda"`` as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def stage_threads(stage: str) -> int:
    """Torch intra-op threads for a stage.

    Training small MLPs is fastest on one thread here (`FAIRDISTILL_TORCH_THREADS`, default 1);
    generation makes that many chunks side by side (`FAIRDISTILL_GENERATE_THREADS`, default: all
    cores; `in_order`), and a single large decode (`repair`) uses that many torch threads.
    """
    if stage == "generate":
        return int(os.environ.get("FAIRDISTILL_GENERATE_THREADS", os.cpu_count() or 1))
    return int(os.environ.get("FAIRDISTILL_TORCH_THREADS", "1"))


@contextmanager
def torch_threads(stage: str = "train") -> Iterator[int]:
    """Run a block with the stage's torch threads, then restore the previous count: a stage never
    leaves its thread pool to the next one (the audit's scikit-learn fits slowed down 5-20x behind
    a generation that had left torch on every core)."""
    before = torch.get_num_threads()
    torch.set_num_threads(stage_threads(stage))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


T = TypeVar("T")


def in_order(make: Callable[..., T], items: Iterable[tuple], workers: int) -> Iterator[T]:
    """``make(*item)`` for each item, ``workers`` at a time on threads, yielded in the items' order.

    Each thread runs torch on one core: chunks side by side beat one chunk on every core, because
    most of a chunk's steps are too small to split (Adult, 1M rows on 2 cores: 209k rows/s with two
    chunk threads, 168k with one chunk on two torch threads). torch, numpy, Arrow and Polars release
    the GIL. At most ``workers + 1`` results are held at once, so memory stays bounded.
    """
    with ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        pending = deque()
        try:
            for item in items:
                pending.append(pool.submit(make, *item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # a consumer that stops early: drop the chunks not started
            for future in pending:
                future.cancel()
