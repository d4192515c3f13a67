"""TSTR / TRTR on toy tables: scores by hand and by sklearn, nulls, times, unseen values, errors."""

import datetime as dt

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from fairdistill.errors import DataError
from fairdistill.metrics.bootstrap import bootstrap_indices
from fairdistill.metrics.utility import (
    ONE_CLASS,
    UNKNOWN_MODEL,
    fit_predict,
    make_classifier,
    resampled_scores,
    roc_auc,
    score_predictions,
    trtr,
    tstr,
)


def toy(n: int = 400, seed: int = 0) -> pl.DataFrame:
    """y depends on x and on s; a categorical and a time column with nulls; two sensitive columns."""
    rng = np.random.default_rng(seed)
    s = rng.choice(["F", "M"], n)
    x = rng.normal(size=n)
    y = rng.random(n) < 1 / (1 + np.exp(-(2 * x + np.where(s == "M", 1.0, -1.0))))
    return pl.DataFrame(
        {
            "s": s,
            "race": rng.choice(["p", "q"], n),
            "x": x,
            "job": rng.choice(["a", "b", None], n),
            "when": [
                dt.datetime(2020, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 99, n)
            ],
            "y": np.where(y, "yes", "no"),
        }
    ).with_columns(
        pl.when(pl.int_range(pl.len()) % 9 == 0).then(None).otherwise(pl.col("x")).alias("x")
    )


SPEC = dict(
    target="y", positive_label="yes", sensitive="s", categorical=["job"], numeric=["x", "when"]
)


def test_score_predictions_by_hand_and_by_sklearn():
    out = score_predictions([0, 1, 0, 1], [0.2, 0.9, 0.6, 0.4], sensitive=["a", "a", "b", "b"])
    assert out == {
        "accuracy": 0.5,
        "f1": 0.5,
        "auroc": 0.75,
        "dpr": 1.0,
        "dpd": 0.0,
        "eor": 0.0,
        "eod": 1.0,
    }
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 200), rng.random(200)
    out = score_predictions(y, p, sensitive=np.zeros(200), threshold=0.3)
    assert out["accuracy"] == accuracy_score(y, p >= 0.3)
    assert out["f1"] == f1_score(y, p >= 0.3)
    assert out["auroc"] == roc_auc_score(y, p)
    assert np.isnan(score_predictions([1, 1], [0.2, 0.7], sensitive=["a", "b"])["auroc"])


@pytest.mark.parametrize("model", ["logistic", "hgb"])
def test_tstr_learns_and_reports_every_key(model):
    train, test = toy(seed=0), toy(seed=1)
    out = tstr(train, test, **SPEC, model=model, random_state=0)
    assert list(out) == ["accuracy", "f1", "auroc", "dpr", "dpd", "eor", "eod"]
    assert out["auroc"] > 0.75 and out["dpr"] < 0.8  # the planted s → y dependence is learnt
    assert trtr(train, test, **SPEC, model=model, random_state=0) == out


def test_fit_predict_groups_unseen_values_and_intersections():
    train, test = toy(seed=0), toy(seed=1).with_columns(pl.lit("never-seen").alias("job"))
    pred = fit_predict(train, test, **{**SPEC, "sensitive": ["s", "race"]}, random_state=0)
    assert pred.y_true.tolist() == (test["y"] == "yes").cast(int).to_list()
    assert set(pred.sensitive) == {"F & p", "F & q", "M & p", "M & q"}
    assert np.all((pred.y_score >= 0) & (pred.y_score <= 1))


def test_one_class_and_unknown_model_messages():
    train = toy().with_columns(pl.lit("no").alias("y"))
    with pytest.raises(DataError) as info:
        tstr(train, toy(), **SPEC, random_state=0)
    assert str(info.value) == ONE_CLASS.format(target="y", found=["no"], positive_label="yes")
    with pytest.raises(DataError) as info:
        make_classifier("forest", ["a"], [], random_state=0)
    assert str(info.value) == UNKNOWN_MODEL.format(model="forest")


def test_roc_auc_counts_tied_scores_one_half():
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 2, 5_000), np.round(rng.random(5_000), 2)  # about 50 rows per score
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5


@pytest.mark.parametrize("rows, groups", [(30, 4), (2_000, 3)])
def test_resampled_scores_equal_score_predictions_on_each_resample(rows, groups):
    """Tied scores, a group of a few rows that some resamples do not draw, and (on 30 rows) a
    resample of one class: every number equals `score_predictions` on the resampled rows."""
    rng = np.random.default_rng(rows)
    y, p = (rng.random(rows) < 0.3).astype(int), np.round(rng.random(rows), 1)
    g = rng.choice(groups, rows, p=[0.03, *[0.97 / (groups - 1)] * (groups - 1)])
    g[0] = 0  # group 0 holds at least one row
    indices = bootstrap_indices(rows, 120, random_state=0)
    indices[0] = np.flatnonzero(y == 0)[0]  # one class: AUROC NaN
    fast = resampled_scores(y, p, g, indices)
    for b, i in enumerate(indices):
        expected = score_predictions(y[i], p[i], sensitive=g[i])
        for key, values in fast.items():
            assert values[b] == expected[key] or (np.isnan(values[b]) and np.isnan(expected[key]))
    assert np.isnan(fast["auroc"][0])
    assert (np.bincount(g[indices].ravel(), minlength=groups) > 0).all()
    assert any(not (g[i] == 0).any() for i in indices) == (rows == 30)
