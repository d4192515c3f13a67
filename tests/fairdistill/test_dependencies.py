"""Functional dependencies: found in train, kept by the codec's decode, reported by the audit."""

import numpy as np
import polars as pl
import pytest

from fairdistill.codec import TabularCodec
from fairdistill.dependencies import (
    Dependency,
    dependency_rates,
    enforce_dependencies,
    functional_dependencies,
)

LEVELS = {"hs": 9, "college": 10, "bachelors": 13, "masters": 14, "doctorate": 16}


def table(n=4000, seed=0, broken=0.0):
    """``degree`` determines ``years`` (and back), except in a ``broken`` share of rows; ``job``
    is independent; ``y`` and ``sex`` follow ``degree`` closely but are never rewritten."""
    rng = np.random.default_rng(seed)
    degree = rng.choice(list(LEVELS), n)
    years = np.array([LEVELS[d] for d in degree])
    wrong = rng.random(n) < broken
    years = np.where(wrong, rng.integers(1, 17, n), years)
    return pl.DataFrame(
        {
            "degree": degree,
            "years": years,
            "job": rng.choice(["a", "b", "c"], n),
            "sex": np.where(years > 12, "M", "F"),
            "y": np.where(years > 13, "yes", "no"),
        }
    )


COLUMNS = ["degree", "years", "job", "y", "sex"]


def test_a_dependency_is_found_once_from_the_richer_column_and_never_onto_target_or_s():
    found = functional_dependencies(table(), COLUMNS, exclude_dependents=["y", "sex"])
    assert [(d.determinant, d.dependent, d.rate) for d in found] == [("degree", "years", 1.0)]
    assert dict(zip(found[0].keys, found[0].values, strict=True)) == LEVELS
    # a rule broken in 2% of the rows is no rule; in 0.3% it still is (≥ 99.5%)
    assert (
        functional_dependencies(table(broken=0.02), COLUMNS, exclude_dependents=["y", "sex"]) == []
    )
    kept = functional_dependencies(table(broken=0.003), COLUMNS, exclude_dependents=["y", "sex"])
    # the stray years make `years` the richer column: the mutual rule is kept from it
    assert [d.name for d in kept] == ["years->degree"] and 0.995 <= kept[0].rate < 1


def test_a_near_key_column_determines_nothing():
    frame = table(n=300).with_row_index("id").with_columns(pl.col("id") % 100)
    assert functional_dependencies(frame, ["id", "job"]) == []


def test_enforcing_rewrites_the_dependent_with_expressions_and_keeps_unknown_values():
    (rule,) = functional_dependencies(table(), COLUMNS, exclude_dependents=["y", "sex"])
    generated = table(seed=1, broken=0.3).with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit("none"))
        .otherwise("degree")
        .alias("degree")
    )
    assert dependency_rates(generated, [rule])["degree->years"] < 0.8
    fixed = enforce_dependencies(generated, [rule])
    assert dependency_rates(fixed.slice(1), [rule]) == {"degree->years": 1.0}
    assert fixed["years"][0] == generated["years"][0]  # "none" has no mapping: left as decoded
    assert fixed.drop("years").equals(generated.drop("years"))


def test_rare_pairs_are_not_written():
    frame = table(n=2000).with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(pl.lit("rare")).otherwise("degree").alias("degree")
    )
    (rule,) = functional_dependencies(
        frame, COLUMNS, exclude_dependents=["y", "sex"], min_pair_rows=5
    )
    assert "rare" not in rule.keys


def test_the_codec_keeps_dependencies_in_every_decoded_frame():
    train = table()
    codec = TabularCodec(["degree", "job"], ["years"], [], "y", ["sex"]).fit(train)
    assert [d.name for d in codec.dependencies_] == ["degree->years"]
    again = TabularCodec.from_dict(codec.to_dict())
    assert again.dependencies_ == codec.dependencies_
    x, s = again.encode(table(seed=2, broken=0.5))
    x += np.random.default_rng(0).normal(scale=0.5, size=x.shape).astype(np.float32)
    decoded = again.decode(x, s.argmax(1))
    assert dependency_rates(decoded, again.dependencies_) == {"degree->years": 1.0}


def test_the_audit_reports_how_often_each_dependency_holds(tmp_path):
    from fairdistill.audit import dependency_fidelity
    from fairdistill.spec import DatasetSpec

    spec = DatasetSpec(
        name="deps",
        source="x.csv",
        target="y",
        positive_label="yes",
        sensitive=[{"column": "sex", "privileged": "M"}],
        categorical=["degree", "job"],
        numeric=["years"],
    )
    metrics = dependency_fidelity(
        table(), table(seed=1), table(seed=2, broken=0.25), spec, random_state=0
    )
    assert metrics["fidelity.fd.degree->years.real"] == 1.0
    assert metrics["fidelity.fd.degree->years.synthetic"] == pytest.approx(0.78, abs=0.02)
    assert set(metrics) == {"fidelity.fd.degree->years.real", "fidelity.fd.degree->years.synthetic"}


def test_a_dependency_survives_json():
    rule = Dependency("a", "b", [1, 2], ["x", "y"], 0.999)
    assert Dependency(**rule.to_dict()) == rule
