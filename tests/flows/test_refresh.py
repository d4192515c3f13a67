"""The refresh flow end to end, shared per module: one small Adult run (trained once), re-runs of it
that reuse the trained stages, and the command line on a user's CSV.

The fast settings open the gate, which is looser than the configured gate (the defaults, outside a
deployment): their tables are published under their run id as challengers, never as `latest` or
@champion (a champion's release is tested in tests/tasks and, through a deployment, in served mode).
"""

import contextlib
import io
import json
import re
from pathlib import Path

import polars as pl
import pytest

from app.cli import EXIT_GATE_FAILED, EXIT_OK, main
from fairdistill.audit import CHALLENGER
from fairdistill.errors import GateFailed
from fairdistill.settings import AuditSettings, GateThresholds
from fairdistill.spec import BUILTIN_DIR, load_builtin, load_spec
from fairdistill.tracking import find_run, load_bundle
from flows.refresh import refresh
from tasks.tracking import FLOW_RUN_ID

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


def test_a_pass_under_a_looser_gate_is_published_under_its_run_id_only(result, lake):
    folder = Path(result.synthetic_table).parent
    assert result.release == CHALLENGER
    assert folder == lake / "synthetic" / "adult" / result.run_id
    assert not (folder.parent / "latest").exists()


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


def test_a_model_version_that_passed_a_looser_gate_is_challenger(result):
    from mlflow import MlflowClient

    name, version = result.model_uri.split("/")[-2:]
    client = MlflowClient()
    released = client.get_model_version(name, version)
    assert released.aliases == [CHALLENGER]
    assert released.tags["fairdistill.gate"] == "passed"
    assert released.tags["fairdistill.gate.looser_than_configured"] == (
        "min_fairness_ratio, max_auroc_gap, max_copy_rate_excess"
    )
    assert released.tags["fingerprint"] == result.fingerprint
    assert float(released.tags["audit.tstr.hgb.auroc"]) == pytest.approx(
        result.metrics["tstr.hgb.auroc"], abs=1e-4
    )
    assert released.description.startswith("Released as challenger by a refresh of adult")
    assert not client.get_registered_model(name).aliases.get("champion")


def test_losses_are_tracked_per_epoch(result, fast):
    from mlflow import MlflowClient

    client = MlflowClient()
    history = client.get_metric_history(result.mlflow_run_id, "teacher.recon")
    assert [m.step for m in history] == [0, 1]
    assert client.get_metric_history(result.mlflow_run_id, "student.kl")
    run = client.get_run(result.mlflow_run_id)
    assert run.data.params["teacher.beta"] == str(fast["teacher"].beta)
    assert run.data.tags["fingerprint"] == result.fingerprint


def test_the_mlflow_run_ends_with_the_flow_and_is_named_after_it(result):
    from mlflow import MlflowClient

    run = MlflowClient().get_run(result.mlflow_run_id)
    assert run.info.status == "FINISHED" and run.info.end_time is not None
    assert run.info.run_name == run.data.tags["prefect.flow_run_name"]
    assert run.info.run_name.startswith("refresh-adult-")
    assert run.data.tags["mlflow.source.name"] == "flows/refresh.py:refresh"
    assert run.data.tags["fairdistill.release"] == CHALLENGER
    # the test harness is a Prefect server: the run links to its flow run's page
    flow_run_id = run.data.tags["prefect.flow_run_id"]
    assert run.data.tags["prefect.flow_run_url"].endswith(f"/flow-runs/flow-run/{flow_run_id}")


def test_rerun_with_the_same_inputs_reuses_the_trained_stages(result, adult_subset, fast):
    from mlflow import MlflowClient

    again = refresh(dataset=adult_subset, **fast)
    assert again.run_id != result.run_id
    assert pl.read_parquet(again.synthetic_table).equals(pl.read_parquet(result.synthetic_table))
    # the training stages came from Prefect's cache: the second run trained nothing, and the
    # model it released is the version registered by the first
    assert MlflowClient().get_metric_history(again.mlflow_run_id, "teacher.recon") == []
    assert again.model_uri == result.model_uri
    assert len(MlflowClient().search_model_versions("name = 'fairdistill-adult'")) == 1


def test_failed_gate_ends_failed_with_one_message_and_the_table_under_rejected(
    result, adult_subset, fast, lake
):
    from mlflow import MlflowClient

    strict = AuditSettings(
        bootstrap_resamples=0, gate=GateThresholds(min_fairness_ratio=1.0, max_auroc_gap=0.0)
    )
    state = refresh(dataset=adult_subset, **{**fast, "audit": strict}, return_state=True)
    assert state.is_failed()
    assert re.match(
        r"the synthetic table of adult failed the audit gate: model_dpr \d\.\d{3}, \d\.\d{3} "
        r"below its threshold 1\.000 \(audit\.gate\.min_fairness_ratio\): predicted positive "
        r"rate \d\.\d{3} in (Female|Male) \([\d,]+ holdout rows\) to \d\.\d{3} in (Female|Male) "
        r"\([\d,]+ holdout rows\); tstr_auroc",
        state.message,
    )
    with pytest.raises(GateFailed):
        state.result()
    rejected = list((lake / "rejected" / "adult").iterdir())
    assert len(rejected) == 1 and (rejected[0] / "report.html").exists()
    assert f"report: {rejected[0] / 'report.html'}" in state.message  # the final place
    assert not list((lake / "staging" / "adult").iterdir())
    assert not (lake / "synthetic" / "adult" / "latest").exists()

    run = find_run(FLOW_RUN_ID, str(state.state_details.flow_run_id))
    assert run.info.status == "FAILED"
    assert run.data.tags["fairdistill.gate"] == "failed"
    assert run.data.tags["fairdistill.gate.failed.model_dpr"].startswith("model_dpr ")
    assert "fairdistill.error" not in run.data.tags  # a rejection, not a crash
    versions = MlflowClient().search_model_versions("name = 'fairdistill-adult'")
    assert len(versions) == 1  # a rejected model is not registered


def test_a_crash_ends_the_mlflow_run_failed_with_the_error(data_dir, fast, tmp_path, monkeypatch):
    """A lake whose model folder cannot be made: the run fails after its MLflow run opened."""
    monkeypatch.setenv("FAIRDISTILL_LAKE", str(tmp_path / "lake"))
    (tmp_path / "lake" / "models").mkdir(parents=True)
    (tmp_path / "lake" / "models" / "loans").write_text("not a folder")
    state = refresh(dataset=load_spec(data_dir / "loans.yaml"), **fast, return_state=True)
    assert state.is_failed()
    run = find_run(FLOW_RUN_ID, str(state.state_details.flow_run_id))
    assert run.info.status == "FAILED" and run.info.end_time is not None
    assert "fairdistill.gate" not in run.data.tags
    assert run.data.tags["fairdistill.error"] == state.message[:1000]
    assert "NotADirectoryError" in state.message or "FileExistsError" in state.message


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
    assert "refresh of loans passed a gate looser than the configured one" in out
    assert "published under its run id only, `latest` and @champion did not move" in out
    assert f"synthetic table:   {lake}/synthetic/loans/" in out
    assert f"raw snapshot:      {lake}/raw/loans/" in out
    assert f"validation report: {lake}/validation/loans/" in out
    assert "registered model:  models:/fairdistill-loans/1 (@challenger)" in out
    assert "(open with `mlflow ui --backend-store-uri sqlite:" in out


def test_cli_gate_failure_exits_3_with_the_numbers_and_publishes_nothing(
    loans_cli, data_dir, lake, tmp_path
):
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        (data_dir / "fast.yaml")
        .read_text()
        .replace("min_fairness_ratio: 0.0", "min_fairness_ratio: 1.0")
        .replace("max_auroc_gap: 1.0", "max_auroc_gap: 0.0")
        # judged by value: on 149 holdout rows exact parity is inside the ratio's interval
        .replace(
            "max_copy_rate_excess: 1.0", "max_copy_rate_excess: 1.0, unresolved_by_interval: false"
        )
    )
    code, _, err = cli(["refresh", "--spec", str(data_dir / "loans.yaml"), "--config", str(strict)])
    assert code == EXIT_GATE_FAILED
    assert "fairdistill: gate failed: the synthetic table of loans failed the audit gate" in err
    assert "classifier trained on     AUROC    DPR    EOR" in err and "fair reference" in err
    assert "Traceback" not in err
    assert not (lake / "synthetic" / "loans" / "latest").exists()


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
