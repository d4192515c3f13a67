"""Settings: one typed model per section; bad values are clear messages, never tracebacks."""

import math

import pytest

from fairdistill.errors import SettingsError
from fairdistill.settings import (
    SECTIONS,
    GateThresholds,
    GenerationSettings,
    RefreshSettings,
    load_settings,
    parse_settings,
)


def test_defaults_form_a_whole_refresh():
    settings = RefreshSettings()
    assert SECTIONS == ("teacher", "student", "sampler", "generation", "audit")
    assert settings.student.hidden is None and settings.teacher.steps is None
    assert settings.seeds() == dict.fromkeys(SECTIONS, 0)
    assert "device" not in settings.model_key()["teacher"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"teacher": {"beta": math.inf}}, "teacher.beta: Input should be a finite number"),
        ({"teacher": {"beta": math.nan}}, "teacher.beta: Input should be a finite number"),
        (
            {"teacher": {"beta": 1e308}},
            "teacher.beta: Input should be less than or equal to 100000000",
        ),
        (
            {"teacher": {"hidden": [-4]}},
            "teacher.hidden.0: Input should be greater than or equal to 1",
        ),
        ({"teacher": {"hidden": []}}, "teacher.hidden: List should have at least 1 item"),
        (
            {"student": {"device": "quantum"}},
            "student.device: Input should be 'auto', 'cpu' or 'cuda'",
        ),
        ({"sampler": {"name": "vae"}}, "sampler.name: Input should be 'gmm', 'ddpm' or 'prior'"),
        ({"teacher": {"epochz": 3}}, "'teacher.epochz' is not a known setting"),
        ({"trainer": {}}, "'trainer' is not a known setting"),
        ({"generation": {"mode": "faithful", "fairness": 0.5}}, "fairness applies only to mode(s)"),
        (
            {"generation": {"mode": "label-fair"}},
            "generation.mode: Input should be 'dp', 'eo', 'faithful' or 'counterfactual'",
        ),
        (
            {"audit": {"gate": {"min_fairness_ratio": 2}}},
            "audit.gate.min_fairness_ratio: Input should be less",
        ),
    ],
)
def test_bad_values_name_the_setting(data, message):
    with pytest.raises(SettingsError) as error:
        parse_settings(data, "test.yaml")
    assert message in str(error.value)
    assert str(error.value).startswith("invalid settings in test.yaml: ")


@pytest.mark.parametrize(("text", "kind"), [("3", "int"), ("- a\n- b", "list")])
def test_a_settings_file_must_be_a_mapping(tmp_path, text, kind):
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=f"must be a mapping of sections .* got {kind}"):
        load_settings(path)


def test_broken_yaml_and_a_missing_file_are_clear(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("teacher: {epochs: [")
    with pytest.raises(SettingsError, match="is not valid YAML"):
        load_settings(path)
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_an_empty_file_means_the_defaults(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("")
    assert load_settings(path) == RefreshSettings()


def test_fast_settings_file_loads(data_dir):
    settings = load_settings(data_dir / "fast.yaml")
    assert settings.teacher.rounds == 2 and settings.audit.gate.min_fairness_ratio == 0.0


def test_decode_options_are_the_generation_fields_a_model_needs():
    options = GenerationSettings(mode="eo", fairness=0.5, label_temperature=0.5).decode_options()
    assert options == {"mode": "eo", "fairness": 0.5, "label_temperature": 0.5}


@pytest.mark.parametrize(
    ("mode", "criterion"),
    [("dp", "dp"), ("eo", "eo"), ("faithful", "dp"), ("counterfactual", "dp")],
)
def test_the_audit_criterion_follows_the_decode_mode(mode, criterion):
    assert GenerationSettings(mode=mode).criterion == criterion
    assert GenerationSettings().mode == "dp"


def test_the_default_network_follows_the_table():
    """Two layers of the encoded width (a power of two in [128, 256]); the student one layer of
    7/16 of it; the mixture a component per 250 rows in [4, 20]."""
    from fairdistill.settings import SamplerSettings, StudentSettings, TeacherSettings

    assert TeacherSettings().for_table(4_938, 13).hidden == [128, 128]
    assert TeacherSettings().for_table(32_561, 107).hidden == [128, 128]
    assert TeacherSettings().for_table(32_561, 400).hidden == [256, 256]
    assert StudentSettings().for_table(32_561, 107).hidden == [56]
    assert TeacherSettings(hidden=[7]).for_table(100, 400).hidden == [7]
    assert [SamplerSettings().components(n) for n in (300, 4_938, 32_561)] == [4, 19, 20]
    assert SamplerSettings(n_components=3).components(32_561) == 3


def test_the_form_schema_carries_bounds_and_choices():
    schema = RefreshSettings.model_json_schema()
    teacher = schema["$defs"]["TeacherSettings"]["properties"]
    (widths, _) = teacher["hidden"]["anyOf"]  # a list of widths, or null: adapt to the table
    assert widths["items"] == {"maximum": 4096, "minimum": 1, "type": "integer"}
    assert teacher["device"]["enum"] == ["auto", "cpu", "cuda"]
    assert schema["$defs"]["TeacherSettings"]["additionalProperties"] is False


def test_every_gate_threshold_says_which_way_is_stricter():
    """`GateThresholds.looser_than` reads the direction from the name (min_… or max_…) or, for
    a switch, on is looser."""
    fields = GateThresholds.model_fields
    assert all(
        name.startswith(("min_", "max_")) or field.annotation is bool
        for name, field in fields.items()
    )
    loose = GateThresholds(min_fairness_ratio=0.0, max_auroc_gap=1.0, max_copy_rate_excess=1.0)
    strict = GateThresholds(unresolved_by_interval=False)
    assert loose.looser_than(strict) == list(fields)
    assert strict.looser_than(loose) == []


def test_the_configured_gate_outside_a_deployment_comes_from_the_environment(monkeypatch):
    from fairdistill.settings import GateThresholds, configured_gate_from_environment

    assert configured_gate_from_environment() == GateThresholds()
    monkeypatch.setenv("FAIRDISTILL_CONFIGURED_GATE", '{"max_auroc_gap": 0.07}')
    assert configured_gate_from_environment() == GateThresholds(max_auroc_gap=0.07)
    monkeypatch.setenv("FAIRDISTILL_CONFIGURED_GATE", '{"max_auroc_gap": -1}')
    with pytest.raises(SettingsError, match="FAIRDISTILL_CONFIGURED_GATE: max_auroc_gap"):
        configured_gate_from_environment()


def test_a_built_in_dataset_starts_from_its_tuned_settings_and_given_fields_win():
    from fairdistill.settings import TeacherSettings, dataset_settings, tuned_settings_file

    tuned = dataset_settings("colored-mnist")
    assert tuned_settings_file("colored-mnist-mod3") == tuned_settings_file("colored-mnist")
    assert (tuned.teacher.kl_weight, tuned.generation.mode) == (0.02, "counterfactual")
    given = dataset_settings("colored-mnist", teacher=TeacherSettings(steps=300), audit=None)
    assert (given.teacher.steps, given.teacher.kl_weight) == (300, 0.02)  # one field replaced
    assert dataset_settings("adult") == dataset_settings("no-such-dataset") == RefreshSettings()
