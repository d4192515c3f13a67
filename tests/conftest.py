"""Shared fixtures: local, throwaway Prefect/MLflow/lake locations and the Prefect test harness."""

import os
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

# Before Prefect, GX or MLflow are imported anywhere: nothing of a test run lands in the project.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="fairdistill-tests-"))
os.environ["PREFECT_HOME"] = str(_SESSION_HOME / "prefect")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["GX_ANALYTICS_ENABLED"] = "false"
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_SESSION_HOME / 'mlflow.db'}"
os.environ["FAIRDISTILL_MLFLOW_ARTIFACTS"] = str(_SESSION_HOME / "mlartifacts")
os.environ.pop("PREFECT_API_URL", None)
os.environ.setdefault(
    "OMP_NUM_THREADS", "1"
)  # small models and sklearn fits: one thread is fastest here
os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the whole session (starting one takes seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def lake(tmp_path, monkeypatch) -> Path:
    """Each test writes to its own lake."""
    root = tmp_path / "lake"
    monkeypatch.setenv("FAIRDISTILL_LAKE", str(root))
    return root


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def fast_settings():
    """tests/data/fast.yaml, the one fast settings file: a tiny model and a gate every table passes.
    `refresh(dataset=..., **dict(fast_settings))` runs the flow with it."""
    from fairdistill.settings import load_settings

    return load_settings(DATA / "fast.yaml")


@pytest.fixture(scope="session")
def image_folder():
    """`image_folder(folder, labels, sizes=None)`: a folder of PNG files (6×5 RGB unless `sizes`
    says otherwise) and a CSV naming each file with its label and colour; returns its spec."""
    return make_image_folder


def make_image_folder(folder: Path, labels: list, sizes: list | None = None):
    """A folder of PNG files and a CSV naming each file with its label and colour."""
    from fairdistill.spec import parse_spec

    sizes = sizes or [(6, 5)] * len(labels)
    names = []
    for i, (height, width) in enumerate(sizes):
        pixels = np.full((height, width, 3), 10 * i % 256, np.uint8)
        names.append(f"img/{i:03d}.png")
        (folder / "img").mkdir(exist_ok=True)
        Image.fromarray(pixels).save(folder / names[-1])
    colours = np.array(["red", "green", "blue"])[np.arange(len(labels)) % 3]
    pl.DataFrame({"file": names, "label": labels, "colour": colours}).write_csv(
        folder / "images.csv"
    )
    spec = {
        "name": "tiny-images",
        "source": str(folder / "images.csv"),
        "target": "label",
        "positive_label": "1",
        "sensitive": [{"column": "colour", "privileged": "red"}],
        "image": ["file"],
        "image_format": {"height": 6, "width": 5},
        "min_rows": 10,
        "min_group_rows": 1,
    }
    return parse_spec(spec, "test")
