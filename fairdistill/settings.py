"""Every setting of a refresh, declared once: typed pydantic models with bounds and descriptions.

The same models are the Prefect UI's parameter form, the sections of a `--config` YAML file, the
arguments of the library (`models.pipeline.fit_generator`) and the configs saved beside a trained
model. Nothing here imports torch, Prefect or MLflow, so a bad value is refused in milliseconds,
before any of them loads. Floats refuse inf and NaN; choices are `Literal`s; unknown keys are
refused at every level.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Self, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from fairdistill.errors import TOO_MANY_COMPONENTS, SettingsError
from fairdistill.spec import BUILTIN_DIR, BUILTIN_FILES, read_yaml

Device = Literal["auto", "cpu", "cuda"]
Penalty = Literal["dcor", "dcov", "fairdisco", "hsic", "none"]
SamplerName = Literal["gmm", "ddpm", "prior"]
DecodeMode = Literal["dp", "eo", "faithful", "counterfactual"]
DECODE_MODES: tuple[str, ...] = get_args(DecodeMode)
# The fairness criteria a table is made for and audited by: demographic parity, equalized odds.
Criterion = Literal["dp", "eo"]
CRITERIA: tuple[str, ...] = get_args(Criterion)
# Modes whose label goes through the fairness dial: the criteria's own modes.
LABEL_DIAL_MODES = CRITERIA

Width = Annotated[int, Field(ge=1, le=4096)]


def _earlier_columns_mode(value):
    """The setting's earlier form, a switch: true → "all", false → "none"."""
    return ("all" if value else "none") if isinstance(value, bool) else value


EarlierColumnsMode = Annotated[
    Literal["none", "associated", "all"], BeforeValidator(_earlier_columns_mode)
]


class Section(BaseModel):
    """A settings section: unknown keys, inf and NaN are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=True)


# Most held-out rows a training loop's validation pass reads (`models.training.fit_loop`). The pass
# estimates a mean loss, with the same rows and noise every round, so rounds compare closely on a few
# thousand rows; uncapped, its cost grew with the table while the step budget does not (800,000
# training rows: 33 of the teacher's 66 s).
VALIDATION_ROWS = 8192


class TrainingSettings(Section):
    """What the teacher's and the student's training loops share (`models.training.fit_loop`).

    Fields left at `None` adapt to the table (`for_table`): the batch to its rows, the network
    width to its encoded width. Training length is a budget of optimizer steps, so a table of a
    million rows costs about the same steps as one of thirty thousand.
    """

    # 1,400 steps of 512 rows ≈ 24 passes over Adult: the research's 40 epochs ended by early stopping
    # at 20–33 (research/RESULTS.md §3), and Adult's whole fit stays within 30 CPU s.
    DEFAULT_STEPS: ClassVar[int] = 1400

    steps: int | None = Field(
        None,
        ge=10,
        le=10_000_000,
        description="Optimizer steps: the training budget, whatever the table's size. "
        "Default: 1400 for the teacher, 600 for the student.",
    )
    rounds: int = Field(
        40,
        ge=1,
        le=1000,
        description="Rounds the step budget is split into; after each: a validation pass (early "
        "stopping), a checkpoint and the losses in MLflow.",
    )
    batch_size: int | None = Field(
        None,
        ge=16,
        le=65536,
        description="Rows per optimizer step. Default: a tenth of the training rows, rounded to "
        "a power of two between 32 and 512.",
    )
    lr: float = Field(2e-3, gt=0, le=1, description="Adam learning rate.")
    beta: float = Field(
        10.0, ge=0, le=1e8, description="Fairness weight β of the independence penalty."
    )
    penalty: Penalty = Field(
        "dcor",
        description="Independence penalty between the latent and s: `dcor` (squared distance "
        "correlation of the latent means: scale-free, in [0, 1], so one β suits every table), "
        "`dcov` (raw sample distance covariance, whose scale grows with the latent's spread and "
        "the group balance), `fairdisco` (FairDisCo's closed form on the posteriors), `hsic`, or "
        "`none`.",
    )
    penalty_rows: int = Field(
        256,
        ge=0,
        le=65536,
        description="Rows of each batch the penalty is computed on (0 = all): its cost grows with "
        "the square of the rows, and a random sub-batch (the batches are shuffled) estimates it "
        "well at a fraction of the cost.",
    )
    penalty_within: Literal["batch", "label"] = Field(
        "batch",
        description="Where the penalty measures dependence: over the batch (Z ⊥ S) or inside "
        "each label class (Z ⊥ S | Y), which keeps what the latent knows about the label where "
        "the training data tie the label to s.",
    )
    patience: int = Field(
        10,
        ge=1,
        le=1000,
        description="Rounds without validation gain before stopping (the validation loss of a "
        "small table is noisy: at 5, COMPAS stopped after a quarter of its budget, detection "
        "AUC 0.86 against 0.65).",
    )
    val_fraction: float = Field(
        0.1,
        ge=0,
        lt=0.5,
        description="Share of rows held out for early stopping; each round's validation pass "
        f"reads at most {VALIDATION_ROWS:,} of them.",
    )
    hidden: list[Width] | None = Field(
        None,
        min_length=1,
        max_length=8,
        description="Hidden layer widths of the encoder (and, for the teacher, the decoder). "
        "Default: two layers of the encoded width, rounded to a power of two between 128 and 256 "
        "(for the student one layer of 7/16 of that: about a fifth of the teacher encoder's "
        "parameters).",
    )
    channels: list[Width] = Field(
        default_factory=lambda: [32, 64],
        min_length=1,
        max_length=4,
        description="Images only: channels of the encoder's stride-2 convolutions (the decoder "
        "mirrors them).",
    )
    seed: int = Field(
        0, ge=0, le=2**32 - 1, description="Seed of initialisation, shuffling and noise."
    )
    device: Device = Field("auto", description="`auto` uses CUDA when present, else the CPU.")

    def result_settings(self) -> dict:
        """The settings that decide the trained weights (the device does not)."""
        return self.model_dump(exclude={"device"})

    def for_table(self, rows: int, width: int) -> Self:
        """These settings with every default that adapts filled in for a table of ``rows``
        encoded rows of ``width`` columns.

        >>> t = TeacherSettings().for_table(32_561, 107)
        >>> t.batch_size, t.steps, t.hidden
        (512, 1400, [128, 128])
        >>> s = StudentSettings().for_table(700, 12)
        >>> s.batch_size, s.steps, s.hidden
        (64, 600, [56])
        """
        train_rows = rows * (1 - self.val_fraction)
        filled = {
            "steps": self.steps or self.DEFAULT_STEPS,
            "batch_size": self.batch_size or _power_of_two(train_rows / 10, 32, 512),
            "hidden": self.hidden or self.default_hidden(_power_of_two(width, 128, 256)),
        }
        return self.model_copy(update=filled)

    def default_hidden(self, width: int) -> list[int]:
        return [width, width]


def _power_of_two(value: float, low: int, high: int) -> int:
    return int(min(high, max(low, 2 ** round(math.log2(max(value, 1))))))


class TeacherSettings(TrainingSettings):
    """The teacher: a FairDisCo VAE trained on reconstruction + w_KL · KL + β · penalty."""

    kl_weight: float = Field(
        0.15,
        ge=0,
        le=100,
        description="Weight w_KL of KL(q(z|x,s) ‖ N(0, I)); at 0.5 most latent dimensions "
        "collapsed onto the prior.",
    )
    latent_dim: int = Field(16, ge=2, le=256, description="Latent size k.")
    autoregressive: EarlierColumnsMode = Field(
        "associated",
        description="Tables: which columns the decoder draws given the columns drawn before them "
        "as well as (z, s) (a linear term of those columns, as in MADE). `associated`: each "
        "categorical column given the earlier ones it is associated with in train "
        "(bias-corrected Cramér's V ≥ 0.3; "
        "Adult: workclass–occupation, marital status–relationship, race–native country; "
        "COMPAS: none), which keeps dependencies the latent holds only loosely: detection AUC "
        "0.735 → 0.640 on Adult (seeds 0–2). `all`: every column given all earlier ones. "
        "`none` (or false): each column independently given (z, s), the paper's decoder "
        "(docs/benchmarks.md).",
    )


class StudentSettings(TrainingSettings):
    """The student: a small encoder distilled from the teacher's, trained on
    ‖μ_S − μ_T‖² + β · penalty + λ_u · (KL + w_r · reconstruction)."""

    DEFAULT_STEPS: ClassVar[int] = 600

    rounds: int = Field(
        10,
        ge=1,
        le=1000,
        description="Rounds the step budget is split into; after each: a validation pass (early "
        "stopping), a checkpoint and the losses in MLflow.",
    )
    lr: float = Field(3e-3, gt=0, le=1, description="Adam learning rate.")
    patience: int = Field(
        4, ge=1, le=1000, description="Rounds without validation gain before stopping."
    )
    channels: list[Width] = Field(
        default_factory=lambda: [8, 16],
        min_length=1,
        max_length=4,
        description="Images only: channels of the student encoder's stride-2 convolutions.",
    )
    lambda_u: float = Field(
        1.0, ge=0, le=100, description="Weight λ_u of the utility (KL + recon) loss."
    )
    recon_weight: float = Field(
        0.1,
        ge=0,
        le=100,
        description="Weight w_r of the reconstruction through the frozen decoder (at 1 it broke "
        "the mean matching in about one fit out of three).",
    )
    recon_warmup: int = Field(
        2, ge=0, le=1000, description="Rounds over which w_r ramps up from 0."
    )

    def default_hidden(self, width: int) -> list[int]:
        # 7/16 of the teacher's width: about 22% of a two-layer teacher encoder's parameters
        return [max(7 * width // 16, 8)]


class SamplerSettings(Section):
    """The latent sampler fitted on the student's latent means of the training rows."""

    name: SamplerName = Field(
        "gmm",
        description="Gaussian mixture (default), latent diffusion (FLDGM) or the N(0, I) prior.",
    )
    n_components: int | None = Field(
        None,
        ge=1,
        le=200,
        description="Mixture components (`gmm` only). Default: a component per 250 training "
        "rows, between 4 and 20.",
    )
    fit_rows: int = Field(
        10_000,
        ge=100,
        le=10_000_000,
        description="Most latent codes the mixture is fitted on (`gmm` only; a seeded sample): "
        "its EM costs rows × components × latent size² per iteration.",
    )
    seed: int = Field(
        0,
        ge=0,
        le=2**32 - 1,
        description="Seed of the sampler's fit and of the label calibration's draws.",
    )

    def components(self, rows: int) -> int:
        """The mixture's components for a table of ``rows`` training rows.

        >>> SamplerSettings().components(32_561), SamplerSettings().components(700)
        (20, 4)
        """
        return self.n_components or int(min(20, max(4, rows // 250)))

    def check_fits(self, rows: int, dataset: str) -> None:
        """A mixture needs a training row per component at least: `SettingsError` otherwise."""
        if self.name == "gmm" and self.components(rows) > rows:
            raise SettingsError(
                TOO_MANY_COMPONENTS.format(
                    n_components=self.components(rows), dataset=dataset, rows=rows
                )
            )

    def sampler_params(self, rows: int) -> dict:
        """Keyword arguments of the chosen sampler's constructor, for ``rows`` training rows."""
        if self.name == "gmm":
            return {
                "n_components": self.components(rows),
                "fit_rows": self.fit_rows,
                "random_state": self.seed,
            }
        if self.name == "ddpm":
            return {"random_state": self.seed}
        return {}


class GenerationSettings(Section):
    """How many rows to make and how to decode them fairly."""

    rows: int | None = Field(
        None, ge=1, le=10**9, description="Rows to generate; default: the training size."
    )
    mode: DecodeMode = Field(
        "dp",
        description="The fairness criterion the labels are made for: `dp` (demographic parity: "
        "equal P(y=1|s), the ranking inside each group kept) or `eo` (equalized odds: a "
        "classifier trained on the table has equal true- and false-positive rates across "
        "groups); both decode each row once with its own s and shift the label's log-odds by "
        "the group's offset fitted with the model. `faithful` keeps the data's bias; "
        "`counterfactual` decodes each latent code in every group, with one shared label "
        "averaged over the groups.",
    )
    fairness: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="Dial λ on the label, for `dp` and `eo`: 1 = fully fair, 0 = the faithful "
        "label (the offsets are scaled by λ).",
    )
    label_temperature: float = Field(
        1.0,
        ge=0.05,
        le=10.0,
        description="Divides the label head's logits (every mode): < 1 sharpens.",
    )
    chunk_size: int = Field(
        50_000, ge=100, le=10_000_000, description="Rows decoded and written at a time."
    )
    shard_rows: int = Field(
        1_000_000,
        ge=1_000,
        le=100_000_000,
        description="Rows per shard: shard i is generated with seed + i into its own part file, "
        "so shards can run side by side (on a Dask cluster) and give the same rows anywhere.",
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of sampling and decoding.")

    def shards(self, rows: int) -> list[tuple[int, int]]:
        """``(shard index, rows)`` of each shard of a ``rows``-row table.

        >>> GenerationSettings(shard_rows=1_000).shards(2_500)
        [(0, 1000), (1, 1000), (2, 500)]
        """
        return [
            (index, min(self.shard_rows, rows - start))
            for index, start in enumerate(range(0, rows, self.shard_rows))
        ]

    def for_shard(self, index: int) -> GenerationSettings:
        """The settings of shard ``index``: the same, seeded ``seed + index``."""
        return self.model_copy(update={"seed": self.seed + index})

    @model_validator(mode="after")
    def _label_settings_apply(self) -> GenerationSettings:
        if self.mode not in LABEL_DIAL_MODES and self.fairness != 1.0:
            raise ValueError(
                f"fairness applies only to mode(s) {list(LABEL_DIAL_MODES)}, not to mode "
                f"{self.mode!r}; remove `fairness` or choose one of those modes"
            )
        return self

    def decode_options(self) -> dict:
        """The decode params of a generator: mode, fairness dial and label temperature."""
        return self.model_dump(include={"mode", "fairness", "label_temperature"})

    @property
    def criterion(self) -> Criterion:
        """The criterion the table is audited by: its mode's own, else demographic parity.

        >>> GenerationSettings(mode="eo").criterion, GenerationSettings(mode="faithful").criterion
        ('eo', 'dp')
        """
        return "eo" if self.mode == "eo" else "dp"


class GateThresholds(Section):
    """The audit gate: the table is published only if every threshold holds. A gate looser than
    the deployment's own publishes the table under its run id only, without moving `latest` or
    the model's @champion alias.

    The gate judges the run's criterion (`GenerationSettings.criterion`) against the fair
    reference: the same classifier trained on the real train rows whose labels were made fair by
    that criterion, so that "the price of fairness" is not charged to the synthesis."""

    min_fairness_ratio: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="Least fairness ratio, of the run's criterion, of a gradient-boosted "
        "classifier trained on the synthetic table and measured on the real holdout: its "
        "demographic parity ratio (min/max positive rate over the groups) for `dp`, its "
        "equalized-odds ratio (the smaller of the TPR and FPR min/max ratios) for `eo`.",
    )
    max_auroc_gap: float = Field(
        0.02,
        ge=0.0,
        le=1.0,
        description="Most that classifier's AUROC may fall below the fair reference's: the same "
        "classifier trained on the real train rows with labels made fair by the run's criterion.",
    )
    max_copy_rate_excess: float = Field(
        0.005,
        ge=0.0,
        le=1.0,
        description="Most the share of synthetic rows identical to a training row may exceed the "
        "same share of the real holdout (a fresh real sample repeats common rows too).",
    )

    unresolved_by_interval: bool = Field(
        True,
        description="Judge a check the holdout cannot resolve by its 95% interval: "
        "where the interval's half-width exceeds the check's tolerance (1 − min_fairness_ratio "
        "for the fairness ratio, max_auroc_gap for the AUROC), a value short of its threshold "
        "fails only if its whole interval is short of it too; a shortfall a small holdout cannot "
        "show is not charged (as the four-fifths rule reads small samples, 29 CFR 1607.4(D)). "
        "false: every check is judged by its value alone.",
    )

    def looser_than(self, configured: GateThresholds) -> list[str]:
        """The thresholds of this gate that are looser than `configured`'s; [] = at least as strict.

        A `min_…` threshold is looser when lower, a `max_…` one when higher, the
        `unresolved_by_interval` switch when on; any other field must be equal.

        >>> GateThresholds(max_auroc_gap=0.07).looser_than(GateThresholds())
        ['max_auroc_gap']
        >>> GateThresholds(min_fairness_ratio=0.9).looser_than(GateThresholds())
        []
        """
        looser = []
        for name in type(self).model_fields:
            ours, theirs = getattr(self, name), getattr(configured, name)
            if name.startswith("min_"):
                looser += [name] if ours < theirs else []
            elif name.startswith("max_") or isinstance(ours, bool):
                looser += [name] if ours > theirs else []
            elif ours != theirs:
                looser.append(name)
        return looser


class AuditSettings(Section):
    """The audit of the synthetic table and the gate that decides publishing."""

    gate: GateThresholds = Field(default_factory=GateThresholds)
    bootstrap_resamples: int = Field(
        200,
        ge=0,
        le=5000,
        description="Bootstrap resamples of the holdout for intervals (0 = none).",
    )
    max_rows: int = Field(
        100_000,
        ge=1_000,
        le=10_000_000,
        description="Most rows of each table (train, holdout, synthetic) the audit's classifiers "
        "and fidelity metrics use, drawn with the seed; exact copies are counted on every row.",
    )
    seed: int = Field(
        0,
        ge=0,
        le=2**32 - 1,
        description="Seed of the audit's classifiers, subsamples and bootstrap.",
    )


class RefreshSettings(Section):
    """All sections of a refresh: the flow's parameters and a `--config` file's top level."""

    teacher: TeacherSettings = Field(default_factory=TeacherSettings)
    student: StudentSettings = Field(default_factory=StudentSettings)
    sampler: SamplerSettings = Field(default_factory=SamplerSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)

    def model_key(self) -> dict:
        """The settings that decide the trained model (not generation, audit or device)."""
        return {
            "teacher": self.teacher.result_settings(),
            "student": self.student.result_settings(),
            "sampler": self.sampler.model_dump(),
        }

    def seeds(self) -> dict[str, int]:
        return {name: getattr(self, name).seed for name in type(self).model_fields}


SECTIONS = tuple(RefreshSettings.model_fields)


def describe_error(error: ValidationError, origin: str) -> str:
    """One sentence per problem: where (`teacher.hidden.0`), what was wrong, what was given."""
    problems = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "settings"
        if problem["type"] == "extra_forbidden":
            problems.append(f"{where!r} is not a known setting")
        elif problem["type"] == "value_error":
            problems.append(f"{where}: {problem['ctx']['error']}")
        else:
            problems.append(f"{where}: {problem['msg']} (got {problem.get('input')!r})")
    return f"invalid settings in {origin}: " + "; ".join(problems)


def parse_settings(data: object, origin: str) -> RefreshSettings:
    """Settings from a mapping of sections; anything else is a `SettingsError` naming `origin`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SettingsError(
            f"{origin} must be a mapping of sections ({', '.join(SECTIONS)}), "
            f"got {type(data).__name__}"
        )
    try:
        return RefreshSettings.model_validate(data)
    except ValidationError as error:
        raise SettingsError(
            describe_error(error, origin) + f"; valid sections: {', '.join(SECTIONS)}"
        ) from None


def configured_gate_from_environment() -> GateThresholds:
    """The gate a champion must pass outside a deployment: `FAIRDISTILL_CONFIGURED_GATE`, a JSON
    mapping of `GateThresholds` fields (e.g. `{"max_auroc_gap": 0.07}`), else the defaults."""
    text = os.environ.get("FAIRDISTILL_CONFIGURED_GATE", "").strip()
    if not text:
        return GateThresholds()
    try:
        return GateThresholds.model_validate_json(text)
    except ValidationError as error:
        raise SettingsError(describe_error(error, "FAIRDISTILL_CONFIGURED_GATE")) from None


def load_settings(path: str | Path) -> RefreshSettings:
    """Read a YAML settings file (sections teacher, student, sampler, generation, audit)."""
    path = Path(path).expanduser().resolve()
    data = read_yaml(path, what="settings file", option="--config", error=SettingsError)
    return parse_settings(data, f"settings file {path}")


def tuned_settings_file(dataset: str) -> Path | None:
    """The settings a built-in dataset ships, if any: `settings.yaml` beside its training file
    (so `colored-mnist` and `colored-mnist-mod3` share datasets/colored-mnist/settings.yaml)."""
    if dataset not in BUILTIN_FILES:
        return None
    path = (BUILTIN_DIR / BUILTIN_FILES[dataset][0]).parent / "settings.yaml"
    return path if path.is_file() else None


def dataset_settings(dataset: str, **given: Section | None) -> RefreshSettings:
    """The settings of a refresh of ``dataset``: each field given (the flow's parameters, a
    `--config` file), else the dataset's tuned value (`tuned_settings_file`), else the default.

    Given sections count by the fields they set, so ``teacher: {steps: 500}`` keeps every other
    tuned teacher field. Images need other sizes than tables, and one set of defaults cannot fit
    both: a built-in image dataset ships the settings its benchmark was measured with.
    """
    path = tuned_settings_file(dataset)
    tuned = load_settings(path).model_dump(exclude_unset=True) if path else {}
    for section, value in given.items():
        if value is not None:
            tuned[section] = {**tuned.get(section, {}), **value.model_dump(exclude_unset=True)}
    return parse_settings(tuned, f"the settings of {dataset}")
