"""The command line: exit codes and one clear message for each mistake a user can make."""

import subprocess
import sys

import pytest

from app.cli import EXIT_USER_ERROR, main

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "loans_empty.csv"], "loans_empty.csv has no data rows"),
        (["--source", "loans_no_target.csv"], "target column(s) 'approved' not in"),
        (["--source", "loans_one_class.csv"], "target 'approved' has 1 class"),
        (["--spec", "loans_unknown_sensitive.yaml"], "sensitive column(s) 'sex' not in"),
        (["--source", "loans_text_in_numeric.csv"], "column 'age' in"),
        (["--source", "missing.csv"], "missing.csv does not exist"),
        (["--source", "loans_small_group.csv"], "gender='F' has 4 rows"),
        (["--spec", "loans_misspelled.yaml"], "field 'targt' is not a known field"),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(args, message, data_dir, lake, capsys):
    if args[0] == "--source":
        args = ["--spec", str(data_dir / "loans.yaml"), "--source", str(data_dir / args[1])]
    else:
        args = ["--spec", str(data_dir / args[1])]
    assert main(["refresh", *args]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert message in err
    assert err.count("fairdistill: error:") == 1
    assert not (lake / "synthetic").exists()


def test_bad_settings_exit_2_before_anything_runs(data_dir, tmp_path, lake, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("teacher: {hidden: [-5]}\n")
    args = ["refresh", "--spec", str(data_dir / "loans.yaml"), "--config", str(config)]
    assert main(args) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "teacher.hidden.0: Input should be greater than or equal to 1" in err
    assert not lake.exists()  # not even ingested


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--fairness", "1.5"], "generation.fairness: Input should be less than or equal to 1"),
        (["--label-temperature", "nan"], "generation.label_temperature: Input should be a finite"),
        (["--mode", "faithful", "--fairness", "0.5"], "fairness applies only to mode(s)"),
    ],
)
def test_generate_checks_its_options_like_the_flow(options, message, tmp_path, capsys):
    args = ["generate", "--model", "models:/fairdistill-x/1", "--rows", "5", *options]
    assert main([*args, "--out", str(tmp_path / "x.parquet")]) == EXIT_USER_ERROR
    assert message in capsys.readouterr().err


def test_unknown_model_uri_is_a_clear_error(capsys, tmp_path):
    args = ["generate", "--model", "models:/fairdistill-nope/7", "--rows", "5"]
    assert main([*args, "--out", str(tmp_path / "x.parquet")]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "cannot load models:/fairdistill-nope/7 from sqlite:" in err
    assert "fairdistill: error:" in err


def test_a_spec_error_is_quick_and_imports_neither_prefect_nor_torch(data_dir, tmp_path):
    code = (
        "import sys\n"
        "from app.cli import main\n"
        f"rc = main(['refresh', '--spec', {str(data_dir / 'loans_misspelled.yaml')!r}])\n"
        "heavy = sorted(m for m in ('prefect', 'torch', 'mlflow') if m in sys.modules)\n"
        "print(rc, heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.stdout.strip() == "2 []", done.stderr
    assert "field 'targt' is not a known field" in done.stderr


def test_a_prefect_home_without_a_parent_is_refused_at_once(
    data_dir, tmp_path, monkeypatch, capsys
):
    import time

    home = tmp_path / "no" / "such" / ".prefect"
    monkeypatch.setenv("PREFECT_HOME", str(home))
    started = time.monotonic()
    assert main(["refresh", "--spec", str(data_dir / "loans.yaml")]) == EXIT_USER_ERROR
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert f"PREFECT_HOME is {home}, but its parent folder {home.parent} does not exist" in err


def without_root_powers() -> None:
    """A `preexec_fn`: drop every capability from the bounding set, so that root, after exec, obeys
    file permissions like any user (prctl PR_CAPBSET_DROP; what `setpriv --bounding-set=-all` does)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in range(64):
        libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP; unknown capabilities: EINVAL


def test_a_read_only_lake_is_refused_with_its_name(data_dir, tmp_path):
    import os

    lake = tmp_path / "lake"
    lake.mkdir(mode=0o555)
    code = "import sys\nfrom app.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, "refresh", "--spec", str(data_dir / "loans.yaml")],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "FAIRDISTILL_LAKE": str(lake)},
            preexec_fn=without_root_powers if os.geteuid() == 0 else None,
            timeout=60,
        )
    finally:
        lake.chmod(0o755)
    assert done.returncode == EXIT_USER_ERROR, done.stderr
    expected = f"FAIRDISTILL_LAKE is {lake}, which cannot be written (Permission denied)"
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
