from pathlib import Path

from prefect import get_run_logger, task

from fairdistill.lake import publish


@task(name="publish")
def publish_synthetic_table(dataset: str, run_id: str, table_path: str) -> str:
    """Move the run's staging folder to `synthetic/<dataset>/<run_id>/` and point `latest` at it."""
    folder = publish(Path(table_path).parent, "synthetic", dataset, run_id)
    get_run_logger().info("published %s", folder)
    return str(folder / Path(table_path).name)
