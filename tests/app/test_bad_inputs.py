"""The corpus of bad inputs: every one ends with exit code 2 and one clear message, before any
training, with no traceback on the console, nothing trained and nothing published.

Each case plants one fault in a copy of `tests/data/loans.csv`, of a shipped dataset or of a settings
or spec file, and runs `fairdistill refresh` on it (in this process, on the session's Prefect API).
"""

import logging

import polars as pl
import pytest

from app.cli import EXIT_USER_ERROR, main
from app.console import CalmConsole
from fairdistill.spec import BUILTIN_DIR, load_spec


def loans(data_dir) -> pl.DataFrame:
    return pl.read_csv(data_dir / "loans.csv", infer_schema=False)


def csv_with(data_dir, tmp_path, **columns) -> list[str]:
    """loans.csv with some columns replaced by expressions (on text), as --source."""
    path = tmp_path / "planted.csv"
    loans(data_dir).with_columns(**columns).write_csv(path)
    return ["--spec", str(data_dir / "loans.yaml"), "--source", str(path)]


def row(index: int, value, column: str) -> pl.Expr:
    """`column` with `value` in row `index`."""
    hit = pl.int_range(pl.len()) == index
    return pl.when(hit).then(pl.lit(value)).otherwise(pl.col(column))


def parquet_with(data_dir, tmp_path, **columns) -> list[str]:
    path = tmp_path / "planted.parquet"
    frame = pl.read_csv(data_dir / "loans.csv")
    frame.with_columns(**{k: v(frame.height) for k, v in columns.items()}).write_parquet(path)
    return ["--spec", str(data_dir / "loans.yaml"), "--source", str(path)]


def spec_with(data_dir, tmp_path, text: str) -> list[str]:
    path = tmp_path / "spec.yaml"
    path.write_text(text.replace("loans.csv", str(data_dir / "loans.csv")))
    return ["--spec", str(path)]


def config(data_dir, tmp_path, text: str) -> list[str]:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return ["--spec", str(data_dir / "loans.yaml"), "--config", str(path)]


def shipped(name: str, tmp_path, change) -> list[str]:
    """A shipped dataset (2,000 rows of it) with a planted fault, as --source."""
    spec = load_builtin_spec(name)
    path = tmp_path / f"{name}.parquet"
    change(pl.read_parquet(spec.source_location()).sample(2_000, seed=0)).write_parquet(path)
    return ["--dataset", name, "--source", str(path)]


def load_builtin_spec(name: str):
    return load_spec(BUILTIN_DIR / name / "spec.yaml")


def few_rows(data_dir, tmp_path) -> list[str]:
    """150 rows (112 to train on) and a mixture of 150 components."""
    loans(data_dir).head(150).write_csv(tmp_path / "few.csv")
    spec = (data_dir / "loans.yaml").read_text().replace("min_rows: 200", "min_rows: 50")
    (tmp_path / "few.yaml").write_text(spec.replace("loans.csv", str(tmp_path / "few.csv")))
    (tmp_path / "settings.yaml").write_text("sampler: {n_components: 150}\n")
    return ["--spec", str(tmp_path / "few.yaml"), "--config", str(tmp_path / "settings.yaml")]


LOANS_SPEC = (
    "name: loans\nsource: loans.csv\ntarget: approved\npositive_label: 'yes'\n"
    "sensitive: [{column: gender, privileged: X}]\ncategorical: [job]\nnumeric: [age, income]\n"
)
CASES = [
    # values no model can use (ingest)
    ("inf", lambda d, t: csv_with(d, t, income=row(5, "inf", "income")), "holds 1 value(s) that are not finite"),
    ("nan", lambda d, t: csv_with(d, t, age=row(9, "NaN", "age")), "column 'age' in"),
    ("1e308", lambda d, t: csv_with(d, t, income=row(2, "1e308", "income")), "exceed ±9.0e+15"),
    ("1e309", lambda d, t: csv_with(d, t, age=row(0, "1e309", "age")), "not finite"),
    ("list column", lambda d, t: parquet_with(d, t, job=lambda n: pl.Series([["a"]] * n)), "holds nested values (List(String))"),
    ("struct column", lambda d, t: parquet_with(d, t, job=lambda n: pl.Series([{"k": 1}] * n)), "holds nested values (Struct("),
    # values the suite refuses (validate)
    ("all-null numeric", lambda d, t: csv_with(d, t, income=pl.lit(None, pl.String)), "column 'income' has no values"),
    ("all-null categorical", lambda d, t: csv_with(d, t, job=pl.lit(None, pl.String)), "column 'job' has no values"),
    ("one sensitive group", lambda d, t: csv_with(d, t, gender=pl.lit("M")), "sensitive column 'gender' has 1 group(s) ('M')"),
    ("privileged absent", lambda d, t: spec_with(d, t, LOANS_SPEC), "privileged value 'X' does not occur in sensitive column 'gender'"),
    ("more components than rows", few_rows, "sampler.n_components is 150 but loans has only 112 training rows"),
    # shipped datasets with planted faults
    ("adult inf", lambda d, t: shipped("adult", t, lambda f: f.with_columns(row(0, float("inf"), "age").alias("age"))), "column 'age' in"),
    ("adult men only", lambda d, t: shipped("adult", t, lambda f: f.filter(pl.col("sex") == "Male")), "sensitive column 'sex' has 1 group(s) ('Male')"),
    ("adult nested", lambda d, t: shipped("adult", t, lambda f: f.with_columns(pl.struct("occupation").alias("occupation"))), "column 'occupation' in"),
    ("compas empty column", lambda d, t: shipped("compas", t, lambda f: f.with_columns(pl.lit(None, pl.Int64).alias("priors_count"))), "column 'priors_count' has no values"),
    ("compas privileged renamed", lambda d, t: shipped("compas", t, lambda f: f.with_columns(pl.col("race").replace("Caucasian", "White"))), "privileged value 'Caucasian' does not occur in sensitive column 'race'"),
    # settings (refused before anything runs)
    ("beta inf", lambda d, t: config(d, t, "teacher: {beta: .inf}\n"), "teacher.beta: Input should be a finite number"),
    ("beta 1e308", lambda d, t: config(d, t, "teacher: {beta: 1.0e+308}\n"), "teacher.beta: Input should be less than or equal to 100000000"),
    ("device quantum", lambda d, t: config(d, t, "teacher: {device: quantum}\n"), "teacher.device: Input should be 'auto', 'cpu' or 'cuda'"),
    ("hidden -4", lambda d, t: config(d, t, "student: {hidden: [-4]}\n"), "student.hidden.0: Input should be greater than or equal to 1"),
    ("config scalar", lambda d, t: config(d, t, "42\n"), "must be a mapping of sections (teacher, student, sampler, generation, audit), got int"),
    ("config list", lambda d, t: config(d, t, "- teacher\n"), "got list"),
    ("config broken", lambda d, t: config(d, t, "teacher: {epochs: 2\n"), "is not valid YAML"),
    ("spec scalar", lambda d, t: spec_with(d, t, "loans\n"), "must be a mapping of fields (got str)"),
]  # fmt: skip


@pytest.fixture
def console_records():
    """What the calm console would show: every record that reaches the root logger and passes it."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(level=logging.DEBUG)
    handler.emit = records.append
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [r for r in records if CalmConsole().filter(r)]
    root.removeHandler(handler)


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(("build", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_input_exits_2_with_one_message_before_training(
    build, message, data_dir, tmp_path, lake, capsys, console_records
):
    args = build(data_dir, tmp_path)
    assert main(["refresh", *args]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert message in err
    assert err.count("fairdistill: error:") == 1
    # The console (app/logging.yml) shows a log record only if CalmConsole passes it: none of
    # those may carry a traceback (in-process, Prefect's default console prints them all).
    shown = console_records()
    assert not [r for r in shown if r.exc_info or "Traceback" in r.getMessage()], shown
    assert not (lake / "models").exists(), "something was trained"
    assert not (lake / "synthetic").exists(), "something was published"
