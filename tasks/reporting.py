"""How tasks report: one log line per stage with its duration, the losses of each training round to MLflow and DEBUG."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

from prefect import get_run_logger
from prefect.runtime import flow_run
from prefect.settings import PREFECT_UI_URL

from fairdistill import tracking


def log_stage(
    stage: str, started: float, detail: str, *args, tracking_run_id: str | None = None
) -> None:
    """The stage's one line, ``<stage>: <detail> (<seconds> s)``; with a tracking run, its
    duration and the process's peak RSS so far go to MLflow (`<stage>.seconds`,
    `<stage>.peak_rss_mb`)."""
    seconds = time.perf_counter() - started
    get_run_logger().info(f"{stage}: {detail} (%.1f s)", *args, seconds)
    if tracking_run_id is not None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        tracking.log_metrics(
            tracking_run_id, {f"{stage}.seconds": seconds, f"{stage}.peak_rss_mb": rss}
        )


def report_round(stage: str, tracking_run_id: str) -> Callable[[dict], None]:
    """Each training round's losses to MLflow (`<stage>.<loss>`, step = round) and to DEBUG."""
    to_mlflow, logger = tracking.round_logger(tracking_run_id, stage), get_run_logger()

    def on_round(losses: dict) -> None:
        to_mlflow(losses)
        terms = ", ".join(f"{k}={v:.4g}" for k, v in losses.items() if k != "round")
        logger.debug("%s round %d: %s", stage, losses["round"], terms)

    return on_round


def prefect_ui_url() -> str | None:
    """The flow run's page in the Prefect UI when a Prefect server is known (PREFECT_UI_URL, or
    derived from PREFECT_API_URL), else None: an embedded run's temporary server is gone when it
    ends."""
    return flow_run.ui_url if PREFECT_UI_URL.value() and flow_run.id else None
