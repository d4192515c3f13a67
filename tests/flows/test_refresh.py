import json
from pathlib import Path

import polars as pl
import pytest

from fairdistill.cli import main
from fairdistill.spec import load_builtin, load_spec
from flows.refresh import refresh

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_refresh_ingests_and_validates_a_users_csv(data_dir, lake, fast_settings):
    result = refresh(dataset=load_spec(data_dir / "loans.yaml").absolute(), **fast_settings)
    assert Path(result.raw_train).parent == lake / "raw" / "loans" / result.run_id
    assert (
        pl.read_parquet(result.raw_train).height + pl.read_parquet(result.raw_holdout).height == 600
    )
    assert json.loads(Path(result.validation_report).read_text())["success"] is True


def test_cli_refresh_prints_where_things_went(data_dir, lake, capsys):
    config = str(data_dir / "fast.yaml")
    assert main(["refresh", "--spec", str(data_dir / "loans.yaml"), "--config", config]) == 0
    out = capsys.readouterr().out
    assert "refresh of loans passed the audit gate and was published" in out
    assert f"synthetic table:   {lake}/synthetic/loans/" in out
    assert f"raw snapshot:      {lake}/raw/loans/" in out
    assert f"validation report: {lake}/validation/loans/" in out
    assert "registered model:  models:/fairdistill-loans/" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "loans_empty.csv"], "loans_empty.csv has no data rows"),
        (["--source", "loans_no_target.csv"], "target column(s) 'approved' not in"),
        (["--source", "loans_one_class.csv"], "target 'approved' has 1 class"),
        (["--spec", "loans_unknown_sensitive.yaml"], "sensitive column(s) 'sex' not in"),
        (["--source", "loans_text_in_numeric.csv"], "column 'age' in"),
        (["--source", "loans_semicolon.csv"], "set `delimiter: ';'`"),
        (["--source", "missing.csv"], "missing.csv does not exist"),
        (["--source", "loans_small_group.csv"], "gender='F' has 4 rows"),
        (["--spec", "loans_misspelled.yaml"], "field 'targt' is not a known field"),
    ],
)
def test_bad_input_exits_nonzero_with_one_clear_message(args, message, data_dir, lake, capsys):
    if args[0] == "--source":
        args = ["--spec", str(data_dir / "loans.yaml"), "--source", str(data_dir / args[1])]
    else:
        args = ["--spec", str(data_dir / args[1])]
    assert main(["refresh", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("fairdistill: error:") == 1
    assert not (lake / "synthetic").exists()


def test_builtin_compas_refreshes(lake, fast_settings):
    result = refresh(dataset=load_builtin("compas"), **fast_settings)
    assert pl.read_parquet(result.raw_holdout).height == 1_234
    assert json.loads(Path(result.validation_report).read_text())["success"] is True


def test_cli_gate_failure_exits_1_with_the_numbers_and_publishes_nothing(
    data_dir, lake, capsys, tmp_path
):
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        (data_dir / "fast.yaml")
        .read_text()
        .replace("min_model_dpr: 0.0", "min_model_dpr: 1.0")
        .replace("max_auroc_drop: 1.0", "max_auroc_drop: 0.0")
    )
    assert main(["refresh", "--spec", str(data_dir / "loans.yaml"), "--config", str(strict)]) == 1
    err = capsys.readouterr().err
    assert "fairdistill: gate failed: the synthetic table of loans failed the audit gate" in err
    assert "model-level DPR" in err and "TSTR AUROC" in err
    assert not (lake / "synthetic").exists()
    assert len(list((lake / "rejected" / "loans").iterdir())) == 1
