"""Reuse of the training stages: the model folder is the cache, trusted only after a content check.

The model folder is keyed by the dataset fingerprint and the settings that decide the trained parts
(`fairdistill.lake.model_dir`). After writing its parts, each stage records in the folder's
`manifest.json` the sha256 of every part it wrote or was built from, and a digest of the training
code. A later run reuses the stage only when every recorded file still has its hash: a missing,
truncated or edited part means a retrain with a warning, changed code a retrain.

Prefect's own result cache is not used (the stages are `NO_CACHE`): a stored Prefect result names
its own deserializer, so a cloudpickle file planted in the result store runs code when it is read,
and a cached model-folder path would be trusted as it is.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

from prefect import get_run_logger

import models
from fairdistill import audit, codec, dependencies, fair_labels, images, lake, settings
from fairdistill.metrics import utility
from models.bundle import FILES
from tasks.reporting import log_stage

# The training stages in order, and the parts (keys of `models.bundle.FILES`) each one writes.
STAGE_PARTS = {
    "encode": ("codec",),
    "train_teacher": ("teacher_config", "teacher"),
    "distill": ("student_config", "student"),
    "fit_sampler": ("sampler",),
    "calibrate_labels": ("label_model", "labels"),  # no label model for images
}
STALE = (
    "%s: %s in %s changed since it was written (a sha256 differs or the file is gone); retraining"
)


def stage_files(stage: str) -> list[str]:
    """The files a stage writes and every file it is built from (those of the stages before it)."""
    stages = list(STAGE_PARTS)
    upto = stages[: stages.index(stage) + 1]
    return [FILES[part] for name in upto for part in STAGE_PARTS[name]]


@functools.cache
def training_code() -> str:
    """sha256 over the sources that decide the trained parts: `models/`, the codecs (tables and
    images) and the table's dependencies, the settings (the defaults each table resolves, the
    validation rows), the label math, the classifiers it calibrates through and their columns,
    these tasks."""
    here = Path(__file__).parent
    sources = [
        *sorted(Path(models.__file__).parent.glob("*.py")),
        Path(codec.__file__),
        Path(images.__file__),
        Path(dependencies.__file__),
        Path(settings.__file__),
        Path(fair_labels.__file__),
        Path(utility.__file__),
        Path(audit.__file__),
        here / "encode.py",
        here / "train.py",
    ]
    return lake.files_digest(sources)


def checkpoint(model_dir: str, part: str) -> Path:
    """Where a training stage checkpoints ``part`` while it trains, for a run that dies mid-stage.
    Named after the training code: a checkpoint that other code wrote is not resumed, so a stage
    retrained after a code change trains afresh (with one name for every code, it resumed the
    earlier code's finished checkpoint and trained nothing)."""
    return Path(model_dir) / f"{part}.{training_code()[:16]}.ckpt"


def remove_checkpoints(model_dir: str, part: str) -> None:
    """Delete ``part``'s checkpoints, this code's and any older one, once the stage's parts are
    recorded: they serve only a stage that has not finished."""
    for path in Path(model_dir).glob(f"{part}*.ckpt"):
        path.unlink(missing_ok=True)


def reuse(stage: str, model_dir: str) -> bool:
    """True (and the stage's one line) when the stage's parts in `model_dir` all match the hashes
    recorded when they were written; False means train, with a warning if recorded parts changed."""
    started = time.perf_counter()
    stale = lake.stale_parts(Path(model_dir), stage, stage_files(stage), training_code())
    if stale == []:
        log_stage(stage, started, "reused %s (every part matches its recorded sha256)", model_dir)
        return True
    if stale:
        get_run_logger().warning(STALE, stage, ", ".join(stale), model_dir)
    return False


def record(stage: str, model_dir: str) -> None:
    """Record the sha256 of the stage's files in the model folder, once they are written."""
    lake.record_parts(Path(model_dir), stage, stage_files(stage), training_code())
