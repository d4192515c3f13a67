import pytest

from fairdistill.errors import SpecError
from fairdistill.spec import BUILTIN_DIR, DatasetSpec, load_builtin, load_spec, parse_spec

MINIMAL = {
    "name": "toy",
    "source": "toy.csv",
    "target": "y",
    "positive_label": 1,
    "sensitive": [{"column": "s", "privileged": 0}],
    "numeric": ["x"],
}


@pytest.mark.parametrize("name", ["adult", "compas"])
def test_builtin_specs_load_and_point_at_shipped_files(name):
    spec = load_builtin(name)
    assert spec.name == name
    assert spec.source_location().startswith(str(BUILTIN_DIR / name))
    assert spec.target in spec.modelled_columns


def test_adult_spec_declares_target_sensitive_and_holdout():
    spec = load_builtin("adult")
    assert (spec.target, spec.positive_label, spec.sensitive_columns) == ("income", ">50K", ["sex"])
    assert spec.holdout_location().endswith("adult/holdout.parquet")
    assert load_builtin("compas").holdout_location() is None


def test_labels_and_privileged_values_are_text():
    spec = parse_spec(MINIMAL, "toy.yaml")
    assert spec.positive_label == "1"
    assert spec.sensitive[0].privileged == "0"


def test_misspelled_field_is_named_with_a_suggestion():
    bad = {**MINIMAL, "targt": "y"}
    with pytest.raises(
        SpecError,
        match=r"field 'targt' is not a known field \(did you mean 'target'\? valid: name, source, format, delimiter, decimal",
    ):
        parse_spec(bad, "toy.yaml")


def test_missing_required_field_is_named():
    bad = {key: value for key, value in MINIMAL.items() if key != "target"}
    with pytest.raises(
        SpecError, match=r"invalid dataset spec toy.yaml: field 'target' is required"
    ):
        parse_spec(bad, "toy.yaml")


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"split": {"holdout_fraction": 1.5}}, "split.holdout_fraction"),
        ({"name": "Bad/Name"}, "name"),
        ({"sensitive": []}, "sensitive"),
        ({"format": "xlsx"}, "format"),
        ({"min_group_rows": 0}, "min_group_rows"),
    ],
)
def test_out_of_bounds_settings_name_the_field(update, field):
    with pytest.raises(SpecError, match=rf"field '{field}'"):
        parse_spec({**MINIMAL, **update}, "toy.yaml")


def test_a_column_declared_twice_is_rejected():
    with pytest.raises(
        SpecError,
        match="column 'x' is declared both as categorical and as numeric; declare each column once",
    ):
        parse_spec({**MINIMAL, "categorical": ["x"]}, "toy.yaml")


def test_relative_paths_resolve_against_the_spec_file(data_dir):
    spec = load_spec(data_dir / "loans.yaml")
    assert spec.source_location() == str(data_dir / "loans.csv")
    assert spec.absolute().origin == str(data_dir / "loans.yaml")
    assert spec.absolute().source == str(data_dir / "loans.csv")


def test_builtin_sources_stay_portable_as_parameters():
    spec = load_builtin("adult").absolute()
    assert spec.source == "adult" and spec.split.holdout == "adult"
    round_trip = DatasetSpec.model_validate(spec.model_dump(mode="json"))
    assert round_trip.source_location() == spec.source_location()


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="spec file .*nope.yaml does not exist"):
        load_spec(tmp_path / "nope.yaml")


def test_parameter_schema_hides_spec_file():
    assert "spec_file" not in DatasetSpec.model_json_schema()["properties"]
