"""Fixtures for the model tests: a toy table with a planted bias (y strongly depends on s), encoded,
and factories of small (fast) training configs."""

import numpy as np
import polars as pl
import pytest
import torch

from fairdistill.codec import TabularCodec
from fairdistill.settings import StudentSettings, TeacherSettings
from fairdistill.spec import DatasetSpec

torch.set_num_threads(1)


def biased_frame(n: int = 1500, seed: int = 0) -> pl.DataFrame:
    """s ∈ {F, M} (40/60); job depends on s; P(y=1 | M) ≈ 0.8, P(y=1 | F) ≈ 0.2."""
    rng = np.random.default_rng(seed)
    male = rng.random(n) < 0.6
    hours = rng.normal(40, 8, n).round().astype(np.int64)
    job = np.where(rng.random(n) < np.where(male, 0.7, 0.3), "craft", "clerical")
    logit = 0.15 * (hours - 40) + np.where(male, 1.5, -1.5)
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pl.DataFrame(
        {
            "job": job,
            "hours": hours,
            "sex": np.where(male, "M", "F"),
            "income": np.where(y, ">50K", "<=50K"),
        }
    )


@pytest.fixture(scope="session")
def make_biased_frame():
    """`biased_frame` itself, for tests that need another size or seed."""
    return biased_frame


@pytest.fixture(scope="session")
def toy_spec() -> DatasetSpec:
    """The spec of `biased_frame`."""
    return DatasetSpec(
        name="toy",
        source="toy.parquet",
        target="income",
        positive_label=">50K",
        sensitive=[{"column": "sex", "privileged": "M"}],
        categorical=["job"],
        numeric=["hours"],
    )


@pytest.fixture(scope="session")
def toy():
    frame = biased_frame()
    codec = TabularCodec(["job"], ["hours"], [], "income", ["sex"]).fit(frame)
    x, s = codec.encode(frame)
    return frame, codec, x, s


@pytest.fixture(scope="session")
def teacher_cfg():
    return small_teacher_config


@pytest.fixture(scope="session")
def student_cfg():
    return small_student_config


def small_teacher_config(**kw) -> TeacherSettings:
    """`rounds` of 11 steps each (about one pass over the toy table at batch 128)."""
    kw.setdefault("steps", 11 * kw.get("rounds", 4))
    base = dict(
        rounds=4,
        batch_size=128,
        hidden=[32, 32],
        latent_dim=4,
        device="cpu",
        beta=1.0,
        patience=10,
    )
    return TeacherSettings(**{**base, **kw})


def small_student_config(**kw) -> StudentSettings:
    kw.setdefault("steps", 11 * kw.get("rounds", 3))
    base = dict(
        rounds=3,
        batch_size=128,
        hidden=[8],
        device="cpu",
        beta=1.0,
        recon_warmup=1,
        patience=10,
    )
    return StudentSettings(**{**base, **kw})
