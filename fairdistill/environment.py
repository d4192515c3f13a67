"""Embedded defaults: everything local, nothing to start by hand, nothing phoned home.

Call `configure_environment()` before importing Prefect, Great Expectations or MLflow. Values already
set in the environment win, so a served deployment can point at its own servers. And the process's
own housekeeping: `release_free_memory` between the refresh's stages.
"""

from __future__ import annotations

import ctypes
import os
import tempfile
from pathlib import Path

from fairdistill.errors import LOCATION_NOT_WRITABLE, LOCATION_PARENT_MISSING, LocationError

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
        # No task reads Prefect's result store: a stored result names its own deserializer (a
        # planted cloudpickle file would run code). Trained stages are reused from the model folder
        # instead, after a check of their content hashes (tasks/caching.py).
        "PREFECT_TASKS_DEFAULT_NO_CACHE": "true",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    return home


def _writable(name: str, folder: Path, *, create_parents: bool) -> None:
    """`folder` exists or can be created, and a file can be written in it; else `LocationError`."""
    if not create_parents and not folder.exists() and not folder.parent.is_dir():
        raise LocationError(
            LOCATION_PARENT_MISSING.format(name=name, path=folder, parent=folder.parent)
        )
    try:
        folder.mkdir(parents=create_parents, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise LocationError(
            LOCATION_NOT_WRITABLE.format(name=name, path=folder, reason=reason)
        ) from None


def check_locations() -> None:
    """Refuse, in milliseconds, folders a refresh could not write: the lake (created if missing),
    PREFECT_HOME and the folder of a SQLite MLflow store (their parent must exist). Otherwise the
    first write fails deep inside a run, or Prefect's temporary server never starts (a 90 s wait)."""
    from fairdistill.lake import lake_root

    name = "FAIRDISTILL_WORK" if "://" in os.environ["FAIRDISTILL_LAKE"] else "FAIRDISTILL_LAKE"
    _writable(name, lake_root(), create_parents=True)
    _writable("PREFECT_HOME", Path(os.environ["PREFECT_HOME"]).expanduser(), create_parents=False)
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///")).expanduser()
        _writable("MLFLOW_TRACKING_URI", database.parent, create_parents=False)


def release_free_memory() -> None:
    """Hand the free pages of the C heap back to the OS (glibc's ``malloc_trim``; nothing elsewhere).

    glibc keeps what training and generation free in the arenas of the threads that freed it, for
    reuse; the audit, the refresh's peak, then starts above that (Adult: the audit peaked at
    1.49 GB after training in the same process, 1.30 GB with the 120 MB handed back first)."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None) if os.name == "posix" else None
    if trim is not None:  # glibc only (not musl, not macOS)
        trim(0)
