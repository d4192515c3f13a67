"""The library's one composition: fit a whole generator without Prefect, stage by stage."""

import polars as pl
import pytest

from fairdistill.settings import GenerationSettings, RefreshSettings
from models import pipeline
from models.bundle import FairDistillModel


@pytest.fixture(scope="module")
def settings(teacher_cfg, student_cfg):
    return RefreshSettings(
        teacher=teacher_cfg(rounds=3), student=student_cfg(rounds=2), sampler={"n_components": 3}
    )


@pytest.fixture(scope="module")
def fitted(toy, toy_spec, settings):
    rounds = []
    model = pipeline.fit_generator(
        toy[0], toy_spec, settings, on_round=lambda stage, losses: rounds.append(stage)
    )
    return model, rounds


def test_fit_generator_returns_a_model_that_generates(fitted, toy):
    model, rounds = fitted
    assert isinstance(model, FairDistillModel)
    assert rounds == ["teacher"] * 3 + ["student"] * 2
    assert set(model.labels.shifts) == {"dp", "eo"} and len(model.labels.shifts["dp"]) == 2
    assert model.label_model is not None  # a table's label comes from its drawn features
    rows = pl.concat(model.generate(300))
    assert rows.height == 300 and rows.schema == toy[0].schema


def test_fit_generator_is_deterministic_given_the_seeds(fitted, toy, toy_spec, settings):
    again = pipeline.fit_generator(toy[0], toy_spec, settings)
    a, b = (pl.concat(m.generate(500, GenerationSettings(seed=7))) for m in (fitted[0], again))
    assert a.equals(b)


def test_an_autoregressive_decoder_runs_every_stage_deterministically(
    toy, toy_spec, teacher_cfg, student_cfg
):
    settings = RefreshSettings(
        teacher=teacher_cfg(rounds=2, autoregressive=True), student=student_cfg(rounds=1)
    )
    models = [pipeline.fit_generator(toy[0], toy_spec, settings) for _ in range(2)]
    assert models[0].teacher.decoder.earlier is not None
    for mode in ("dp", "eo", "faithful", "counterfactual"):
        a, b = (pl.concat(m.generate(400, GenerationSettings(mode=mode, seed=3))) for m in models)
        assert a.equals(b) and a.schema == toy[0].schema


def test_each_stage_is_a_function(toy, toy_spec, settings):
    frame = toy[0]
    codec = pipeline.fit_codec(frame, toy_spec)
    x, s = codec.encode(frame)
    teacher, history = pipeline.fit_teacher(codec, x, s, settings.teacher)
    assert len(history) == settings.teacher.rounds
    student, _ = pipeline.fit_student(teacher, x, s, settings.student)
    sampler = pipeline.fit_sampler(student, x, s, settings.sampler)
    assert sampler.sample(10).shape == (10, settings.teacher.latent_dim)
    assert pipeline.encode_rate(student, x, s) > 0
    model = FairDistillModel(codec, teacher, student, sampler)
    label_model, labels = pipeline.fit_labels(model, frame, toy_spec, settings.sampler)
    assert label_model is not None and model.label_model is None  # returned, not set
    assert labels.positive_index == codec.target_block_.categories.index(">50K")
    assert labels.proxy_steps == {"dp": 1, "eo": 3}  # 1,500 rows: one dp step, the fairest not kept


def test_synthetic_rows_drop_the_excluded_rows(fitted, toy):
    plain = pl.concat(pipeline.synthetic_rows(fitted[0], 200))
    excluded = plain.unique(maintain_order=True).head(3)  # rows the generator certainly makes
    rows = pl.concat(pipeline.synthetic_rows(fitted[0], 200, exclude=excluded))
    assert rows.height == 200
    assert rows.join(excluded, on=excluded.columns, how="semi").height == 0


def test_a_table_without_copies_is_drawn_once(fitted):
    """No training row is met: the copy policy returns the rows `generate` makes, and draws no
    more (the rows asked for, not MAX_DRAWS times as many)."""
    model = fitted[0]
    settings = GenerationSettings(seed=2, chunk_size=150)
    asked = []

    class Counting:
        codec = model.codec

        def generate(self, n, settings, first_chunk=0):
            asked.append((n, first_chunk))
            return model.generate(n, settings, first_chunk=first_chunk)

    made = pl.concat(model.generate(400, settings))
    other = pl.concat(model.generate(400, GenerationSettings(seed=99)))
    elsewhere = other.join(made, on=made.columns, how="anti")  # a training table none copies
    assert elsewhere.height > 0
    rows = pl.concat(pipeline.synthetic_rows(Counting(), 400, settings, exclude=elsewhere))
    assert rows.equals(made)
    assert asked == [(400, 0)]
    empty = pl.concat(pipeline.synthetic_rows(model, 400, settings, exclude=made.head(0)))
    assert empty.equals(made)


def test_replacement_draws_continue_the_stream(fitted):
    """A later call continues the chunk stream (`first_chunk`: other draws), and the rows set
    aside as copies are replaced."""
    model = fitted[0]
    settings = GenerationSettings(seed=2, chunk_size=150)
    first = pl.concat(model.generate(400, settings))
    later = pl.concat(model.generate(400, settings, first_chunk=3))  # 400 rows = 3 chunks
    assert not first.equals(later)
    excluded = first.unique(maintain_order=True).head(5)
    rows = pl.concat(pipeline.synthetic_rows(model, 400, settings, exclude=excluded))
    assert rows.height == 400
    assert rows.join(excluded, on=excluded.columns, how="semi").height == 0


def test_write_synthetic_table_streams_chunks(fitted, tmp_path):
    chunks = fitted[0].generate(1_000, GenerationSettings(chunk_size=300))
    rows, rate = pipeline.write_synthetic_table(chunks, tmp_path / "t.parquet")
    assert rows == pl.read_parquet(tmp_path / "t.parquet").height == 1_000 and rate > 0


@pytest.fixture(scope="module")
def repetitive(fitted):
    """A 'training table' drawn from the model itself: half its rows repeat, half are unique."""
    rows = pl.concat(fitted[0].generate(3_000, GenerationSettings(seed=11)))
    return rows


def test_copies_never_reproduce_a_unique_training_row(fitted, repetitive):
    unique = repetitive.filter(~repetitive.is_duplicated())
    rows = pl.concat(pipeline.synthetic_rows(fitted[0], 1_000, exclude=repetitive))
    assert rows.height == 1_000
    assert rows.join(unique, on=unique.columns, how="semi").height == 0


def test_common_copies_stay_under_the_tables_own_duplicate_rate(fitted, repetitive):
    from fairdistill.metrics import duplicate_rate, exact_copy_rate

    rows = pl.concat(pipeline.synthetic_rows(fitted[0], 1_000, exclude=repetitive))
    rate = exact_copy_rate(repetitive, rows)
    assert 0 < rate <= duplicate_rate(repetitive)


def test_generation_never_fails_because_of_copies(fitted, caplog):
    everything = pl.concat(fitted[0].generate(2_000, GenerationSettings(seed=5)))
    # Every row the model makes is in this 'training table': no draw is new.
    rows = pl.concat(pipeline.synthetic_rows(fitted[0], 300, exclude=everything.head(1_000)))
    assert rows.height == 300


def test_the_label_model_is_saved_and_read_back(fitted, tmp_path):
    model, _ = fitted
    model.save(tmp_path)
    loaded = FairDistillModel.load(tmp_path)
    settings = GenerationSettings(seed=4)
    assert pl.concat(loaded.generate(400, settings)).equals(
        pl.concat(model.generate(400, settings))
    )
