"""The training machinery shared by the teacher and the student loops.

Training is a budget of optimizer steps (`TrainingSettings.steps`), the same for a table of a thousand
rows or a million, split into ``rounds``. Batches come from a seeded stream of shuffles of the
training rows (a CPU ``torch.Generator``). After each round: a validation pass on a seeded split
(at most `VALIDATION_ROWS` of its rows), early-stopping bookkeeping, an atomic checkpoint (model,
optimizer, round, generator and stream state, best weights, history) and the ``on_round`` callback,
in that order, so a run interrupted anywhere resumes from its last checkpoint and ends with the same
weights as a run that was never interrupted.
Checkpoints hold tensors and plain containers only and load with ``weights_only=True``.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from fairdistill.lake import atomic_write
from fairdistill.settings import VALIDATION_ROWS, TrainingSettings

LossFn = Callable[[tuple[Tensor, ...], torch.Generator, int], dict[str, Tensor]]
CHECKPOINT_MISMATCH = (
    "checkpoint {path} was written for another configuration ({saved}) than this run ({current}); "
    "delete it or pass another `checkpoint_path`"
)
CHECKPOINT_UNREADABLE = "checkpoint {path} cannot be read ({error}); training from the start"
CHECKPOINT_KEYS = {"model", "optimizer", "generator", "best", "state", "config"}


def save_state(state, path: Path) -> Path:
    """`torch.save` of tensors and plain containers, atomically and byte-reproducibly: saved through
    a buffer, the archive inside is not named after the (random) temporary file, so the same
    weights always give the same bytes and the same sha256 (`fairdistill.lake.record_parts`)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return atomic_write(Path(path), lambda tmp: tmp.write_bytes(buffer.getvalue()))


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """A seeded (train, validation) split of ``range(n)``; validation gets ``⌈n·val_fraction⌉``
    rows."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = min(n - 1, math.ceil(n * val_fraction)) if val_fraction > 0 else 0
    return perm[n_val:], perm[:n_val]


def gaussian_noise(like: Tensor, generator: torch.Generator) -> Tensor:
    """Standard normal noise shaped like ``like``, drawn on the CPU generator
    (device-independent)."""
    return torch.randn(like.shape, generator=generator, dtype=like.dtype).to(like.device)


def sub_batch(rows: int, *tensors: Tensor) -> tuple[Tensor, ...]:
    """The first ``rows`` rows of each tensor (all of them when ``rows`` is 0 or at least the
    batch): batches are drawn from a shuffle, so these are a random sub-batch."""
    return tensors if rows <= 0 else tuple(t[:rows] for t in tensors)


# Rows per forward pass when an encoder sees a whole table: one pass over a million rows holds
# every hidden activation at once (about half a gigabyte per layer).
ENCODE_ROWS = 65_536


@torch.no_grad()
def posteriors(encoder: nn.Module, x: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
    """The encoder's ``(μ, log σ²)`` of every row, `ENCODE_ROWS` rows at a time."""
    parts = [
        encoder(x[i : i + ENCODE_ROWS], s[i : i + ENCODE_ROWS])
        for i in range(0, len(x), ENCODE_ROWS)
    ]
    return torch.cat([mu for mu, _ in parts]), torch.cat([logvar for _, logvar in parts])


def _mean_logs(logs: list[dict[str, Tensor]]) -> dict[str, float]:
    return {k: float(sum(float(d[k]) for d in logs) / len(logs)) for k in logs[0]}


def next_batch(
    state: dict, train_idx: Tensor, batch_size: int, generator: torch.Generator
) -> Tensor:
    """The next ``batch_size`` training rows of the seeded shuffle stream; a new shuffle starts when
    the current one has fewer rows left than a batch."""
    if state["cursor"] + batch_size > len(state["order"]):
        state["order"] = train_idx[torch.randperm(len(train_idx), generator=generator)]
        state["cursor"] = 0
    rows = state["order"][state["cursor"] : state["cursor"] + batch_size]
    state["cursor"] += batch_size
    return rows


def train_round(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    data: tuple[Tensor, ...],
    train_idx: Tensor,
    config: TrainingSettings,
    generator: torch.Generator,
    state: dict,
) -> dict[str, float]:
    """One round of ``⌈steps / rounds⌉`` optimizer steps; returns the mean of each loss term."""
    model.train()
    batch_size = min(config.batch_size, len(train_idx))
    logs = []
    for _ in range(math.ceil(config.steps / config.rounds)):
        rows = next_batch(state, train_idx, batch_size, generator).to(data[0].device)
        terms = loss_fn(tuple(t[rows] for t in data), generator, state["round"])
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        optimizer.step()
        logs.append({k: v.detach() for k, v in terms.items()})
    return _mean_logs(logs)


@torch.no_grad()
def validate(
    model: nn.Module,
    loss_fn: LossFn,
    data: tuple[Tensor, ...],
    idx: Tensor,
    batch_size: int,
    seed: int,
) -> float:
    """Mean total loss on ``data[idx]`` (in batches, fixed noise seed: comparable across rounds)."""
    if len(idx) == 0:
        return float("nan")
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    logs = [
        loss_fn(tuple(t[idx[i : i + batch_size].to(t.device)] for t in data), generator, -1)
        for i in range(0, len(idx), batch_size)
    ]
    return _mean_logs(logs)["total"]


def show_progress() -> bool:
    """A progress bar only on an interactive terminal: never in a log file or a worker's log."""
    return sys.stderr.isatty()


def _clone_state(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def fit_loop(
    model: nn.Module,
    loss_fn: LossFn,
    data: tuple[Tensor, ...],
    config: TrainingSettings,
    *,
    on_round: Callable[[dict], None] | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    desc: str = "train",
) -> list[dict[str, float]]:
    """Train ``model`` with Adam for ``config.steps`` steps in ``config.rounds`` rounds, with early
    stopping on the validation loss (at most `VALIDATION_ROWS` of the held-out rows) and a
    checkpoint after each round.

    ``config`` must be resolved for the table (`TrainingSettings.for_table`). The best weights
    (lowest validation total) are restored at the end. Returns the history: one dict per round with
    the mean train loss terms, ``val_total`` and ``round``.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    train_idx, val_idx = split_indices(len(data[0]), config.val_fraction, config.seed)
    val_idx = val_idx[:VALIDATION_ROWS]  # a random subset: the split is a seeded permutation
    state = {
        "round": 0,
        "best_val": math.inf,
        "bad_rounds": 0,
        "history": [],
        "done": False,
        "order": train_idx[:0],
        "cursor": 0,
    }
    best = _clone_state(model)
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    saved = _read_checkpoint(path) if path is not None and path.exists() else None
    if saved is not None:
        best = _restore(saved, path, model, optimizer, generator, state, config.result_settings())
    bar = tqdm(total=config.rounds, initial=state["round"], desc=desc, disable=not show_progress())
    while state["round"] < config.rounds and not state["done"]:
        logs = train_round(model, optimizer, loss_fn, data, train_idx, config, generator, state)
        logs["val_total"] = validate(
            model, loss_fn, data, val_idx, config.batch_size, config.seed + 1
        )
        logs["round"] = state["round"]
        best = _early_stopping(model, state, logs, best, config.patience)
        state["round"] += 1
        state["history"].append(logs)
        if path is not None:
            checkpoint = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "best": best,
                "state": state,
                "config": config.result_settings(),
            }
            save_state(checkpoint, path)
        if on_round is not None:
            on_round(dict(logs))
        bar.update(1)
        bar.set_postfix(total=f"{logs['total']:.3f}", val=f"{logs['val_total']:.3f}")
    bar.close()
    model.load_state_dict(best)
    model.eval()
    return list(state["history"])


def _early_stopping(model: nn.Module, state: dict, logs: dict, best: dict, patience: int) -> dict:
    val = logs["val_total"]
    if math.isnan(val) or val < state["best_val"]:
        state["best_val"] = val if not math.isnan(val) else state["best_val"]
        state["bad_rounds"] = 0
        return _clone_state(model)
    state["bad_rounds"] += 1
    state["done"] = state["bad_rounds"] >= patience
    return best


def _read_checkpoint(path: Path) -> dict | None:
    """A checkpoint's content, or None (with a warning) when it is truncated or not a checkpoint:
    a damaged file costs a retrain, never a crash on every re-run."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as error:
        warnings.warn(CHECKPOINT_UNREADABLE.format(path=path, error=error), stacklevel=3)
        return None
    if not isinstance(saved, dict) or not CHECKPOINT_KEYS <= saved.keys():
        warnings.warn(
            CHECKPOINT_UNREADABLE.format(path=path, error="not a checkpoint"), stacklevel=3
        )
        return None
    return saved


def _restore(
    saved: dict,
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    state: dict,
    config: dict,
) -> dict:
    if saved["config"] != config:
        raise ValueError(
            CHECKPOINT_MISMATCH.format(path=path, saved=saved["config"], current=config)
        )
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    generator.set_state(saved["generator"])
    state.update(saved["state"])
    device = next(model.parameters()).device
    return {k: v.to(device) for k, v in saved["best"].items()}
