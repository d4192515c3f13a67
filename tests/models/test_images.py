"""The image path of the one flow: convolutional networks picked from the codec's layout, the shared
stages and decode modes, counterfactual twins and determinism. One tiny model, trained once."""

import numpy as np
import polars as pl
import pytest
import torch
from scipy.stats import spearmanr

from fairdistill.images import pixel_array
from fairdistill.ingest import read_dataset
from fairdistill.settings import (
    GateThresholds,
    GenerationSettings,
    RefreshSettings,
    StudentSettings,
    TeacherSettings,
)
from fairdistill.spec import load_builtin
from models.bundle import FairDistillModel
from models.conv import ConvDecoder, ConvEncoder
from models.image_audit import check_image_gate
from models.pipeline import fit_codec, fit_generator, synthetic_rows
from models.student import count_parameters, make_student
from models.teacher import HeadLayout, TeacherVAE, head_spec

COLOURS = {"red", "green", "blue"}


def tiny_settings() -> RefreshSettings:
    return RefreshSettings.model_validate(
        {
            "teacher": {
                "steps": 15,
                "rounds": 3,
                "batch_size": 64,
                "hidden": [64],
                "latent_dim": 6,
            },
            "student": {"steps": 10, "rounds": 2, "batch_size": 64, "hidden": [16]},
            "sampler": {"n_components": 4},
        }
    )


@pytest.fixture(scope="module")
def data():
    spec = load_builtin("colored-mnist")
    train, holdout, _ = read_dataset(spec)
    return spec, train.head(300), holdout.head(150)


@pytest.fixture(scope="module")
def model(data):
    spec, train, _ = data
    return fit_generator(train, spec, tiny_settings())


@pytest.mark.parametrize("shape", [(3, 14, 14), (1, 28, 20), (3, 9, 7)])
def test_conv_networks_fit_any_image_size(shape):
    pixels = int(np.prod(shape))
    layout = HeadLayout([["image", pixels, shape], ["categorical", 2]])
    teacher = TeacherVAE(layout.spec, 3, latent_dim=5, hidden=[16], channels=[4, 8, 8])
    x, s = torch.rand(4, pixels + 2), torch.eye(3)[[0, 1, 2, 0]]
    mu, logvar = teacher.encoder(x, s)
    assert isinstance(teacher.encoder, ConvEncoder) and isinstance(teacher.decoder, ConvDecoder)
    assert mu.shape == logvar.shape == (4, 5)
    assert teacher.decoder(mu, s).shape == (4, layout.out_dim) == (4, pixels + 2)


def test_the_student_has_at_most_a_quarter_of_the_teacher_encoders_parameters(data):
    spec, train, _ = data
    codec = fit_codec(train, spec)
    layout = HeadLayout(head_spec(codec.blocks_))
    sizes = (train.height, layout.x_dim)  # the defaults as filled in for this table
    teacher_settings = TeacherSettings().for_table(*sizes)
    teacher = TeacherVAE(layout.spec, 3, 12, teacher_settings.hidden, teacher_settings.channels)
    defaults = StudentSettings().for_table(*sizes)
    student = make_student(layout, 3, 12, defaults.hidden, defaults.channels)
    assert count_parameters(student) <= count_parameters(teacher.encoder) / 4


def test_synthetic_images_carry_png_bytes_a_label_and_a_group(model, data):
    spec, train, _ = data
    table = pl.concat(list(synthetic_rows(model, 250, GenerationSettings(chunk_size=100))))
    assert table.columns == ["image", "label", "colour"] and table.height == 250
    assert pixel_array(table["image"], (3, 14, 14)).shape == (250, 3, 14, 14)
    assert set(table["label"]) <= {0, 1} and set(table["colour"]) <= set(COLOURS)


def test_counterfactual_decode_changes_only_the_colour_statistics(model):
    """Each z decoded in every group: the twins share the label and the shape (every channel of
    every twin orders the pixels as the others do: a monotone map of one structure map), and
    differ in their colours (the channels' means)."""
    twins = next(model.generate(3 * 40, GenerationSettings(mode="counterfactual")))
    pixels = pixel_array(twins["image"], (3, 14, 14)).astype(float).reshape(40, 9, 14 * 14)
    labels = twins["label"].to_numpy().reshape(40, 3)
    assert (labels == labels[:, :1]).all()
    assert (twins["colour"].to_numpy().reshape(40, 3) == ["blue", "green", "red"]).all()
    for code in pixels:
        varying = code[code.std(1) > 2.0]  # channels with a visible pattern
        order = np.abs(spearmanr(varying, axis=1).statistic)
        assert len(varying) >= 3 and order.min() > 0.95
        means = code.mean(1).reshape(3, 3)
        assert np.abs(means[0] - means[1]).max() > 1.0 and np.abs(means[1] - means[2]).max() > 1.0


def test_generation_is_deterministic_given_the_seed(model, data, tmp_path):
    spec, train, _ = data
    settings = GenerationSettings(seed=3, chunk_size=100)
    first = pl.concat(list(model.generate(150, settings)))
    assert first.equals(pl.concat(list(model.generate(150, settings))))
    model.save(tmp_path)
    assert first.equals(pl.concat(list(FairDistillModel.load(tmp_path).generate(150, settings))))
    again = fit_generator(train, spec, tiny_settings())  # retrained from scratch, same seeds
    assert first.equals(pl.concat(list(again.generate(150, settings))))
    other = GenerationSettings(seed=4, chunk_size=100)
    assert not first.equals(pl.concat(list(model.generate(150, other))))


def test_the_image_gate_holds_the_cnn_to_the_fair_reference_when_there_is_one():
    metrics = {
        "tstr.cnn.dpr": 0.9,
        "tstr.cnn.auroc": 0.88,
        "trtr.cnn.auroc": 0.80,
        "privacy.exact_copy_rate": 0.0,
        "privacy.holdout_copy_rate": 0.0,
    }
    gate = GateThresholds(max_auroc_gap=0.05)
    assert all(check.passed for check in check_image_gate(metrics, gate))
    (failed,) = [
        check
        for check in check_image_gate({**metrics, "fair.cnn.auroc": 0.95}, gate)
        if not check.passed
    ]
    assert failed.name == "tstr_auroc" and failed.threshold == pytest.approx(0.90)
    assert failed.origin == "fair reference AUROC 0.950 − audit.gate.max_auroc_gap 0.05"
