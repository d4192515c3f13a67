"""The library's one composition: fit a whole generator without Prefect, stage by stage."""

import polars as pl
import pytest

from fairdistill.settings import GenerationSettings, RefreshSettings
from fairdistill.spec import DatasetSpec
from models import pipeline
from models.bundle import FairDistillModel

SPEC = DatasetSpec(
    name="toy",
    source="toy.parquet",
    target="income",
    positive_label=">50K",
    sensitive=[{"column": "sex", "privileged": "M"}],
    categorical=["job"],
    numeric=["hours"],
)


@pytest.fixture(scope="module")
def settings(teacher_cfg, student_cfg):
    return RefreshSettings(
        teacher=teacher_cfg(epochs=3), student=student_cfg(epochs=2), sampler={"n_components": 3}
    )


@pytest.fixture(scope="module")
def fitted(toy, settings):
    epochs = []
    model = pipeline.fit_generator(
        toy[0], SPEC, settings, on_epoch=lambda stage, losses: epochs.append(stage)
    )
    return model, epochs


def test_fit_generator_returns_a_model_that_generates(fitted, toy):
    model, epochs = fitted
    assert isinstance(model, FairDistillModel)
    assert epochs == ["teacher"] * 3 + ["student"] * 2
    rows = pl.concat(model.generate(300))
    assert rows.height == 300 and rows.schema == toy[0].schema


def test_fit_generator_is_deterministic_given_the_seeds(fitted, toy, settings):
    again = pipeline.fit_generator(toy[0], SPEC, settings)
    a, b = (pl.concat(m.generate(500, GenerationSettings(seed=7))) for m in (fitted[0], again))
    assert a.equals(b)


def test_each_stage_is_a_function(toy, settings):
    frame = toy[0]
    codec = pipeline.fit_codec(frame, SPEC)
    x, s = codec.encode(frame)
    teacher, history = pipeline.fit_teacher(codec, x, s, settings.teacher)
    assert len(history) == settings.teacher.epochs
    student, _ = pipeline.fit_student(teacher, x, s, settings.student)
    sampler = pipeline.fit_sampler(student, x, s, settings.sampler)
    assert sampler.sample(10).shape == (10, settings.teacher.latent_dim)
    assert pipeline.encode_rate(student, x, s) > 0


def test_synthetic_rows_drop_the_excluded_rows(fitted, toy):
    plain = pl.concat(pipeline.synthetic_rows(fitted[0], 200))
    excluded = plain.unique(maintain_order=True).head(3)  # rows the generator certainly makes
    rows = pl.concat(pipeline.synthetic_rows(fitted[0], 200, exclude=excluded))
    assert rows.height == 200
    assert rows.join(excluded, on=excluded.columns, how="semi").height == 0


def test_write_synthetic_table_streams_chunks(fitted, tmp_path):
    chunks = fitted[0].generate(1_000, GenerationSettings(chunk_size=300))
    rows, rate = pipeline.write_synthetic_table(chunks, tmp_path / "t.parquet")
    assert rows == pl.read_parquet(tmp_path / "t.parquet").height == 1_000 and rate > 0
