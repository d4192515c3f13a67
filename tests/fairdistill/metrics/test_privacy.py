"""Exact copies and distance to closest record."""

import numpy as np
import polars as pl
import pytest

from fairdistill.errors import DataError
from fairdistill.metrics.privacy import (
    closest_record_distances,
    distance_to_closest_record,
    exact_copy_rate,
)

TRAIN = pl.DataFrame({"a": [1, 2, None, 4], "b": ["x", "y", "z", None]})


def test_exact_copies_all_none_and_partial():
    assert exact_copy_rate(TRAIN, TRAIN) == 1.0
    assert exact_copy_rate(TRAIN, TRAIN.with_columns(pl.col("a").fill_null(0) + 100)) == 0.0
    # nulls equal nulls; 1.0 matches 1; (2, "x") is no training row
    fake = pl.DataFrame({"a": [1.0, None, 2.0, 4.0], "b": ["x", "z", "x", None]})
    assert exact_copy_rate(TRAIN, fake) == 0.75
    assert exact_copy_rate(TRAIN, fake, columns=["a"]) == 1.0


def test_exact_copies_missing_column():
    with pytest.raises(DataError, match=r"column\(s\) \['b'\] not in the synthetic table"):
        exact_copy_rate(TRAIN, TRAIN.drop("b"))


def test_closest_record_distances_by_hand():
    out = closest_record_distances(
        np.array([[0.0, 0.0], [3.0, 0.0]]), np.array([[0.0, 4.0], [3.0, 1.0]])
    )
    assert out.tolist() == [4.0, 1.0]


def test_dcr_copies_against_holdout():
    t = pl.DataFrame({"x": np.arange(100.0), "c": ["p", "q"] * 50})
    train, holdout = t[::2], t[1::2]
    kw = dict(categorical=["c"], numeric=["x"], random_state=0)
    copies = distance_to_closest_record(train, holdout, train, **kw)
    assert copies["dcr_synthetic_median"] == 0.0 and copies["dcr_synthetic_p5"] == 0.0
    assert copies["dcr_closer_than_holdout_p5"] == 1.0
    assert copies["dcr_holdout_median"] > 0
    fresh = distance_to_closest_record(train, holdout, holdout, **kw)
    assert fresh["dcr_synthetic_median"] == fresh["dcr_holdout_median"]
    assert fresh["dcr_closer_than_holdout_p5"] == 0.0  # strictly closer than the 5th percentile


def test_rare_values_reproduced_counts_distinct_rare_training_values():
    from fairdistill.metrics.privacy import rare_values_reproduced

    train = pl.DataFrame({"a": ["x"] * 3 + ["y", "z", None], "b": ["p"] * 6})
    synthetic = pl.DataFrame({"a": ["y", "y", "z", "x", None], "b": ["p", "q", "q", "p", "p"]})
    assert rare_values_reproduced(train, synthetic, columns=["a", "b"], min_count=3) == 2
    assert rare_values_reproduced(train, synthetic, columns=["a", "b"], min_count=1) == 0
    assert rare_values_reproduced(train, train, columns=["a"], min_count=4) == 3
