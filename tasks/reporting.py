"""How tasks report: one log line per stage with its duration, epoch losses to MLflow and DEBUG."""

from __future__ import annotations

import time
from collections.abc import Callable

from prefect import get_run_logger
from prefect.runtime import flow_run
from prefect.settings import PREFECT_UI_URL

from fairdistill import tracking


def log_stage(started: float, message: str, *args) -> None:
    """The stage's one line: ``<message> (<seconds> s)``."""
    seconds = time.perf_counter() - started
    get_run_logger().info(message + " (%.1f s)", *args, seconds)


def report_epoch(stage: str, tracking_run_id: str) -> Callable[[dict], None]:
    """Per-epoch losses to MLflow (`<stage>.<loss>`, step = epoch) and to the DEBUG log."""
    to_mlflow, logger = tracking.epoch_logger(tracking_run_id, stage), get_run_logger()

    def on_epoch(losses: dict) -> None:
        to_mlflow(losses)
        terms = ", ".join(f"{k}={v:.4g}" for k, v in losses.items() if k != "epoch")
        logger.debug("%s epoch %d: %s", stage, losses["epoch"], terms)

    return on_epoch


def prefect_ui_url() -> str | None:
    """The flow run's page in the Prefect UI when a Prefect server is known (PREFECT_UI_URL, or
    derived from PREFECT_API_URL), else None: an embedded run's temporary server is gone when it
    ends."""
    return flow_run.ui_url if PREFECT_UI_URL.value() and flow_run.id else None
