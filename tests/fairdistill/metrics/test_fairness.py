"""Data- and model-level fairness against hand-worked values and fairlearn as the oracle."""

import numpy as np
import pandas as pd
import polars as pl
import pytest
from fairlearn import metrics as flm

from fairdistill.metrics.fairness import (
    as_groups,
    data_parity_difference,
    data_parity_ratio,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    group_rates,
    intersectional_groups,
    positive_rates,
    prediction_fairness,
)

GROUPS = ["a", "a", "b", "b"]


def test_data_parity_by_hand():
    # P(y=1 | a) = 1/2, P(y=1 | b) = 2/2
    assert data_parity_ratio([1, 0, 1, 1], sensitive=GROUPS) == 0.5
    assert data_parity_difference([1, 0, 1, 1], sensitive=GROUPS) == 0.5
    assert positive_rates([1, 0, 1, 1], sensitive=GROUPS) == {"a": 0.5, "b": 1.0}


def test_data_parity_string_labels_and_equal_rates():
    y = [">50K", "<=50K", ">50K", "<=50K"]
    assert data_parity_ratio(y, sensitive=GROUPS, positive_label=">50K") == 1.0
    assert data_parity_difference(y, sensitive=GROUPS, positive_label=">50K") == 0.0


def test_intersections_by_hand():
    # groups F&x: y = [1, 1] → 1;  F&y: [0] → 0 ... with a null as its own group
    sex = ["F", "F", "F", "M", "M", None]
    race = ["x", "x", "y", "x", "y", "x"]
    y = [1, 1, 0, 1, 0, 1]
    rates = positive_rates(y, sensitive=pl.DataFrame({"sex": sex, "race": race}))
    assert rates == {"<null> & x": 1.0, "F & x": 1.0, "F & y": 0.0, "M & x": 1.0, "M & y": 0.0}
    assert data_parity_ratio(y, sensitive=np.c_[sex, race]) == 0.0
    assert data_parity_difference(y, sensitive=pd.DataFrame({"s": sex, "r": race})) == 1.0


def test_group_helpers():
    assert intersectional_groups([1, 2], ["u", None], sep="|").tolist() == ["1|u", "2|<null>"]
    assert as_groups(pl.Series(["F", None])).tolist() == ["F", "<null>"]
    assert as_groups(np.array([["F", "x"], ["M", "y"]])).tolist() == ["F & x", "M & y"]


def test_model_level_by_hand():
    y_true, y_pred = [1, 0, 1, 0], [1, 0, 1, 1]
    # selection rate a 1/2, b 1; TPR a 1, b 1; FPR a 0, b 1
    assert demographic_parity_ratio(y_true, y_pred, sensitive=GROUPS) == 0.5
    assert demographic_parity_difference(y_true, y_pred, sensitive=GROUPS) == 0.5
    assert equalized_odds_ratio(y_true, y_pred, sensitive=GROUPS) == 0.0
    assert equalized_odds_difference(y_true, y_pred, sensitive=GROUPS) == 1.0
    rates = group_rates(y_true, y_pred, sensitive=GROUPS)
    assert rates["selection_rate"].tolist() == [0.5, 1.0]
    assert rates["tpr"].tolist() == [1.0, 1.0] and rates["fpr"].tolist() == [0.0, 1.0]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_columns", [1, 2])
def test_prediction_fairness_matches_fairlearn(seed, n_columns):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 200))
    y_true = rng.integers(0, 2, n)
    y_pred = (rng.random(n) < rng.random()).astype(int)
    if seed == 0:
        y_pred[:] = 0  # ratios 0/0
    if seed == 1:
        y_true[:] = 1  # no negatives: FPR undefined everywhere
    columns = pd.DataFrame({f"s{i}": rng.choice(["p", "q", "r"], n) for i in range(n_columns)})
    ours = prediction_fairness(y_true, y_pred, sensitive=columns)
    oracle = {
        "dpr": flm.demographic_parity_ratio(y_true, y_pred, sensitive_features=columns),
        "dpd": flm.demographic_parity_difference(y_true, y_pred, sensitive_features=columns),
        "eor": flm.equalized_odds_ratio(y_true, y_pred, sensitive_features=columns),
        "eod": flm.equalized_odds_difference(y_true, y_pred, sensitive_features=columns),
    }
    assert ours.keys() == oracle.keys()
    np.testing.assert_allclose(list(ours.values()), list(oracle.values()), equal_nan=True)
