"""TabularCodec: layout, round trip, nulls, unseen values, dtypes, JSON serialisation."""

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from fairdistill.codec import COLUMN_MISSING, NOT_FITTED, TabularCodec


@pytest.fixture
def frame() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    ages = rng.integers(18, 90, n)
    return pl.DataFrame(
        {
            "job": rng.choice(["a", "b", "c"], n).tolist(),
            "age": pl.Series(ages, dtype=pl.Int64),
            "score": rng.normal(5.0, 2.0, n),
            "when": [
                dt.datetime(2020, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 900, n)
            ],
            "income": rng.choice([">50K", "<=50K"], n).tolist(),
            "sex": rng.choice(["F", "M"], n).tolist(),
            "race": rng.choice(["x", "y"], n).tolist(),
        }
    ).with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(pl.col("job")).alias("job"),
        pl.when(pl.int_range(pl.len()) % 11 == 0).then(None).otherwise(pl.col("age")).alias("age"),
        pl.when(pl.int_range(pl.len()) % 13 == 0)
        .then(None)
        .otherwise(pl.col("when"))
        .alias("when"),
    )


def make_codec(**kw) -> TabularCodec:
    args = dict(
        categorical=["job"],
        numeric=["age", "score"],
        datetime=["when"],
        target="income",
        sensitive=["sex", "race"],
    )
    return TabularCodec(**{**args, **kw})


def test_layout_is_contiguous_and_names_the_target(frame):
    codec = make_codec().fit(frame)
    stops = [0] + [b.stop for b in codec.blocks_]
    assert [b.start for b in codec.blocks_] == stops[:-1]
    assert codec.n_features_out_ == stops[-1]
    assert codec.target_block_.column == "income" and codec.target_block_.categories == [
        "<=50K",
        ">50K",
    ]
    assert codec.blocks_[0].categories == ["a", "b", "c", None]  # null is its own category
    missing = {b.column for b in codec.blocks_ if b.role == "missing"}
    assert missing == {"age", "when"}  # score had no nulls
    assert codec.groups_ == [("F", "x"), ("F", "y"), ("M", "x"), ("M", "y")]


def test_encode_shapes_and_one_hot(frame):
    codec = make_codec().fit(frame)
    x, s = codec.encode(frame)
    assert x.dtype == np.float32 and s.dtype == np.float32
    assert x.shape == (300, codec.n_features_out_) and s.shape == (300, 4)
    np.testing.assert_array_equal(s.sum(1), 1.0)
    for b in codec.blocks_:
        if b.kind == "categorical":
            np.testing.assert_array_equal(x[:, b.start : b.stop].sum(1), 1.0)
    expected = frame.select(
        (pl.col("sex") == "M").cast(int) * 2 + (pl.col("race") == "y").cast(int)
    )
    np.testing.assert_array_equal(codec.s_index(frame), expected.to_series().to_numpy())


def test_round_trip(frame):
    codec = make_codec().fit(frame)
    x, _ = codec.encode(frame)
    back = codec.decode(x, codec.s_index(frame))
    assert back.schema == frame.schema
    for col in ["job", "income", "sex", "race", "age"]:  # exact
        assert back[col].equals(frame[col]), col
    np.testing.assert_allclose(back["score"].to_numpy(), frame["score"].to_numpy(), atol=1e-4)
    secs = (back["when"] - frame["when"]).dt.total_seconds().abs()
    assert back["when"].null_count() == frame["when"].null_count() == 24
    assert secs.max() <= 60


def test_integer_target_keeps_dtype(frame):
    frame = frame.with_columns((pl.col("income") == ">50K").cast(pl.Int64))
    codec = make_codec().fit(frame)
    back = codec.decode(*[codec.encode(frame)[0], codec.s_index(frame)])
    assert back.schema["income"] == pl.Int64 and back["income"].equals(frame["income"])


def test_unseen_values_map_to_most_frequent(frame):
    codec = make_codec().fit(frame)
    new = frame.head(2).with_columns(pl.lit("zzz").alias("job"), pl.lit("Q").alias("sex"))
    x, s = codec.encode(new)
    mode_job = frame["job"].drop_nulls().mode().sort()[0]
    job = codec.blocks_[0]
    assert job.categories[int(x[0, job.start : job.stop].argmax())] == mode_job
    assert int(s[0].argmax()) == int(np.argmax(codec.group_freq_))


def test_numeric_decode_clips_to_train_range_and_rounds(frame):
    codec = make_codec().fit(frame)
    values = [
        np.zeros(3, dtype=int) if b.kind == "categorical" else np.array([-9.0, 0.0, 9.0])
        for b in codec.blocks_
    ]
    out = codec.decode_blocks(values, np.zeros(3, dtype=int))
    assert (
        out["age"].to_list()[0] == frame["age"].min()
        and out["age"].to_list()[2] == frame["age"].max()
    )
    assert out["score"][2] == pytest.approx(frame["score"].max())


def test_missing_indicator_gives_null(frame):
    codec = make_codec().fit(frame)
    values = [
        np.ones(2, dtype=int)
        if b.role == "missing"
        else (np.zeros(2, dtype=int) if b.kind == "categorical" else np.zeros(2))
        for b in codec.blocks_
    ]
    out = codec.decode_blocks(values, np.zeros(2, dtype=int))
    assert out["age"].null_count() == 2 and out["when"].null_count() == 2
    assert out["score"].null_count() == 0


def test_to_dict_from_dict(frame):
    codec = make_codec().fit(frame)
    clone = TabularCodec.from_dict(json.loads(json.dumps(codec.to_dict())))
    x, s = codec.encode(frame)
    x2, s2 = clone.encode(frame)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(s, s2)
    assert clone.blocks_ == codec.blocks_
    assert clone.decode(x, clone.s_index(frame)).equals(codec.decode(x, codec.s_index(frame)))


def test_errors(frame):
    with pytest.raises(RuntimeError, match=NOT_FITTED.format(method="encode").split(";")[0]):
        make_codec().encode(frame)
    expected = COLUMN_MISSING.format(role="numeric", column="nope", found=", ".join(frame.columns))
    with pytest.raises(ValueError) as err:
        make_codec(numeric=["nope"]).fit(frame)
    assert str(err.value) == expected


def test_rare_categories_are_never_decoded(frame):
    rare = frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 4)
        .then(pl.format("person-{}", pl.int_range(pl.len())))  # 4 unique values, one row each
        .otherwise(pl.col("job"))
        .alias("job")
    )
    codec = make_codec(min_category_rows=5).fit(rare)
    assert codec.categories_["job"] == ["a", "b", "c", None]
    x, _ = codec.encode(rare.head(4))
    mode = codec.categories_["job"][codec.modes_["job"]]
    assert codec.decode(x, codec.s_index(rare.head(4)))["job"].to_list() == [mode] * 4
    kept = make_codec(min_category_rows=1).fit(rare)
    assert "person-0" in kept.categories_["job"]
    assert TabularCodec.from_dict(json.loads(json.dumps(codec.to_dict()))).min_category_rows == 5


def test_dates_decimals_and_datetime_resolution_survive_decoding():
    from datetime import date, datetime

    frame = pl.DataFrame(
        {
            "opened": [date(2024, 1, d) for d in range(1, 21)],
            "seen": [datetime(2024, 1, 1, h, 30) for h in range(20)],
            "amount": [round(10 + i * 1.37, 2) for i in range(20)],
            "count": list(range(20)),
            "y": ["a", "b"] * 10,
            "s": ["F", "M", "M", "F"] * 5,
        }
    )
    codec = TabularCodec([], ["amount", "count"], ["opened", "seen"], "y", ["s"]).fit(frame)
    assert codec.steps_ == {"amount": 0.01, "count": 1.0, "opened": 86_400.0, "seen": 60.0}
    rng = np.random.default_rng(0)
    values = [
        rng.normal(size=40) if b.kind == "numeric" else rng.integers(0, b.stop - b.start, 40)
        for b in codec.blocks_
    ]
    out = codec.decode_blocks(values, rng.integers(0, 2, 40))
    assert out.schema == frame.schema
    assert (out["seen"].dt.second() == 0).all()
    cents = out["amount"].to_numpy() * 100
    assert np.allclose(cents, np.round(cents), atol=1e-6)
    again = TabularCodec.from_dict(codec.to_dict())
    assert again.decode_blocks(values, np.zeros(40, int)).schema == frame.schema


def test_a_point_mass_is_an_indicator_and_its_value_comes_back_exactly():
    rng = np.random.default_rng(0)
    n = 4000  # ≈ 800 rows off the point mass: enough to model it apart (POINT_MASS_MIN_OTHER_ROWS)
    gain = np.where(rng.random(n) < 0.8, 0, rng.choice([3103, 7298, 15024], n))
    frame = pl.DataFrame(
        {
            "gain": pl.Series(gain, dtype=pl.Int64),
            "hours": rng.normal(40, 5, n),
            "income": rng.choice(["<=50K", ">50K"], n).tolist(),
            "sex": rng.choice(["F", "M"], n).tolist(),
        }
    ).with_columns(  # a null is not the point mass
        pl.when(pl.int_range(pl.len()) % 9 == 0).then(None).otherwise(pl.col("gain")).alias("gain")
    )
    codec = TabularCodec([], ["gain", "hours"], [], "income", ["sex"]).fit(frame)
    assert codec.point_masses_ == {"gain": 0.0}  # hours has no value held by half the rows
    roles = [(b.column, b.role) for b in codec.blocks_]
    assert roles[:3] == [("gain", "feature"), ("gain", "mass"), ("gain", "missing")]
    # the quantile table describes the gains only
    assert codec.quantiles_["gain"].min() == 3103
    x, s = codec.encode(frame)
    mass, missing = codec.blocks_[1], codec.blocks_[2]
    at_mass = (frame["gain"] == 0).fill_null(False).to_numpy()
    np.testing.assert_array_equal(x[:, mass.start + 1], at_mass)
    np.testing.assert_array_equal(x[:, missing.start + 1], frame["gain"].is_null().to_numpy())
    assert np.all(x[at_mass, 0] == 0.0)
    assert codec.decode(x, codec.s_index(frame))["gain"].equals(frame["gain"])
    # whatever score is drawn on a row at the point mass, it decodes to the point mass
    x[at_mass, 0] = rng.normal(0, 2, at_mass.sum())
    assert (codec.decode(x, codec.s_index(frame))["gain"].filter(at_mass) == 0).all()
    clone = TabularCodec.from_dict(json.loads(json.dumps(codec.to_dict())))
    assert clone.point_masses_ == codec.point_masses_ and clone.blocks_ == codec.blocks_
    # on a tenth of the rows, the gains are too few to describe apart: no point mass
    few = TabularCodec([], ["gain", "hours"], [], "income", ["sex"]).fit(frame.head(400))
    assert few.point_masses_ == {} and all(b.role != "mass" for b in few.blocks_)


def test_a_codec_saved_before_point_masses_loads_without_them(frame):
    state = make_codec().fit(frame).to_dict()
    del state["fitted"]["point_masses_"]
    clone = TabularCodec.from_dict(state)
    assert clone.point_masses_ == {} and all(b.role != "mass" for b in clone.blocks_)
