"""The refresh flow end to end, shared per module: one small Adult run (trained once), re-runs of it
that reuse the trained stages, and the command line on a user's CSV."""

import contextlib
import io
import json
from pathlib import Path

import polars as pl
import pytest

from app.cli import EXIT_GATE_FAILED, EXIT_OK, main
from fairdistill.errors import GateFailed
from fairdistill.settings import AuditSettings, GateThresholds
from fairdistill.spec import BUILTIN_DIR, load_builtin
from fairdistill.tracking import load_bundle
from flows.refresh import refresh

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]


@pytest.fixture(scope="module")
def module_lake(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lake")


@pytest.fixture(autouse=True)
def lake(module_lake, monkeypatch) -> Path:
    """Every test of this module shares one lake, so re-runs find the trained stages."""
    monkeypatch.setenv("FAIRDISTILL_LAKE", str(module_lake))
    return module_lake


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
def fast(fast_settings):
    """The fast settings, generating 1,500 rows."""
    generation = fast_settings.generation.model_copy(update={"rows": 1_500})
    return dict(fast_settings.model_copy(update={"generation": generation}))


@pytest.fixture(scope="module")
def result(adult_subset, fast, module_lake):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAIRDISTILL_LAKE", str(module_lake))
        return refresh(dataset=adult_subset, **fast)


def test_refresh_writes_a_synthetic_table_in_the_source_schema(result, lake):
    table = pl.read_parquet(result.synthetic_table)
    real = pl.read_parquet(result.raw_train)
    assert Path(result.raw_train).parent == lake / "raw" / "adult" / result.run_id
    assert table.height == 1_500
    assert table.schema == real.schema
    assert set(table["income"].unique()) <= {">50K", "<=50K"}
    assert set(table["sex"].unique()) == {"Male", "Female"}
    assert table.join(real, on=real.columns, how="semi", nulls_equal=True).height == 0
    assert json.loads(Path(result.validation_report).read_text())["success"] is True


def test_published_table_is_reachable_through_latest(result):
    folder = Path(result.synthetic_table).parent
    assert (folder.parent / "latest").resolve() == folder.resolve()


def test_audit_files_are_published_beside_the_table(result, fast):
    folder = Path(result.synthetic_table).parent
    audit = json.loads((folder / "audit.json").read_text())
    assert audit["passed"] is True
    assert audit["run"]["fingerprint"] == result.fingerprint
    assert audit["run"]["seeds"]["teacher"] == fast["teacher"].seed
    assert 0.0 <= audit["metrics"]["latent.leakage_auroc"] <= 1.0
    assert (folder / "report.html").read_text().count("data:image/png;base64,") == 4


def test_registered_model_reloads_and_generates_without_retraining(result, tmp_path):
    model = load_bundle(result.model_uri)
    rows = pl.concat(list(model.generate(50)))
    again = pl.concat(list(load_bundle(result.model_uri).generate(50)))
    assert rows.height == 50 and rows.equals(again)

    out = tmp_path / "more.parquet"
    args = ["generate", "--model", result.model_uri, "--rows", "120", "--out", str(out)]
    assert main(args) == EXIT_OK
    assert pl.read_parquet(out).height == 120


def test_model_version_that_passed_is_champion(result):
    from mlflow import MlflowClient

    name, version = result.model_uri.split("/")[-2:]
    # runs before the re-run test below, which registers (and crowns) the next version
    assert str(MlflowClient().get_model_version_by_alias(name, "champion").version) == version


def test_losses_are_tracked_per_epoch(result, fast):
    from mlflow import MlflowClient

    client = MlflowClient()
    history = client.get_metric_history(result.mlflow_run_id, "teacher.recon")
    assert [m.step for m in history] == [0, 1]
    assert client.get_metric_history(result.mlflow_run_id, "student.kl")
    run = client.get_run(result.mlflow_run_id)
    assert run.data.params["teacher.beta"] == str(fast["teacher"].beta)
    assert run.data.tags["fingerprint"] == result.fingerprint


def test_rerun_with_the_same_inputs_reuses_the_trained_stages(result, adult_subset, fast):
    from mlflow import MlflowClient

    again = refresh(dataset=adult_subset, **fast)
    assert again.run_id != result.run_id
    assert pl.read_parquet(again.synthetic_table).equals(pl.read_parquet(result.synthetic_table))
    # the training stages came from Prefect's cache: the second run trained nothing
    assert MlflowClient().get_metric_history(again.mlflow_run_id, "teacher.recon") == []


def test_failed_gate_keeps_latest_and_the_table_under_rejected(result, adult_subset, fast, lake):
    latest = lake / "synthetic" / "adult" / "latest"
    before = latest.resolve()
    strict = AuditSettings(
        bootstrap_resamples=0, gate=GateThresholds(min_model_dpr=1.0, max_auroc_drop=0.0)
    )
    with pytest.raises(
        GateFailed,
        match=r"failed the audit gate: model_dpr \d\.\d{3} \(needs ≥ 1\.000\), tstr_auroc",
    ):
        refresh(dataset=adult_subset, **{**fast, "audit": strict})
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
    assert main([*args, "--input", str(tmp_path / "rows.parquet"), "--out", str(out)]) == EXIT_OK
    twin = pl.read_parquet(out)
    assert twin.height == 300 and twin.columns == rows.columns
    assert twin["sex"].equals(rows["sex"])  # each row keeps its own group


def cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def loans_cli(data_dir, module_lake):
    """`fairdistill refresh --spec loans.yaml --config fast.yaml`, as a user runs it."""
    args = [
        "refresh",
        "--spec",
        str(data_dir / "loans.yaml"),
        "--config",
        str(data_dir / "fast.yaml"),
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAIRDISTILL_LAKE", str(module_lake))
        return cli(args)


def test_cli_refresh_prints_where_things_went(loans_cli, lake):
    code, out, _ = loans_cli
    assert code == EXIT_OK
    assert "refresh of loans passed the audit gate and was published" in out
    assert f"synthetic table:   {lake}/synthetic/loans/" in out
    assert f"raw snapshot:      {lake}/raw/loans/" in out
    assert f"validation report: {lake}/validation/loans/" in out
    assert "registered model:  models:/fairdistill-loans/" in out


def test_cli_gate_failure_exits_3_with_the_numbers_and_publishes_nothing(
    loans_cli, data_dir, lake, tmp_path
):
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        (data_dir / "fast.yaml")
        .read_text()
        .replace("min_model_dpr: 0.0", "min_model_dpr: 1.0")
        .replace("max_auroc_drop: 1.0", "max_auroc_drop: 0.0")
    )
    before = (lake / "synthetic" / "loans" / "latest").resolve()
    code, _, err = cli(["refresh", "--spec", str(data_dir / "loans.yaml"), "--config", str(strict)])
    assert code == EXIT_GATE_FAILED
    assert "fairdistill: gate failed: the synthetic table of loans failed the audit gate" in err
    assert "model-level DPR" in err and "TSTR AUROC" in err
    assert "Traceback" not in err
    assert (lake / "synthetic" / "loans" / "latest").resolve() == before


def test_shards_on_a_dask_cluster_give_the_rows_of_the_library(result, adult_subset, fast):
    """The flow's shards, run by prefect-dask's task runner, equal `sharded_rows` in process."""
    from prefect_dask import DaskTaskRunner

    from models.pipeline import sharded_rows

    generation = fast["generation"].model_copy(update={"rows": 2_500, "shard_rows": 1_000})
    cluster = {
        "n_workers": 2,
        "threads_per_worker": 1,
        "processes": False,
        "dashboard_address": None,
    }
    on_dask = refresh.with_options(task_runner=DaskTaskRunner(cluster_kwargs=cluster))
    run = on_dask(dataset=adult_subset, **{**fast, "generation": generation})
    train = pl.read_parquet(run.raw_train)
    expected = pl.concat(sharded_rows(load_bundle(run.model_uri), 2_500, generation, exclude=train))
    assert pl.read_parquet(run.synthetic_table).equals(expected)
