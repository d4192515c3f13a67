"""The label calibration stage on toy tables with a planted bias: the dp and eo modes do what their
criterion says, for one sensitive column and for the intersections of two."""

import numpy as np
import polars as pl
import pytest
import torch

from fairdistill.metrics import demographic_parity_ratio, equalized_odds_ratio, fit_predict
from fairdistill.settings import GenerationSettings, RefreshSettings
from fairdistill.spec import DatasetSpec
from models import calibration, pipeline
from models.calibration import EO_PROXY_STEPS, label_probability_by_group
from models.decoding import decode_latent

ROWS = 20_000
COLUMNS = {
    "target": "income",
    "positive_label": ">50K",
    "sensitive": ["sex"],
    "categorical": ["job"],
    "numeric": ["hours"],
}


@pytest.fixture(scope="module")
def settings(teacher_cfg, student_cfg):
    return RefreshSettings(
        teacher=teacher_cfg(rounds=10, steps=400, hidden=[64, 64], latent_dim=6),
        student=student_cfg(rounds=4, steps=120, hidden=[16]),
        sampler={"n_components": 6},
    )


@pytest.fixture(scope="module")
def toy_model(make_biased_frame, toy_spec, settings):
    """4,000 rows (enough for the dp proxy step) of the planted-bias table."""
    train = make_biased_frame(n=4000, seed=1)
    return train, pipeline.fit_generator(train, toy_spec, settings)


def rates(frame: pl.DataFrame, sensitive: list[str], target="income", positive=">50K") -> list:
    by_group = frame.group_by(sensitive).agg((pl.col(target) == positive).mean().alias("p"))
    return by_group.sort(sensitive)["p"].to_list()


def test_dp_equalises_the_positive_rate_up_to_noise(toy_model):
    train, model = toy_model
    real = rates(train, ["sex"])
    assert max(real) - min(real) > 0.4  # the planted bias
    table = pl.concat(model.generate(ROWS, GenerationSettings(seed=3)))
    dp = rates(table, ["sex"])
    assert max(dp) - min(dp) < 0.03  # ≈ 3 standard errors of a rate from 8,000 rows
    assert model.labels.proxy_steps == {"dp": 1, "eo": EO_PROXY_STEPS}


def test_dp_keeps_the_order_of_the_label_probability_inside_each_group(toy_model):
    """Latent codes with a higher faithful P(y=1|z,s) stay likelier positives after the shift:
    half the codes, those above the group's median, get far more positive labels."""
    _, model = toy_model
    z = model.sampler.sample(ROWS, random_state=5)
    p = label_probability_by_group(model, z, model.labels.positive_index, seed=6)
    for group in range(2):
        high = p[group] > np.median(p[group])
        values, _ = decode_latent(
            model.teacher.decoder,
            model.teacher.layout,
            torch.as_tensor(z),
            model.codec.group_freq_,
            model.target_index,
            GenerationSettings(),
            torch.Generator().manual_seed(group),
            torch.full((ROWS,), group),
            label_offsets=model.labels.offsets("dp"),
            label_model=model.label_model,
        )
        positive = values[model.target_index] == model.labels.positive_index
        assert positive[high].mean() > positive[~high].mean() + 0.1


def test_the_criteria_give_the_same_shifts_in_any_order(toy_model, toy_spec, monkeypatch):
    """The dp and eo proxy steps run on two threads, so which finishes a step first varies; each
    criterion's tables are seeded by its own steps, so its shifts do not depend on that order."""
    train, model = toy_model
    together = calibration.calibrate_labels(model, train, toy_spec, seed=4)
    backwards = lambda parts: [part() for part in reversed(parts)][::-1]  # noqa: E731
    monkeypatch.setattr(calibration, "side_by_side", backwards)
    eo_first = calibration.calibrate_labels(model, train, toy_spec, seed=4)
    assert together.shifts == eo_first.shifts
    assert together.shifts != model.labels.shifts  # another seed: other tables, other shifts


# Tables drawn from one model for a model-level check: one table's classifier moves a toy's ratio
# by ±0.1 (the same test read 0.79 on one CPU and above 0.8 on another), their mean far less.
DRAWS = (4, 0, 1)


def test_eo_gives_a_classifier_equal_error_rates_on_the_real_rows(toy_model, toy_spec):
    """A classifier trained on an eo table and scored on the toy's real rows has nearly equal
    TPR and FPR across groups (on average over three tables); trained on the faithful table it
    does not."""
    train, model = toy_model
    ratios = {}
    for mode in ("eo", "faithful"):
        each = []
        for seed in DRAWS:
            table = pl.concat(model.generate(ROWS, GenerationSettings(mode=mode, seed=seed)))
            p = fit_predict(table, train, **COLUMNS, model="hgb", random_state=0)
            predicted = (p.y_score >= 0.5).astype(int)
            each.append(equalized_odds_ratio(p.y_true, predicted, sensitive=p.sensitive))
        ratios[mode] = np.mean(each)
    assert ratios["eo"] > 0.75 and ratios["faithful"] < 0.3  # 0.88 and 0.09–0.12 measured


def test_two_sensitive_columns_are_calibrated_over_their_intersections(make_biased_frame, settings):
    """sex × race: four groups with four positive rates, made equal by dp."""
    train = make_biased_frame(n=4000, seed=2)
    rng = np.random.default_rng(7)
    race = np.where(rng.random(train.height) < 0.3, "b", "w")
    flip = (race == "b") & (rng.random(train.height) < 0.5)  # race b loses half its positives
    train = train.with_columns(
        pl.Series("race", race),
        pl.when(pl.Series(flip)).then(pl.lit("<=50K")).otherwise("income").alias("income"),
    )
    spec = DatasetSpec(
        name="toy2",
        source="toy.parquet",
        target="income",
        positive_label=">50K",
        sensitive=[{"column": "sex", "privileged": "M"}, {"column": "race", "privileged": "w"}],
        categorical=["job"],
        numeric=["hours"],
    )
    model = pipeline.fit_generator(train, spec, settings)
    assert len(model.codec.groups_) == 4 and len(model.labels.shifts["dp"]) == 4
    real = rates(train, ["sex", "race"])
    assert min(real) / max(real) < 0.2
    columns = {**COLUMNS, "sensitive": ["sex", "race"]}
    ratios = {}
    for mode in ("dp", "faithful"):
        data, model_dpr = [], []
        for seed in DRAWS:
            table = pl.concat(model.generate(ROWS, GenerationSettings(mode=mode, seed=seed)))
            data.append(min(rates(table, ["sex", "race"])) / max(rates(table, ["sex", "race"])))
            p = fit_predict(table, train, **columns, model="hgb", random_state=0)
            predicted = (p.y_score >= 0.5).astype(int)
            model_dpr.append(demographic_parity_ratio(p.y_true, predicted, sensitive=p.sensitive))
        ratios[mode] = np.mean(data), np.mean(model_dpr)
    # The proxy step trades a little data-level parity for the classifier's parity. At the model
    # level a group whose scores crowd the cut-off ½ (here male & b, its real P(y=1|x) halved)
    # swings with each table: 0.77–0.85 over three (0.82 on average), against 0.02 for faithful.
    assert ratios["dp"][0] > 0.75 and ratios["dp"][1] > 0.7
    assert ratios["faithful"][0] < 0.2 and ratios["faithful"][1] < 0.1
