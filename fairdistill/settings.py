"""Embedded defaults: everything local, nothing to start by hand, nothing phoned home.

Call `configure_environment()` before importing Prefect, Great Expectations or MLflow. Values already
set in the environment win, so a served deployment can point at its own servers.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path


def configure_environment(home: Path | None = None) -> Path:
    """Set the local defaults under `home` (default: the current directory) and return it."""
    home = (home or Path.cwd()).resolve()
    defaults = {
        "PREFECT_HOME": str(home / ".prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "GX_ANALYTICS_ENABLED": "false",
        "FAIRDISTILL_LAKE": str(home / "lake"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PREFECT_LOGGING_SETTINGS_PATH": str(Path(__file__).with_name("logging.yml")),
        "FAIRDISTILL_MLFLOW_ARTIFACTS": str(home / "mlartifacts"),
        # One thread trained these small MLPs 5-20x faster than two on a 2-core machine (DESIGN §4).
        "OMP_NUM_THREADS": "1",
        "FAIRDISTILL_TORCH_THREADS": "1",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    # Cached stage results live beside the trained parts they point to: deleting the lake drops both,
    # so a later run retrains instead of trusting a cache entry whose model folder is gone.
    os.environ.setdefault(
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH", str(Path(os.environ["FAIRDISTILL_LAKE"]) / "cache")
    )
    return home


def configure_torch_threads(stage: str = "train") -> int:
    """Set torch's intra-op threads for a stage and return them.

    Training small MLPs is fastest on one thread here (`FAIRDISTILL_TORCH_THREADS`, default 1);
    generation runs large batched passes that use every core (`FAIRDISTILL_GENERATE_THREADS`,
    default: all cores; 142k vs 87k rows/s on 2 cores).
    """
    import torch

    if stage == "generate":
        threads = int(os.environ.get("FAIRDISTILL_GENERATE_THREADS", os.cpu_count() or 1))
    else:
        threads = int(os.environ.get("FAIRDISTILL_TORCH_THREADS", "1"))
    torch.set_num_threads(threads)
    return threads


class UserErrorsWithoutTraceback(logging.Filter):
    """Console filter: a user-fixable error (bad input, failed gate) is logged without its
    traceback; the one-line message names the input and the fix (fairdistill/logging.yml)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from fairdistill.errors import FairdistillError

        if record.exc_info and isinstance(record.exc_info[1], FairdistillError):
            record.exc_info, record.exc_text = None, None
        return True
