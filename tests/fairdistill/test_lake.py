import os

import polars as pl
import pytest

from fairdistill import lake


def staged_run(run_id: str, rows: int):
    folder = lake.stage_dir("staging", "toy", run_id)
    lake.write_parquet(pl.DataFrame({"x": range(rows)}), folder / "synthetic.parquet")
    return folder


def latest_rows() -> int:
    return pl.read_parquet(lake.latest_link("synthetic", "toy") / "synthetic.parquet").height


def test_publish_moves_the_run_and_points_latest_at_it():
    folder = lake.publish(staged_run("run-1", 3), "toy", "run-1")
    assert folder == lake.stage_dir("synthetic", "toy", "run-1")
    assert not lake.stage_dir("staging", "toy", "run-1").exists()
    assert latest_rows() == 3
    lake.publish(staged_run("run-2", 5), "toy", "run-2")
    assert latest_rows() == 5
    assert os.readlink(lake.latest_link("synthetic", "toy")) == "run-2"


def test_a_crash_between_write_and_publish_leaves_latest_on_the_previous_table():
    lake.publish(staged_run("run-1", 3), "toy", "run-1")
    staged_run("run-2", 5)  # written, then the run dies before publish
    assert latest_rows() == 3
    assert not lake.stage_dir("synthetic", "toy", "run-2").exists()


def test_a_failure_while_moving_latest_leaves_it_on_the_previous_table(monkeypatch):
    lake.publish(staged_run("run-1", 3), "toy", "run-1")
    real_replace = os.replace

    def fail_on_link(src, dst):
        if str(dst).endswith("latest"):
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(lake.os, "replace", fail_on_link)
    with pytest.raises(OSError, match="disk full"):
        lake.publish(staged_run("run-2", 5), "toy", "run-2")
    assert latest_rows() == 3


def test_interrupted_writes_leave_no_partial_file(tmp_path):
    def chunks():
        yield pl.DataFrame({"x": [1, 2]})
        raise KeyboardInterrupt

    target = tmp_path / "t.parquet"
    with pytest.raises(KeyboardInterrupt):
        lake.write_parquet_chunks(chunks(), target)
    assert list(tmp_path.iterdir()) == []


def test_model_dir_is_keyed_by_fingerprint_and_settings():
    a = lake.model_dir("toy", "f1", {"beta": 1})
    assert a == lake.model_dir("toy", "f1", {"beta": 1})
    assert (
        len({a, lake.model_dir("toy", "f2", {"beta": 1}), lake.model_dir("toy", "f1", {"beta": 2})})
        == 3
    )


def test_reject_moves_the_run_aside_and_leaves_latest_alone():
    lake.publish(staged_run("run-1", 3), "toy", "run-1")
    folder = lake.reject(staged_run("run-2", 5), "toy", "run-2")
    assert folder == lake.stage_dir("rejected", "toy", "run-2")
    assert (folder / "synthetic.parquet").exists()
    assert not lake.stage_dir("staging", "toy", "run-2").exists()
    assert latest_rows() == 3


# --- the dataset lock ---------------------------------------------------------------------------


def test_a_second_refresh_waits_for_the_lock_and_is_told_who_holds_it():
    import threading

    order, messages, held = [], [], threading.Event()

    def second():
        held.wait()
        with lake.dataset_lock("toy", {"flow_run_id": "b"}, on_wait=messages.append) as abandoned:
            order.append(("b", abandoned))

    thread = threading.Thread(target=second)
    with lake.dataset_lock("toy", {"flow_run_id": "a"}) as abandoned:
        thread.start()
        held.set()
        thread.join(timeout=0.5)
        assert thread.is_alive()  # waiting
        order.append(("a", abandoned))
    thread.join(timeout=10)
    assert order == [("a", None), ("b", None)]  # a clean release leaves nothing abandoned
    assert messages == [
        f"another refresh of toy holds {lake.lake_root() / 'locks' / 'toy.lock'} (pid "
        f"{os.getpid()}); waiting for it to finish"
    ]


def test_the_lock_names_a_holder_that_died_holding_it():
    lock = lake.lake_root() / "locks" / "toy.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text('{"pid": 99999, "flow_run_id": "dead"}')  # what a killed holder leaves
    with lake.dataset_lock("toy", {"flow_run_id": "next"}) as abandoned:
        assert abandoned == {"pid": 99999, "flow_run_id": "dead"}
    with lake.dataset_lock("toy", {"flow_run_id": "after"}) as abandoned:
        assert abandoned is None


def test_a_lake_that_cannot_be_written_is_a_clear_error(tmp_path, monkeypatch):
    from fairdistill.errors import LocationError

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("FAIRDISTILL_LAKE", str(blocker / "lake"))
    with pytest.raises(LocationError, match=r"FAIRDISTILL_LAKE is .*, which cannot be written"):
        with lake.dataset_lock("toy", {}):
            pass


def test_collect_garbage_removes_staging_and_temporary_files_only():
    staged_run("dead-run", 2)
    lake.publish(staged_run("run-1", 3), "toy", "run-1")
    models = lake.lake_root() / "models" / "toy" / "key"
    models.mkdir(parents=True)
    (models / "teacher.pt").write_bytes(b"w")
    (models / ".teacher.pt.x1.tmp").write_bytes(b"half")
    link = lake.latest_link("synthetic", "toy").with_name(".latest.ab12.tmp")
    link.symlink_to("run-1")
    removed = lake.collect_garbage("toy")
    assert sorted(p.name for p in removed) == [".latest.ab12.tmp", ".teacher.pt.x1.tmp", "dead-run"]
    assert (models / "teacher.pt").exists() and latest_rows() == 3
    assert lake.collect_garbage("toy") == []


# --- content hashes of a model folder --------------------------------------------------------


def test_a_stage_is_reusable_only_while_its_files_match_their_recorded_hashes(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.pt").write_bytes(b"weights")
    files = ["a.json", "b.pt"]
    assert lake.stale_parts(tmp_path, "stage", files, "code-1") is None  # nothing recorded
    lake.record_parts(tmp_path, "stage", files, "code-1")
    assert lake.stale_parts(tmp_path, "stage", files, "code-1") == []
    assert lake.stale_parts(tmp_path, "stage", files, "code-2") is None  # other code: retrain
    (tmp_path / "b.pt").write_bytes(b"weig")  # truncated
    assert lake.stale_parts(tmp_path, "stage", files, "code-1") == ["b.pt"]
    (tmp_path / "a.json").unlink()
    assert lake.stale_parts(tmp_path, "stage", files, "code-1") == ["a.json", "b.pt"]
    (tmp_path / lake.MANIFEST).write_text("not json")
    assert lake.stale_parts(tmp_path, "stage", files, "code-1") is None


def test_a_part_a_stage_did_not_write_must_stay_absent(tmp_path):
    """An image model has no label model: recorded as absent, a file planted there later is a
    changed part."""
    (tmp_path / "labels.json").write_text("{}")
    files = ["labels.json", "label_model.pt"]
    lake.record_parts(tmp_path, "stage", files, "code-1")
    assert lake.stale_parts(tmp_path, "stage", files, "code-1") == []
    (tmp_path / "label_model.pt").write_bytes(b"planted")
    assert lake.stale_parts(tmp_path, "stage", files, "code-1") == ["label_model.pt"]


def test_folder_digest_follows_names_and_bytes(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f").write_bytes(b"1")
    first = lake.folder_digest(tmp_path)
    assert lake.folder_digest(tmp_path) == first
    (tmp_path / "sub" / "f").write_bytes(b"2")
    assert lake.folder_digest(tmp_path) != first
    (tmp_path / "sub" / "f").write_bytes(b"1")
    (tmp_path / "sub" / "f").rename(tmp_path / "sub" / "g")
    assert lake.folder_digest(tmp_path) != first
    (tmp_path / "sub" / "g").rename(tmp_path / "sub" / "f")
    (tmp_path / "note").write_text("x")
    assert lake.folder_digest(tmp_path, ignore={"note"}) == first != lake.folder_digest(tmp_path)


@pytest.mark.parametrize("scheme", ["file", "memory"])
def test_a_lake_at_an_fsspec_url_receives_every_final_output(tmp_path, monkeypatch, scheme):
    import fsspec

    url = f"file://{tmp_path / 'remote'}" if scheme == "file" else f"memory://lake-{tmp_path.name}"
    monkeypatch.setenv("FAIRDISTILL_LAKE", url)
    monkeypatch.setenv("FAIRDISTILL_WORK", str(tmp_path / "work"))
    assert lake.lake_url() == url and lake.lake_root() == tmp_path / "work"
    fs, root = fsspec.core.url_to_fs(url)

    lake.publish(staged_run("run-1", 3), "toy", "run-1")
    lake.reject(staged_run("run-2", 5), "toy", "run-2")
    with fs.open(f"{root}/synthetic/toy/run-1/synthetic.parquet", "rb") as handle:
        assert pl.read_parquet(handle).height == 3
    assert fs.cat_file(f"{root}/synthetic/toy/latest") == b"run-1"  # a pointer, not a link
    assert fs.exists(f"{root}/rejected/toy/run-2/synthetic.parquet")
    assert not fs.exists(f"{root}/staging")  # only final outputs travel


def test_the_mlflow_artifact_location_takes_a_url(tmp_path, monkeypatch):
    import mlflow

    from fairdistill import tracking

    url = (tmp_path / "artifacts").as_uri()
    monkeypatch.setenv("FAIRDISTILL_MLFLOW_ARTIFACTS", url)
    monkeypatch.setenv("FAIRDISTILL_EXPERIMENT", f"url-{tmp_path.name}")
    experiment = mlflow.get_experiment(tracking.experiment_id())
    assert experiment.artifact_location == url
    run = tracking.start_refresh_run("url", {}, {})
    (tmp_path / "note.txt").write_text("hello")
    mlflow.MlflowClient().log_artifact(run, str(tmp_path / "note.txt"))
    assert list((tmp_path / "artifacts").rglob("note.txt"))
