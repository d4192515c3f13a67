"""Where torch runs: the device and the number of CPU threads of each stage."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; ``"cpu"`` or ``"cuda"`` as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def stage_threads(stage: str) -> int:
    """Torch intra-op threads for a stage.

    Training small MLPs is fastest on one thread here (`FAIRDISTILL_TORCH_THREADS`, default 1);
    generation runs large batched passes that use every core (`FAIRDISTILL_GENERATE_THREADS`,
    default: all cores; 142k vs 87k rows/s on 2 cores).
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
