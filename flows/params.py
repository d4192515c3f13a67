"""Typed flow parameters: the Prefect UI renders each as a form section with bounds and help."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.student import DistillConfig
from models.teacher import TrainConfig

__all__ = [
    "AuditConfig",
    "DistillConfig",
    "GateThresholds",
    "GenerationConfig",
    "SamplerConfig",
    "TrainConfig",
]


class SamplerConfig(BaseModel):
    """The latent sampler fitted on the student's latents of the training rows (DESIGN §4)."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["gmm", "ddpm", "prior"] = Field(
        "gmm",
        description="Gaussian mixture (default), latent diffusion (FLDGM) or the N(0, I) prior.",
    )
    n_components: int = Field(20, ge=1, le=200, description="Mixture components (gmm).")
    seed: int = Field(0, ge=0, description="Seed of the sampler's fit.")

    def as_dict(self) -> dict:
        return self.model_dump()

    def sampler_params(self) -> dict:
        if self.name == "gmm":
            return {"n_components": self.n_components, "random_state": self.seed}
        if self.name == "ddpm":
            return {"random_state": self.seed}
        return {}


class GenerationConfig(BaseModel):
    """How many rows to make and how to decode them fairly (DESIGN §4, "Decoding fairly")."""

    model_config = ConfigDict(extra="forbid")

    rows: int | None = Field(
        None, ge=1, description="Rows to generate; default: the training size."
    )
    mode: Literal["label-fair", "all-fair", "faithful", "counterfactual"] = Field(
        "label-fair", description="Where the marginalisation over s is applied."
    )
    fairness: float = Field(
        1.0, ge=0.0, le=1.0, description="Dial λ on the label: 1 = label-fair, 0 = faithful label."
    )
    label_temperature: float = Field(
        1.0, gt=0.0, le=10.0, description="< 1 sharpens the label head."
    )
    chunk_size: int = Field(50_000, ge=100, description="Rows decoded and written at a time.")
    seed: int = Field(0, ge=0, description="Seed of sampling and decoding.")

    def as_dict(self) -> dict:
        return self.model_dump()


class GateThresholds(BaseModel):
    """The audit gate (DESIGN §5): the table is published only if every threshold holds."""

    model_config = ConfigDict(extra="forbid")

    min_model_dpr: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="Least demographic parity ratio of a classifier trained on the synthetic table "
        "(gradient-boosted trees), on the real holdout.",
    )
    max_auroc_drop: float = Field(
        0.05, ge=0.0, le=1.0, description="Most TSTR AUROC may fall below TRTR AUROC."
    )
    max_exact_copy_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="Most share of synthetic rows identical to a training row."
    )

    def as_dict(self) -> dict:
        return self.model_dump()


class AuditConfig(BaseModel):
    """The audit of the synthetic table (DESIGN §5) and the gate that decides publishing."""

    model_config = ConfigDict(extra="forbid")

    gate: GateThresholds = Field(default_factory=GateThresholds)
    bootstrap_resamples: int = Field(
        200,
        ge=0,
        le=5000,
        description="Bootstrap resamples of the holdout for intervals (0 = none).",
    )
    seed: int = Field(
        0, ge=0, description="Seed of the audit's classifiers, subsamples and bootstrap."
    )

    def as_dict(self) -> dict:
        return self.model_dump()


# The flow's settings sections by parameter name (the CLI's --config file uses the same names).
SETTINGS = {
    "teacher": TrainConfig,
    "student": DistillConfig,
    "sampler": SamplerConfig,
    "generation": GenerationConfig,
    "audit": AuditConfig,
}
