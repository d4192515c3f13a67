import json

import polars as pl
import pytest

from fairdistill import errors
from fairdistill.ingest import read_dataset, snapshot_dataset, split_holdout
from fairdistill.spec import load_builtin, load_spec


@pytest.fixture
def loans_spec(data_dir):
    return load_spec(data_dir / "loans.yaml")


def with_source(spec, path):
    return spec.model_copy(update={"source": str(path)})


def test_adult_is_normalised_to_its_spec():
    train, holdout, _ = read_dataset(load_builtin("adult"))
    assert (train.height, holdout.height) == (32_561, 16_281)
    # label variants of adult.test (">50K.") are rewritten; "?" becomes a real null
    assert sorted(holdout["income"].unique()) == ["<=50K", ">50K"]
    assert train["workclass"].null_count() == 1_836
    assert train.schema["age"] == pl.Int64 and train.schema["sex"] == pl.String
    assert train.columns == load_builtin("adult").modelled_columns


def test_compas_datetimes_parse_and_the_split_is_stratified():
    spec = load_builtin("compas")
    train, holdout, _ = read_dataset(spec)
    assert train.height + holdout.height == 6_172
    assert train.schema["c_jail_in"] == pl.Datetime("us")
    shares = (
        pl.concat(
            [train.with_columns(part=pl.lit("train")), holdout.with_columns(part=pl.lit("holdout"))]
        )
        .group_by("race", "two_year_recid")
        .agg((pl.col("part") == "holdout").mean().alias("share"))
    )
    assert shares["share"].min() > 0.17 and shares["share"].max() < 0.23


def test_split_is_seeded(loans_spec):
    frame = pl.read_csv(loans_spec.source_location())
    first = split_holdout(frame, loans_spec)[1]
    assert first.equals(split_holdout(frame, loans_spec)[1])
    reseeded = loans_spec.model_copy(
        update={"split": loans_spec.split.model_copy(update={"seed": 2})}
    )
    assert not first.equals(split_holdout(frame, reseeded)[1])


def test_fingerprint_is_stable_and_follows_the_inputs(loans_spec, data_dir):
    assert read_dataset(loans_spec)[2] == read_dataset(loans_spec)[2]
    other_data = with_source(loans_spec, data_dir / "loans_one_class.csv")
    other_spec = loans_spec.model_copy(update={"min_group_rows": 31})
    assert len({read_dataset(s)[2] for s in (loans_spec, other_data, other_spec)}) == 3


def test_missing_tokens_and_whitespace_are_normalised(loans_spec, tmp_path):
    path = tmp_path / "messy.csv"
    path.write_text("age,income,job,gender,approved\n 30 , 1.5, clerk ,F, yes\n40,?,?,M,no\n")
    train = pl.concat(read_dataset(with_source(loans_spec, path))[:2])
    assert train.sort("age").to_dicts() == [
        {"age": 30, "income": 1.5, "job": "clerk", "gender": "F", "approved": "yes"},
        {"age": 40, "income": None, "job": None, "gender": "M", "approved": "no"},
    ]


def test_snapshot_lands_in_the_lake(loans_spec, lake):
    snapshot = snapshot_dataset(loans_spec, "run-1")
    folder = lake / "raw" / "loans" / "run-1"
    assert snapshot.train_path == str(folder / "train.parquet")
    assert pl.read_parquet(snapshot.train_path).height == snapshot.train_rows
    assert snapshot.train_rows + snapshot.holdout_rows == 600 and 140 < snapshot.holdout_rows < 160
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["fingerprint"] == snapshot.fingerprint
    assert not list(folder.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("loans_empty.csv", r"loans_empty.csv has no data rows; give a file with a header"),
        ("does_not_exist.csv", r"source file .*does_not_exist.csv does not exist; set `source` in"),
        (
            "loans_no_target.csv",
            r"target column\(s\) 'approved' not in .*loans_no_target.csv \(found: "
            r"age, income, job, gender\); fix the column name in",
        ),
        (
            "loans_text_in_numeric.csv",
            r"column 'age' in .*loans_text_in_numeric.csv is declared numeric "
            r"but holds text in 6 row\(s\) \(e.g. 'forty'\)",
        ),
    ],
)
def test_structural_problems_stop_ingest_with_a_clear_message(loans_spec, data_dir, file, message):
    with pytest.raises(errors.DataError, match=message):
        read_dataset(with_source(loans_spec, data_dir / file))


def test_unknown_sensitive_column_is_named(data_dir):
    spec = load_spec(data_dir / "loans_unknown_sensitive.yaml")
    with pytest.raises(errors.DataError, match=r"sensitive column\(s\) 'sex' not in .*loans.csv"):
        read_dataset(spec)


def test_undeclared_columns_are_named(loans_spec):
    spec = loans_spec.model_copy(update={"categorical": []})
    with pytest.raises(
        errors.DataError, match=r"column\(s\) 'job' in .*loans.csv are not declared in"
    ):
        read_dataset(spec)


def test_header_only_csv_is_empty(loans_spec, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("age,income,job,gender,approved\n")
    with pytest.raises(errors.DataError, match="header.csv has no data rows"):
        read_dataset(with_source(loans_spec, path))


def test_parquet_and_fsspec_urls_are_read(loans_spec, tmp_path):
    path = tmp_path / "loans.parquet"
    pl.read_csv(loans_spec.source_location()).write_parquet(path)
    train, holdout, _ = read_dataset(with_source(loans_spec, f"file://{path}"))
    assert train.height + holdout.height == 600


@pytest.mark.parametrize("value", ["inf", "-inf", "NaN", "1e308", "1e16"])
def test_numbers_no_model_can_use_are_refused_with_the_column(loans_spec, tmp_path, value):
    text = loans_spec.source_location()
    lines = open(text).read().splitlines()
    lines[5] = lines[5].replace(lines[5].split(",")[1], value, 1)
    path = tmp_path / "loans.csv"
    path.write_text("\n".join(lines) + "\n")
    message = (
        rf"column 'income' in .*loans.csv is declared numeric but holds 1 value\(s\) that are not "
        rf"finite or exceed ±9.0e\+15 in magnitude \(e.g. '{value}'\)"
    )
    with pytest.raises(errors.DataError, match=message):
        read_dataset(with_source(loans_spec, path))


def test_nan_in_a_parquet_float_column_is_refused(loans_spec, tmp_path):
    frame = pl.read_csv(loans_spec.source_location())
    path = tmp_path / "loans.parquet"
    frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(float("nan"))
        .otherwise(pl.col("income"))
        .alias("income")
    ).write_parquet(path)
    with pytest.raises(errors.DataError, match=r"'income' .* holds 1 value\(s\) .* \(e.g. nan\)"):
        read_dataset(with_source(loans_spec, path))


@pytest.mark.parametrize(
    ("values", "dtype"),
    [([["a"], ["b", "c"]], "List(String)"), ([{"k": 1}, {"k": 2}], "Struct({'k': Int64})")],
)
def test_nested_columns_are_refused(loans_spec, tmp_path, values, dtype):
    frame = pl.read_csv(loans_spec.source_location())
    nested = pl.Series("job", [values[i % 2] for i in range(frame.height)])
    path = tmp_path / "loans.parquet"
    frame.with_columns(nested).write_parquet(path)
    with pytest.raises(errors.DataError) as raised:
        read_dataset(with_source(loans_spec, path))
    assert "loans.parquet holds nested values (" + dtype + "); fairdistill models" in str(
        raised.value
    )


def test_a_header_with_escaped_quotes_is_read_as_the_csv_standard_says(loans_spec, tmp_path):
    lines = open(loans_spec.source_location()).read().splitlines()
    lines[0] = lines[0].replace("job", '"job ""title"""')
    path = tmp_path / "quoted.csv"
    path.write_text("\n".join(lines) + "\n")
    spec = with_source(loans_spec, path).model_copy(update={"categorical": ['job "title"']})
    train, _, _ = read_dataset(spec)
    assert 'job "title"' in train.columns


# --- messy files, as spreadsheets and pandas write them ---------------------------------------

EUROPEAN = "id;amount;opened;region;default\n" + "".join(
    f"{i};{1000 + i * 7},{i % 100:02d};2024-0{1 + i % 9}-1{i % 10};{'north' if i % 3 else 'south'};"
    f"{'yes' if i % 4 == 0 else 'no'}\n"
    for i in range(300)
)
EUROPEAN_SPEC = {
    "name": "messy_loans",
    "source": "loans.csv",
    "target": "default",
    "positive_label": "no",
    "sensitive": [{"column": "region", "privileged": "north"}],
    "numeric": ["amount"],
    "datetime": ["opened"],
    "drop": ["id"],
}


def european(tmp_path, **changes):
    from fairdistill.spec import parse_spec

    (tmp_path / "loans.csv").write_text(EUROPEAN)
    (tmp_path / "spec.yaml").touch()
    return parse_spec({**EUROPEAN_SPEC, **changes}, "spec.yaml", spec_file=tmp_path / "spec.yaml")


def test_a_semicolon_csv_with_decimal_commas_reads_with_one_field_set(tmp_path):
    train, holdout, _ = read_dataset(european(tmp_path, decimal=","))  # delimiter: sniffed
    frame = pl.concat([train, holdout])
    assert frame.schema["amount"] == pl.Float64 and frame.schema["opened"] == pl.Date
    assert frame.filter(pl.col("amount") == 1007.01).height == 1


def test_decimal_commas_without_the_field_name_the_field(tmp_path):
    with pytest.raises(errors.DataError, match=r"decimal comma: set `decimal: ','` in"):
        read_dataset(european(tmp_path))


def test_the_slug_names_tools_and_the_display_name_stays(tmp_path):
    spec = european(tmp_path, decimal=",")
    assert (spec.name, spec.slug) == ("messy_loans", "messy-loans")
    snapshot = snapshot_dataset(spec, "run-1")
    assert "/raw/messy-loans/run-1/" in snapshot.train_path


@pytest.mark.parametrize("writer", ["parquet", "csv"])
def test_a_pandas_index_column_is_dropped(tmp_path, loans_spec, writer):
    frame = pl.read_csv(loans_spec.source_location()).to_pandas()
    path = tmp_path / f"loans.{writer}"
    if writer == "parquet":
        frame.index = frame.index + 10  # a non-default index is stored as __index_level_0__
        frame.to_parquet(path)
    else:
        frame.to_csv(path)  # index=True: a first column without a name
    train, holdout, _ = read_dataset(with_source(loans_spec, path))
    assert train.columns == loans_spec.modelled_columns
    assert train.height + holdout.height == 600


def test_the_delimiter_is_sniffed_and_a_wrong_one_names_the_field(loans_spec, data_dir):
    semicolons = with_source(loans_spec, data_dir / "loans_semicolon.csv")
    train, holdout, _ = read_dataset(semicolons)
    assert train.height + holdout.height == 600
    wrong = semicolons.model_copy(update={"delimiter": ","})
    with pytest.raises(errors.DataError, match=r"looks ';'-delimited: set `delimiter: ';'` in"):
        read_dataset(wrong)
