"""One end-to-end image refresh on a tiny Colored-MNIST subset: the same flow, the image codec and
networks, PNG bytes in the lake, sharded generation, the image audit and report, the registered
model making images, and a re-run that reuses the trained convolutional networks."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from fairdistill.images import pixel_array
from fairdistill.settings import GenerationSettings
from fairdistill.spec import load_builtin
from flows.refresh import refresh

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_colored_mnist(tmp_path_factory):
    """300 training and 150 holdout images of the built-in Colored-MNIST, as a user's own files."""
    folder = tmp_path_factory.mktemp("colored-mnist")
    spec = load_builtin("colored-mnist")
    pl.read_parquet(spec.source_location()).head(300).write_parquet(folder / "train.parquet")
    pl.read_parquet(spec.holdout_location()).head(150).write_parquet(folder / "holdout.parquet")
    split = spec.split.model_copy(update={"holdout": str(folder / "holdout.parquet")})
    update = {"name": "tiny-colored-mnist", "source": str(folder / "train.parquet")}
    return spec.model_copy(update={**update, "split": split, "min_rows": 100, "min_group_rows": 5})


@pytest.fixture(scope="module")
def fast(fast_settings):
    """The fast settings, generating 1,200 images in two shards (1,000 and 200)."""
    generation = fast_settings.generation.model_copy(update={"rows": 1_200, "shard_rows": 1_000})
    return dict(fast_settings.model_copy(update={"generation": generation}))


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    return tmp_path_factory.mktemp("lake")


@pytest.fixture(scope="module")
def result(tiny_colored_mnist, fast, lake):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAIRDISTILL_LAKE", str(lake))
        return refresh(dataset=tiny_colored_mnist, **fast)


def test_image_refresh_publishes_png_images_with_label_and_colour(result, lake):
    from mlflow import MlflowClient

    table = pl.read_parquet(result.synthetic_table)
    assert table.columns == ["image", "label", "colour"] and table.height == 1_200
    assert table.schema["image"] == pl.Binary
    assert pixel_array(table["image"], (3, 14, 14)).shape == (1_200, 3, 14, 14)
    assert pl.read_parquet(result.raw_train).schema["image"] == pl.Binary
    assert Path(result.raw_train).parent == lake / "raw" / "tiny-colored-mnist" / result.run_id
    metrics = MlflowClient().get_run(result.mlflow_run_id).data.metrics
    assert {"generate.shard_0.rows_per_second", "generate.shard_1.rows_per_second"} <= set(metrics)


def test_image_audit_and_report_are_published_beside_the_images(result):
    folder = Path(result.synthetic_table).parent
    audit = json.loads((folder / "audit.json").read_text())
    metrics = audit["metrics"]
    for prefix in ("tstr", "trtr"):
        assert 0.0 <= metrics[f"{prefix}.cnn.accuracy"] <= 1.0
        assert {f"{prefix}.cnn.group_accuracy.{c}" for c in ("red", "green", "blue")} <= set(
            metrics
        )
    assert {"fidelity.frechet_distance", "privacy.near_copy_rate", "latent.leakage_auroc"} <= set(
        metrics
    )
    assert [check["name"] for check in audit["gate"]] == [
        "model_dpr",
        "tstr_auroc",
        "exact_copy_rate",
    ]
    page = (folder / "report.html").read_text()
    assert "Counterfactual rows: one z in every group" in page
    assert page.count("data:image/png;base64,") == 5  # real, synthetic, counterfactuals, 2 plots


def test_registered_model_generates_images_on_request(result):
    import mlflow

    from fairdistill.tracking import load_bundle

    twins = next(
        load_bundle(result.model_uri).generate(6, GenerationSettings(mode="counterfactual"))
    )
    assert twins["colour"].to_list() == ["blue", "green", "red"] * 2  # hash-checked, then loaded

    model = mlflow.pyfunc.load_model(result.model_uri)
    rows = model.predict(
        pd.DataFrame({"rows": [20], "seed": [1]}), params={"mode": "counterfactual"}
    )
    assert len(rows) == 20 and set(rows.columns) == {"image", "label", "colour"}
    images = pixel_array(pl.Series(rows["image"].tolist(), dtype=pl.Binary), (3, 14, 14))
    assert images.shape == (20, 3, 14, 14) and np.ptp(images) > 0


def test_rerun_reuses_the_trained_networks_and_the_registered_version(
    result, tiny_colored_mnist, fast, lake, monkeypatch
):
    from mlflow import MlflowClient

    monkeypatch.setenv("FAIRDISTILL_LAKE", str(lake))
    again = refresh(dataset=tiny_colored_mnist, **fast)
    assert again.run_id != result.run_id
    assert pl.read_parquet(again.synthetic_table).equals(pl.read_parquet(result.synthetic_table))
    assert MlflowClient().get_metric_history(again.mlflow_run_id, "teacher.recon") == []
    assert again.model_uri == result.model_uri
