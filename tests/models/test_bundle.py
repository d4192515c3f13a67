"""FairDistillModel end to end on the planted-bias toy table: fairness per mode, determinism,
save/load."""

import dataclasses

import polars as pl
import pytest
import torch

from fairdistill.settings import GenerationSettings as G
from models.bundle import FILES, FairDistillModel, build_model, parts_digest
from models.calibration import calibrate_labels
from models.label_model import fit_label_model
from models.samplers import GaussianMixtureSampler
from models.student import distill
from models.teacher import head_spec, train_teacher


@pytest.fixture(scope="module")
def model(toy, toy_spec, teacher_cfg, student_cfg):
    _, codec, x, s = toy
    tcfg, scfg = teacher_cfg(rounds=15, beta=10.0), student_cfg(rounds=8, beta=10.0)
    teacher, _ = train_teacher(x, s, head_spec(codec.blocks_), tcfg)
    student, _ = distill(teacher, x, s, scfg)
    with torch.no_grad():
        mu, _ = student(torch.as_tensor(x), torch.as_tensor(s))
    sampler = GaussianMixtureSampler(n_components=3).fit(mu.numpy())
    model = build_model(codec, teacher, student, sampler, tcfg, scfg)
    model.labels = calibrate_labels(model, toy[0], toy_spec, seed=0)
    return model


def positive_rates(frame: pl.DataFrame) -> dict[str, float]:
    rates = frame.group_by("sex").agg((pl.col("income") == ">50K").mean().alias("p"))
    return dict(rates.iter_rows())


def dpr(frame: pl.DataFrame) -> float:
    rates = positive_rates(frame).values()
    return min(rates) / max(rates)


def test_real_data_is_biased(toy):
    assert dpr(toy[0]) < 0.4


def test_dp_is_fair_and_faithful_keeps_bias(model):
    fair = pl.concat(model.generate(8000, G(seed=1, chunk_size=3000)))
    faithful = pl.concat(model.generate(8000, G(seed=1, mode="faithful")))
    assert fair.height == faithful.height == 8000
    assert dpr(fair) > 0.9
    assert dpr(faithful) < 0.5


def test_a_model_without_label_offsets_says_what_to_do(model):
    from dataclasses import replace

    from fairdistill.errors import ModelError

    bare = replace(model, labels=None)
    with pytest.raises(ModelError, match="no label offsets for decode mode 'dp'"):
        next(bare.generate(10))
    assert next(bare.generate(10, G(mode="faithful"))).height == 10


def test_generate_is_deterministic_and_typed(model, toy):
    a = pl.concat(model.generate(1000, G(seed=3, chunk_size=400)))
    b = pl.concat(model.generate(1000, G(seed=3, chunk_size=400)))
    c = pl.concat(model.generate(1000, G(seed=4, chunk_size=400)))
    assert a.equals(b) and not a.equals(c)
    assert a.schema == toy[0].schema
    assert [f.height for f in model.generate(1000, G(seed=3, chunk_size=400))] == [400, 400, 200]


@pytest.mark.parametrize("mode", ["dp", "counterfactual"])
def test_the_rows_do_not_depend_on_how_many_chunks_are_made_side_by_side(model, monkeypatch, mode):
    def rows(threads: int) -> pl.DataFrame:
        monkeypatch.setenv("FAIRDISTILL_GENERATE_THREADS", str(threads))
        return pl.concat(model.generate(1000, G(seed=5, chunk_size=150, mode=mode)))

    one = rows(1)
    assert one.equals(rows(3)) and one.height == 1000
    # chunks differ from one another: each has seeds of its own
    assert not one.head(150).equals(one.slice(150, 150))


def test_a_consumer_that_stops_early_gets_its_chunks_in_order(model, monkeypatch):
    monkeypatch.setenv("FAIRDISTILL_GENERATE_THREADS", "2")
    whole = pl.concat(model.generate(2000, G(seed=6, chunk_size=100)))
    chunks = model.generate(2000, G(seed=6, chunk_size=100))
    first = [next(chunks) for _ in range(3)]
    chunks.close()  # the chunks not yet started are dropped
    assert pl.concat(first).equals(whole.head(300))


def test_counterfactual_rows(model):
    frame = pl.concat(model.generate(100, G(mode="counterfactual")))
    assert frame.height == 100
    assert frame["sex"].to_list()[:4] == ["F", "M", "F", "M"]


def test_repair_and_latent(model, toy):
    frame = toy[0].head(200)
    twin = model.repair(frame)
    assert twin.height == 200 and twin["sex"].equals(frame["sex"])
    assert model.encode_latent(frame).shape == (200, 4)


def test_save_load_round_trip(model, tmp_path):
    model.save(tmp_path)
    loaded = FairDistillModel.load(tmp_path)
    a = pl.concat(model.generate(500, G(seed=2)))
    b = pl.concat(loaded.generate(500, G(seed=2)))
    assert a.equals(b)
    assert loaded.teacher_config == model.teacher_config
    assert loaded.labels == model.labels


def test_the_parts_digest_names_the_model_not_the_folder(model, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    model.save(first)
    model.save(second)
    assert parts_digest(first) == parts_digest(second)  # the same model, saved twice
    sampler = second / FILES["sampler"]
    sampler.write_text(sampler.read_text().replace("0", "1", 1))
    assert parts_digest(first) != parts_digest(second)
    model.save(second)
    labels = second / FILES["labels"]
    labels.write_text(labels.read_text().replace("1", "2", 1))
    assert parts_digest(first) != parts_digest(second)


def test_the_parts_digest_reads_a_label_model_without_indicators(model, toy, tmp_path):
    # the toy has neither nulls nor point masses: the label model's indicator buffers are empty
    _, _, x, s = toy
    label_model, _ = fit_label_model(x, s, model.teacher.layout, seed=0, device="cpu")
    assert label_model.indicator_columns.numel() == 0
    with_labels = dataclasses.replace(model, label_model=label_model)
    with_labels.save(tmp_path / "a")
    with_labels.save(tmp_path / "b")
    assert parts_digest(tmp_path / "a") == parts_digest(tmp_path / "b")
