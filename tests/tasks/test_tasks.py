"""Each Prefect task called as a plain function (`.fn()`), in stage order, on the loans table."""

import json
from pathlib import Path

import polars as pl
import pytest
from prefect.logging import disable_run_logger

from fairdistill import tracking
from fairdistill.audit import CHALLENGER, CHAMPION, REJECTED, AuditOutcome, GateCheck
from fairdistill.errors import ValidationFailed
from fairdistill.lake import latest_link, model_dir, new_run_id
from fairdistill.settings import AuditSettings, GateThresholds
from fairdistill.spec import load_spec
from models.bundle import FILES
from tasks.audit import audit, configured_gate
from tasks.encode import encode
from tasks.generate import generate, merge_shards, shards
from tasks.ingest import ingest
from tasks.publish import publish_synthetic_table
from tasks.register import register_model
from tasks.train import calibrate_labels, distill, fit_sampler, train_teacher
from tasks.validate import validate

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def stages(data_dir, fast_settings, tmp_path_factory):
    """The outputs of ingest → … → audit, each task run through `.fn()`."""
    lake = tmp_path_factory.mktemp("lake")
    spec = load_spec(data_dir / "loans.yaml").absolute()
    out = {"lake": lake, "spec": spec, "settings": fast_settings}
    with pytest.MonkeyPatch.context() as patch, disable_run_logger():
        patch.setenv("FAIRDISTILL_LAKE", str(lake))
        out["snapshot"] = snapshot = ingest.fn(spec, new_run_id())
        out["validation"] = validate.fn(spec, snapshot, fast_settings.sampler)
        run = tracking.start_refresh_run("tasks", {"dataset": spec.name}, {})
        out["tracking"] = run
        models = str(model_dir(spec.name, snapshot.fingerprint, fast_settings.model_key()))
        out["models"] = encode.fn(spec, snapshot, models)
        train_teacher.fn(snapshot, models, fast_settings.teacher, run)
        distill.fn(snapshot, models, fast_settings.student, run)
        fit_sampler.fn(snapshot, models, fast_settings.sampler, run)
        calibrate_labels.fn(spec, snapshot, models, fast_settings.sampler, run)
        generation = fast_settings.generation.model_copy(
            update={"shard_rows": 1_000, "rows": 2_500}
        )
        parts = [
            generate.fn(snapshot, models, generation, shard, run)
            for shard in shards(generation, snapshot)
        ]
        out["parts"] = parts
        out["table"] = merge_shards.fn(snapshot, parts, run)
        out["outcome"] = audit.fn(
            spec,
            snapshot,
            models,
            out["table"],
            fast_settings.audit,
            fast_settings.audit.gate,  # the configured gate: this run's is not looser
            run,
            {"run_id": "t"},
        )
    return out


def test_ingest_writes_the_raw_snapshot(stages):
    snapshot = stages["snapshot"]
    assert Path(snapshot.train_path).is_relative_to(stages["lake"] / "raw" / "loans")
    assert snapshot.train_rows + snapshot.holdout_rows == 600
    assert pl.read_parquet(snapshot.train_path).height == snapshot.train_rows


def test_validate_writes_its_result(stages):
    assert json.loads(Path(stages["validation"]).read_text())["success"] is True


def test_validate_stops_on_a_failing_suite(stages, data_dir, lake):
    spec = stages["spec"].model_copy(update={"source": str(data_dir / "loans_small_group.csv")})
    with disable_run_logger():
        snapshot = ingest.fn(spec, new_run_id())
        with pytest.raises(ValidationFailed, match="gender='F' has 4 rows"):
            validate.fn(spec, snapshot, stages["settings"].sampler)
    assert (lake / "validation" / "loans" / snapshot.run_id / "validation.json").exists()


def test_training_stages_save_every_part(stages):
    folder = Path(stages["models"])
    assert {path.name for path in folder.iterdir()} >= set(FILES.values())


def test_training_stages_log_losses_per_epoch(stages):
    from mlflow import MlflowClient

    history = MlflowClient().get_metric_history(stages["tracking"], "student.total")
    assert [m.step for m in history] == [0, 1]


def test_generate_writes_shards_that_merge_into_the_table(stages):
    table = pl.read_parquet(stages["table"])
    assert Path(stages["table"]).is_relative_to(stages["lake"] / "staging" / "loans")
    assert [Path(p).name for p in stages["parts"]] == [f"part-0000{i}.parquet" for i in range(3)]
    assert not any(Path(p).exists() for p in stages["parts"])  # merged, in order, then removed
    assert table.height == 2_500
    assert table.columns == pl.read_parquet(stages["snapshot"].train_path).columns


def test_audit_returns_an_outcome_and_writes_its_files(stages):
    from mlflow import MlflowClient

    outcome = stages["outcome"]
    folder = Path(stages["table"]).parent
    assert isinstance(outcome, AuditOutcome) and outcome.passed and outcome.release == CHAMPION
    assert json.loads((folder / "audit.json").read_text()) == json.loads(
        json.dumps(outcome.to_dict(), default=str)
    )
    assert (folder / "report.html").exists()
    tags = MlflowClient().get_run(stages["tracking"]).data.tags
    assert tags["fairdistill.gate"] == "passed" and tags["fairdistill.release"] == CHAMPION


def test_outside_a_deployment_the_configured_gate_is_the_default():
    assert configured_gate() == GateThresholds()


def test_a_model_is_registered_once_and_only_when_it_passed(stages):
    from mlflow import MlflowClient

    # A name of its own: a flow test of the same seed may have registered these very parts as
    # fairdistill-loans, and that version would rightly be reused.
    name = "loans-registered-once"
    with disable_run_logger():
        first = register_model.fn(name, stages["models"], stages["tracking"], stages["outcome"])
        again = register_model.fn(name, stages["models"], stages["tracking"], stages["outcome"])
        rejected = AuditOutcome({}, [GateCheck("model_dpr", 0.5, 1.0, "≥", False)], AuditSettings())
        nothing = register_model.fn(name, stages["models"], stages["tracking"], rejected)
    assert first == again == f"models:/fairdistill-{name}/1" and nothing == ""
    assert len(MlflowClient().search_model_versions(f"name = 'fairdistill-{name}'")) == 1
    version = MlflowClient().get_model_version(f"fairdistill-{name}", "1")
    run = MlflowClient().get_run(stages["tracking"])
    # the model is logged in the run's experiment, where the run's artifacts are
    logged = MlflowClient().get_logged_model(version.source.removeprefix("models:/"))
    assert (
        logged.experiment_id == run.info.experiment_id and logged.source_run_id == run.info.run_id
    )
    assert MlflowClient().get_run(stages["tracking"]).info.status == "RUNNING"  # ends with the flow


def test_publish_as_champion_then_challenger_then_reject(stages, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.setenv("FAIRDISTILL_LAKE", str(stages["lake"]))
    outcome, run = stages["outcome"], stages["tracking"]
    with disable_run_logger():
        uri = register_model.fn("loans", stages["models"], run, outcome)
        champion = publish_synthetic_table.fn("loans", "run-a", stages["table"], outcome, uri, run)
        assert champion.release == CHAMPION
        assert latest_link("synthetic", "loans").resolve() == Path(champion.table).parent

        looser = AuditOutcome(
            outcome.metrics,
            outcome.checks,
            AuditSettings(gate=GateThresholds(max_auroc_gap=0.5)),
            configured_gate=GateThresholds(),
        )
        challenger = publish_synthetic_table.fn(
            "loans", "run-b", str(staged(tmp_path / "b")), looser, uri, run
        )
        failed = AuditOutcome(
            outcome.metrics,
            [GateCheck("model_dpr", 0.5, 1.0, "≥", False, "audit.gate.min_fairness_ratio")],
            AuditSettings(gate=GateThresholds(min_fairness_ratio=1.0)),
        )
        rejected = publish_synthetic_table.fn(
            "loans", "run-c", str(staged(tmp_path / "c")), failed, "", run
        )
    lake = stages["lake"]
    # a challenger is published under its run id; `latest` stays on the champion's table
    assert challenger.release == CHALLENGER and challenger.folder == str(
        lake / "synthetic" / "loans" / "run-b"
    )
    assert "looser than the configured one (max_auroc_gap)" in challenger.message
    assert latest_link("synthetic", "loans").resolve() == Path(champion.table).parent
    # the same model version was champion already: it keeps its alias and its champion's tags
    version = MlflowClient().get_model_version_by_alias("fairdistill-loans", "champion")
    assert uri == f"models:/fairdistill-loans/{version.version}" and version.aliases == ["champion"]
    assert version.tags["fairdistill.release"] == CHAMPION
    assert "is @champion already (the same trained model)" in challenger.message
    assert "Released as champion by a refresh of loans" in version.description

    assert rejected.release == REJECTED
    assert rejected.message.startswith(
        "the synthetic table of loans failed the audit gate: model_dpr 0.500, 0.500 below its "
        "threshold 1.000 (audit.gate.min_fairness_ratio). It was not published"
    )
    assert f"report: {lake}/rejected/loans/run-c/report.html" in rejected.message
    # a table of 451 training rows gets the advice of a small table
    assert "What to try: model_dpr: with 451 training rows the holdout's groups" in rejected.message
    assert (lake / "rejected" / "loans" / "run-c" / "synthetic.parquet").exists()


def staged(folder: Path) -> Path:
    """An empty staged table in its own folder."""
    folder.mkdir()
    (folder / "synthetic.parquet").write_bytes(b"")
    return folder / "synthetic.parquet"


def test_training_stages_keep_no_prefect_result():
    """Prefect never reads a stored result for them: a result file names its own deserializer."""
    from prefect.cache_policies import NO_CACHE

    for stage in (encode, train_teacher, distill, fit_sampler, calibrate_labels):
        assert stage.cache_policy is NO_CACHE and not stage.persist_result


def test_a_damaged_part_is_retrained_with_a_warning_not_a_crash(stages, tmp_path, caplog):
    import shutil

    from tasks.caching import checkpoint, reuse

    folder = tmp_path / "models"
    shutil.copytree(stages["models"], folder)
    original = (folder / "teacher.pt").read_bytes()
    (folder / "teacher.pt").write_bytes(original[:100])  # truncated
    checkpoint(str(folder), "teacher").write_bytes(b"not a checkpoint")
    snapshot, settings, run = stages["snapshot"], stages["settings"], stages["tracking"]
    with disable_run_logger():
        assert reuse("encode", str(folder))
        assert not reuse("train_teacher", str(folder))
        with pytest.warns(UserWarning, match=r"checkpoint .*teacher\.\w+\.ckpt cannot be read"):
            train_teacher.fn(snapshot, str(folder), settings.teacher, run)
        assert reuse("train_teacher", str(folder))
    assert (folder / "teacher.pt").read_bytes() == original  # the same weights again
    assert not list(folder.glob("*.ckpt"))  # a finished stage keeps no checkpoint


def test_a_checkpoint_that_other_training_code_wrote_is_not_resumed(stages, tmp_path):
    """After a code change a stage retrains: from the start, not from the finished checkpoint of
    the earlier code, whose weights (here shifted by 1) it would otherwise publish again."""
    import shutil

    import torch

    from models import pipeline
    from models.bundle import load_codec
    from tasks.train import encoded_training_rows

    folder = tmp_path / "models"
    shutil.copytree(stages["models"], folder)
    original = (folder / "teacher.pt").read_bytes()
    (folder / "teacher.pt").write_bytes(original[:100])  # so that the stage retrains
    snapshot, settings, run = stages["snapshot"], stages["settings"], stages["tracking"]
    earlier = tmp_path / "earlier.ckpt"
    x, s = encoded_training_rows(snapshot, str(folder))
    pipeline.fit_teacher(load_codec(str(folder)), x, s, settings.teacher, checkpoint_path=earlier)
    state = torch.load(earlier, weights_only=True)
    for weights in (state["model"], state["best"]):
        for name, value in weights.items():
            if value.is_floating_point():
                weights[name] = value + 1
    for name in ("teacher.ckpt", "teacher.0123456789abcdef.ckpt"):  # older names, other code
        torch.save(state, folder / name)
    with disable_run_logger():
        train_teacher.fn(snapshot, str(folder), settings.teacher, run)
    assert (folder / "teacher.pt").read_bytes() == original  # trained afresh
    assert not list(folder.glob("*.ckpt"))


def test_each_stage_reports_its_time_and_peak_memory_to_mlflow(stages):
    from mlflow import MlflowClient

    metrics = MlflowClient().get_run(stages["tracking"]).data.metrics
    for stage in (
        "train_teacher",
        "distill",
        "fit_sampler",
        "calibrate_labels",
        "generate",
        "audit",
    ):
        assert metrics[f"{stage}.seconds"] > 0
        assert 100 < metrics[f"{stage}.peak_rss_mb"] < 8_000
