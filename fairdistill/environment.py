"""Embedded defaults: everything local, nothing to start by hand, nothing phoned home.

Call `configure_environment()` before importing Prefect, Great Expectations or MLflow. Values already
set in the environment win, so a served deployment can point at its own servers.
"""

from __future__ import annotations

import os
from pathlib import Path

# Prefect's logging config with the calm console (app/logging.yml); a file, not code of this package.
LOGGING_CONFIG = Path(__file__).resolve().parents[1] / "app" / "logging.yml"


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
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_LOGGING_LEVEL": "WARNING",
        "PREFECT_LOGGING_SETTINGS_PATH": str(LOGGING_CONFIG),
        "FAIRDISTILL_MLFLOW_ARTIFACTS": str(home / "mlartifacts"),
        # One thread trained these small MLPs 5-20x faster than two on a 2-core machine.
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
