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
