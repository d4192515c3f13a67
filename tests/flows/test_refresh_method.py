"""End to end: a small Adult subset through the whole refresh, then the registered model reloaded."""

from pathlib import Path

import polars as pl
import pytest

from fairdistill.cli import main
from fairdistill.errors import GateFailed
from fairdistill.spec import BUILTIN_DIR, load_builtin
from fairdistill.tracking import load_bundle
from flows.params import (
    AuditConfig,
    DistillConfig,
    GateThresholds,
    GenerationConfig,
    SamplerConfig,
    TrainConfig,
)
from flows.refresh import refresh

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]

FAST = {
    "teacher": TrainConfig(epochs=2, hidden=[32, 32], latent_dim=4, progress=False),
    "student": DistillConfig(epochs=2, hidden=[8], progress=False),
    "sampler": SamplerConfig(n_components=3),
    "generation": GenerationConfig(rows=1_500, chunk_size=400),
    "audit": AuditConfig(
        bootstrap_resamples=20,
        gate=GateThresholds(min_model_dpr=0.0, max_auroc_drop=1.0, max_exact_copy_rate=1.0),
    ),
}


@pytest.fixture(scope="module")
def adult_subset(tmp_path_factory):
    """3,000 training rows of Adult with the shipped holdout: the spec, pointed at a smaller file."""
    folder = tmp_path_factory.mktemp("adult")
    spec = load_builtin("adult")
    pl.read_parquet(spec.source_location()).sample(3_000, seed=0).write_parquet(
        folder / "train.parquet"
    )
    return spec.model_copy(update={"source": str(folder / "train.parquet")})


@pytest.fixture(scope="module")
def result(adult_subset, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAIRDISTILL_LAKE", str(tmp_path_factory.mktemp("lake")))
        yield refresh(dataset=adult_subset, **FAST)


def test_refresh_writes_a_synthetic_table_in_the_source_schema(result, adult_subset):
    table = pl.read_parquet(result.synthetic_table)
    real = pl.read_parquet(result.raw_train)
    assert table.height == 1_500
    assert table.schema == real.schema
    assert set(table["income"].unique()) <= {">50K", "<=50K"}
    assert set(table["sex"].unique()) == {"Male", "Female"}
    assert table.join(real, on=real.columns, how="semi", nulls_equal=True).height == 0


def test_published_table_is_reachable_through_latest(result):
    folder = Path(result.synthetic_table).parent
    assert (folder.parent / "latest").resolve() == folder.resolve()


def test_registered_model_reloads_and_generates_without_retraining(result, tmp_path):
    model = load_bundle(result.model_uri)
    rows = pl.concat(list(model.generate(50, seed=3)))
    again = pl.concat(list(load_bundle(result.model_uri).generate(50, seed=3)))
    assert rows.height == 50 and rows.equals(again)

    out = tmp_path / "more.parquet"
    assert main(["generate", "--model", result.model_uri, "--rows", "120", "--out", str(out)]) == 0
    assert pl.read_parquet(out).height == 120


def test_model_version_that_passed_is_champion(result):
    from mlflow import MlflowClient

    name, version = result.model_uri.split("/")[-2:]
    # runs before the re-run test below, which registers (and crowns) the next version
    assert str(MlflowClient().get_model_version_by_alias(name, "champion").version) == version


def test_losses_are_tracked_per_epoch(result):
    from mlflow import MlflowClient

    client = MlflowClient()
    history = client.get_metric_history(result.mlflow_run_id, "teacher.recon")
    assert [m.step for m in history] == [0, 1]
    assert client.get_metric_history(result.mlflow_run_id, "student.kl")
    run = client.get_run(result.mlflow_run_id)
    assert run.data.params["teacher.beta"] == str(FAST["teacher"].beta)
    assert run.data.tags["fingerprint"] == result.fingerprint


def test_rerun_with_the_same_inputs_reuses_the_trained_stages(result, adult_subset):
    from mlflow import MlflowClient

    lake = Path(result.raw_train).parents[3]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAIRDISTILL_LAKE", str(lake))
        again = refresh(dataset=adult_subset, **FAST)
    assert again.run_id != result.run_id
    assert pl.read_parquet(again.synthetic_table).equals(pl.read_parquet(result.synthetic_table))
    # the training stages came from Prefect's cache: the second run trained nothing
    assert MlflowClient().get_metric_history(again.mlflow_run_id, "teacher.recon") == []


def test_audit_files_are_published_beside_the_table(result):
    import json

    folder = Path(result.synthetic_table).parent
    audit = json.loads((folder / "audit.json").read_text())
    assert audit["passed"] is True
    assert audit["run"]["fingerprint"] == result.fingerprint
    assert audit["run"]["seeds"]["teacher"] == FAST["teacher"].seed
    assert 0.0 <= audit["metrics"]["latent.leakage_auroc"] <= 1.0
    assert (folder / "report.html").read_text().count("data:image/png;base64,") == 4


def test_failed_gate_keeps_latest_and_the_table_under_rejected(result, adult_subset):
    lake = Path(result.raw_train).parents[3]
    latest = lake / "synthetic" / "adult" / "latest"
    before = latest.resolve()
    strict = AuditConfig(
        bootstrap_resamples=0, gate=GateThresholds(min_model_dpr=1.0, max_auroc_drop=0.0)
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAIRDISTILL_LAKE", str(lake))
        with pytest.raises(
            GateFailed,
            match=r"failed the audit gate: model_dpr \d\.\d{3} \(needs ≥ 1\.000\), tstr_auroc",
        ):
            refresh(dataset=adult_subset, **{**FAST, "audit": strict})
    assert latest.resolve() == before
    rejected = list((lake / "rejected" / "adult").iterdir())
    assert len(rejected) == 1 and (rejected[0] / "report.html").exists()
    assert not list((lake / "staging" / "adult").iterdir())


def test_repair_makes_a_fair_twin_row_by_row(result, tmp_path):
    rows = pl.read_parquet(result.raw_holdout).head(300)
    rows.write_parquet(tmp_path / "rows.parquet")
    spec = BUILTIN_DIR / "adult" / "spec.yaml"
    out = tmp_path / "twin.parquet"
    args = ["repair", "--model", result.model_uri, "--spec", str(spec)]
    assert main([*args, "--input", str(tmp_path / "rows.parquet"), "--out", str(out)]) == 0
    twin = pl.read_parquet(out)
    assert twin.height == 300 and twin.columns == rows.columns
    assert twin["sex"].equals(rows["sex"])  # each row keeps its own group


def test_unknown_model_uri_is_a_clear_error(capsys, tmp_path):
    args = ["generate", "--model", "models:/fairdistill-nope/7", "--rows", "5"]
    assert main([*args, "--out", str(tmp_path / "x.parquet")]) == 2
    err = capsys.readouterr().err
    assert "cannot load models:/fairdistill-nope/7 from sqlite:" in err
    assert "fairdistill: error:" in err
