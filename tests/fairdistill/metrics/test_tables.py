"""The table → array boundary: conversion, subsample, embedding, their errors."""

import datetime as dt

import numpy as np
import polars as pl
import pytest
from sklearn.exceptions import NotFittedError

from fairdistill.errors import DataError
from fairdistill.metrics.tables import (
    COLUMNS_MISSING,
    NO_COLUMNS,
    NOT_FITTED,
    NULL_CATEGORY,
    TableEmbedding,
    subsample,
    to_pandas,
)

TABLE = pl.DataFrame(
    {
        "job": ["a", None, "b"],
        "n": [1, None, 3],
        "when": [dt.datetime(1970, 1, 1, 0, 1), None, dt.datetime(1970, 1, 1)],
        "flag": [True, False, None],
    }
)


def test_to_pandas_nulls_and_times():
    frame = to_pandas(TABLE, categorical=["job", "flag"], numeric=["n", "when"])
    assert list(frame.columns) == ["job", "flag", "n", "when"]
    assert frame["job"].tolist() == ["a", NULL_CATEGORY, "b"]
    assert frame["flag"].tolist() == ["true", "false", NULL_CATEGORY]
    assert frame["when"].tolist()[::2] == [60.0, 0.0] and np.isnan(frame["when"][1])
    assert np.isnan(frame["n"][1])


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (dt.datetime(1970, 1, 1, 0, 0, 1, 500_000), 1.5),
        (dt.datetime(1970, 1, 1, 0, 0, 2, tzinfo=dt.UTC), 2.0),
        (dt.date(1970, 1, 2), 86_400.0),
        (dt.time(0, 1), 60.0),
        (dt.timedelta(minutes=1, seconds=30), 90.0),
    ],
)
def test_to_pandas_temporal_kinds_in_seconds(value, seconds):
    frame = to_pandas(pl.DataFrame({"t": [value, None]}), categorical=[], numeric=["t"])
    assert frame["t"][0] == pytest.approx(seconds, rel=1e-12) and np.isnan(frame["t"][1])


def test_to_pandas_missing_column_message():
    with pytest.raises(DataError) as info:
        to_pandas(TABLE, categorical=["jobb"], numeric=[], role="synthetic")
    assert str(info.value) == COLUMNS_MISSING.format(
        missing=["jobb"], role="synthetic", found=TABLE.columns
    )


def test_subsample_seeded_and_capped():
    table = pl.DataFrame({"i": range(100)})
    first = subsample(table, 10, np.random.default_rng(3))
    assert first.equals(subsample(table, 10, np.random.default_rng(3)))
    assert first.height == 10 and first["i"].is_sorted()
    assert subsample(table, None, np.random.default_rng(3)).height == 100


def test_embedding_layout_and_errors():
    emb = TableEmbedding(["job"], ["n"]).fit(TABLE)
    x = emb.transform(TABLE)
    assert x.shape == (3, 4)  # 3 categories (a, b, null) + 1 numeric
    # [1, median 2, 3]: mean 2, population std √(2/3)
    np.testing.assert_allclose(x[:, 3], [-np.sqrt(1.5), 0.0, np.sqrt(1.5)])
    assert emb.transform(pl.DataFrame({"job": ["zzz"], "n": [2]})).tolist() == [
        [0.0, 0.0, 0.0, 0.0]
    ]
    assert TableEmbedding(["job"], ["n"], n_components=2).fit(TABLE).transform(TABLE).shape == (
        3,
        2,
    )
    with pytest.raises(NotFittedError, match=NOT_FITTED.replace("(", r"\(").replace(")", r"\)")):
        TableEmbedding(["job"], []).transform(TABLE)
    with pytest.raises(DataError, match=NO_COLUMNS):
        TableEmbedding([], []).fit(TABLE)
