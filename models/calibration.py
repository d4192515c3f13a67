"""The label calibration stage: per-group offsets of the label's log-odds, one set per criterion.

Fitted after the sampler, on the trained model and the training rows, and saved with the model
(``labels.json``); the ``dp`` and ``eo`` decode modes divide the label logits by the fair label's
temperature and add ``λ · offsets[s]`` (`models.decoding`), so the offsets are fitted at that
temperature (`FAIR_LABEL_TEMPERATURE`). The math is in `fairdistill.fair_labels`; here it meets the
decoder:

- ``dp``: `CALIBRATION_DRAWS` latent codes from the sampler, each decoded in every group, give
  ``p_k = P(y=1 | z, s=k)`` (the label model's on the features drawn in group k, or the decoder's
  label head's for images, at the fair label's temperature); `dp_group_shifts` equalise their
  means at the pooled rate. One proxy step follows (`calibrate_through_proxy`): a gradient-boosted
  classifier fitted on a generated table (as many rows as train, at least `PROXY_MIN_TABLE_ROWS`)
  scores real training rows, and the per-group cut-offs with equal positive rates are composed
  into the shifts; from `DP_SECOND_STEP_MIN_ROWS` rows on, a second step.
- ``eo``: `EO_PROXY_STEPS` proxy steps from the faithful label, with equalized-odds cut-offs.
  Cut-offs taken from real out-of-fold scores do not transfer to a classifier trained on
  synthetic rows (EOR 0.5–0.6 on Adult); those of a proxy trained on the table do (0.83–0.87).

From `FAIREST_PROXY_MIN_ROWS` training rows on, each criterion keeps the shifts whose proxy was
fairest on the real rows, the last shifts' proxy included, and ``eo`` takes one more step
(`calibrate_through_proxy`).

Both criteria are fitted, so a registered model generates either; their proxy steps run side by
side on two threads, each criterion's tables seeded by its own steps (Adult on 2 cores: 9.0 → 5.9–6.6
s). Images take the ``dp`` shifts of the decoder alone (the proxy classifies table columns; images
are audited for ``dp``). Cost on Adult, the whole stage with the label model: 17.6–20.8 CPU s
(`benchmarks/fair_modes.py`, seeds 0–2), of which 3 proxies for ``dp`` and 5 for ``eo``; 10.0–12.9
before the fairest proxy was kept (2 and 3).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import torch

from fairdistill.audit import classifier_columns, side_by_side
from fairdistill.fair_labels import calibrate_through_proxy, dp_group_shifts, proxies_fitted
from fairdistill.metrics import fit_predict
from fairdistill.settings import CRITERIA, GenerationSettings
from fairdistill.spec import DatasetSpec
from models.decoding import all_group_outputs, features_then_label_logits
from models.teacher import earlier_columns

CALIBRATION_DRAWS = 50_000
# Most rows of each proxy table, and of the real training rows it scores (a seeded sample).
PROXY_ROWS = 50_000
# Fewest rows of each proxy table. A proxy fitted on a table of a small train's size is a noisy
# estimate of what a classifier trained on such a table does, and one step composes that noise
# into the shifts: COMPAS (4,938 training rows), three models × five tables each, model DPR
# 0.819 on average with 8 of 15 below 0.8 from proxies of 4,938 rows; 0.890 with 1 of 15 from
# proxies of 20,000 (AUROC 0.783 → 0.781). Adult's 32,561 rows are above it.
PROXY_MIN_TABLE_ROWS = 20_000
EO_PROXY_STEPS = 3
# From this many training rows on, each criterion keeps the fairest of its proxies
# (`calibrate_through_proxy` with ``keep_fairest``; the last shifts get a proxy too) and `eo` takes
# one more step. In expectation (`benchmarks/redraw_spread.py`, 3 models × 5 tables), Adult
# (32,561 rows, point masses on) `eo`: EOR 0.807 → 0.832 (seed 2's model 0.71 → 0.81). On COMPAS
# (4,938 rows, four groups, two of them under 400 rows) the ratios it picks by are noise: `eo` EOR
# 0.728 → 0.667, so smaller tables keep the last shifts.
FAIREST_PROXY_MIN_ROWS = 20_000
# `dp` proxy steps by training rows: one, and a second from this many rows on. Each step's per-group
# cut-offs are estimated on the real rows, so a step also adds their noise: on COMPAS (4,938 rows)
# a second step lowered model DPR (seeds 0–2: 0.834/0.842/0.862 → 0.867/0.820/0.780); on Adult
# (32,561) it raised it (0.934/0.955/0.930 → 0.985/0.956/0.950, decoder with associated columns).
# The first step pays on small tables too, now that the proxy tables have `PROXY_MIN_TABLE_ROWS`
# (6 models × 3 tables, each table's full holdout, `benchmarks/fair_modes.md` session 21): 700 training
# rows, Adult model DPR 0.758 → 0.851 (AUROC 0.843 → 0.832), COMPAS 0.794 → 0.814 (0.778 → 0.770);
# 300 rows, Adult 0.768 → 0.807. (Before them, 700-row proxies lowered it: research/RESULTS.md §5.)
DP_SECOND_STEP_MIN_ROWS = 20_000
# The fair label's temperature τ: the `dp` and `eo` labels are drawn from
# ``σ(logit p(y=1 | x, s) / τ + c_s)``, nearer the group-wise cut-offs of the fair Bayes classifier
# (Menon & Williamson 2018) than the data's own label noise, and the shifts are fitted at τ. A
# classifier trained on the table learns those cut-offs from fewer noisy labels. Measured (the same
# models, calibration refitted at τ, 3–4 tables each; /tmp script, `benchmarks/fair_modes.md`,
# session 20): Adult `dp`, 4 models, τ 1 → 0.6: AUROC 0.888 → 0.888, accuracy 0.839 → 0.840, F1
# 0.614 → 0.617, model DPR 0.954 → 0.973; `eo` AUROC 0.898 → 0.901, EOR 0.865 → 0.868; COMPAS
# `dp` AUROC 0.788 → 0.800, accuracy 0.720 → 0.732, model DPR 0.840 → 0.858 (τ 0.8: 0.793, 0.871;
# τ 0.4–0.5 on Adult: F1 0.618, `eo` EOR 0.851–0.863). On Adult sub-sampled to 700–20,000 rows
# utility rose at every size and `dp` model DPR moved by ±0.02, so one τ serves every table.
FAIR_LABEL_TEMPERATURE = 0.6
POSITIVE_MISSING = (
    "the positive label {label!r} is not a class of the target in the training rows (classes: "
    "{classes}); the label calibration needs it"
)


@dataclass
class LabelCalibration:
    """Per-group shifts of the positive class's log-odds, one list of K per criterion.

    ``offsets(criterion)`` is the ``[K, c]`` matrix the decoder adds to the label logits: the
    shifts in the positive class's column, zeros elsewhere (a shift of the positive class's
    log-odds against the rest). ``temperature`` is the fair label's τ, at which the shifts hold
    (`FAIR_LABEL_TEMPERATURE`; 1 in calibrations saved before it)."""

    positive_index: int
    n_classes: int
    shifts: dict[str, list[float]] = field(default_factory=dict)
    proxy_steps: dict[str, int] = field(default_factory=dict)
    temperature: float = 1.0

    def offsets(self, criterion: str) -> np.ndarray | None:
        if criterion not in self.shifts:
            return None
        offsets = np.zeros((len(self.shifts[criterion]), self.n_classes))
        offsets[:, self.positive_index] = self.shifts[criterion]
        return offsets

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, state: dict) -> LabelCalibration:
        return cls(**state)


def positive_index(categories: list, positive_label) -> int:
    """Index of the positive label among the target block's categories (compared as text)."""
    names = [str(c) for c in categories]
    if str(positive_label) not in names:
        raise ValueError(POSITIVE_MISSING.format(label=positive_label, classes=names))
    return names.index(str(positive_label))


def keeps_fairest_proxy(rows: int) -> bool:
    """Whether a table of ``rows`` training rows keeps its fairest proxy (`FAIREST_PROXY_MIN_ROWS`).

    >>> keeps_fairest_proxy(4_938), keeps_fairest_proxy(32_561)
    (False, True)
    """
    return rows >= FAIREST_PROXY_MIN_ROWS


def dp_proxy_steps(rows: int) -> int:
    """The `dp` proxy steps of a table of ``rows`` training rows (`DP_SECOND_STEP_MIN_ROWS`).

    >>> dp_proxy_steps(700), dp_proxy_steps(4_938), dp_proxy_steps(32_561)
    (1, 1, 2)
    """
    return 2 if rows >= DP_SECOND_STEP_MIN_ROWS else 1


@torch.no_grad()
def label_probability_by_group(
    model, z: np.ndarray, positive: int, seed: int, temperature: float = 1.0
) -> np.ndarray:
    """``P(y=positive | z_i, s=k)`` for every group k, ``[K, n]`` (K decoder passes): the label
    model's on features drawn from ``p(x | z_i, s=k)`` (seeded), or the decoder's label head's,
    its logits divided by ``temperature``."""
    device = next(model.teacher.parameters()).device
    zt = torch.as_tensor(np.asarray(z, dtype=np.float32), device=device)
    groups = len(model.codec.groups_)
    outs = all_group_outputs(model.teacher.decoder, zt, groups)
    generator = torch.Generator().manual_seed(seed)
    eye = torch.eye(groups)
    logits = [
        features_then_label_logits(
            outs[k],
            model.teacher.layout,
            model.target_index,
            eye[[k] * len(z)],
            generator,
            model.label_model,
            earlier_columns(model.teacher.decoder),
        )[1]
        for k in range(groups)
    ]
    return torch.softmax(torch.stack(logits).double() / temperature, -1)[:, :, positive].numpy()


def calibrate_labels(
    model, train: pl.DataFrame, spec: DatasetSpec, *, seed: int
) -> LabelCalibration:
    """The `LabelCalibration` of a trained model (codec, teacher, student and sampler), fitted on
    its training rows as described in the module notes. Deterministic given ``seed``."""
    codec = model.codec
    groups = len(codec.groups_)
    categories = codec.target_block_.categories
    calibration = LabelCalibration(
        positive_index(categories, spec.positive_label),
        len(categories),
        temperature=FAIR_LABEL_TEMPERATURE,
    )
    z = model.sampler.sample(CALIBRATION_DRAWS, random_state=seed)
    p_by_group = label_probability_by_group(
        model, z, calibration.positive_index, seed, calibration.temperature
    )
    dp = dp_group_shifts(p_by_group, codec.group_freq_)
    rows = min(train.height, PROXY_ROWS)
    real = train.sample(rows, seed=seed) if train.height > rows else train
    table_rows = max(rows, PROXY_MIN_TABLE_ROWS)
    columns = classifier_columns(spec)

    def proxy_scores(criterion: str, first_draw: int):
        draws = itertools.count(first_draw)

        def generate(shifts: np.ndarray) -> pl.DataFrame:
            trial = dataclasses.replace(calibration, shifts={criterion: shifts.tolist()})
            proxy = dataclasses.replace(model, labels=trial)
            settings = GenerationSettings(mode=criterion, seed=seed + next(draws))
            return pl.concat(proxy.generate(table_rows, settings))

        def score_real(table: pl.DataFrame) -> np.ndarray:
            return fit_predict(table, real, **columns, model="hgb", random_state=seed).y_score

        return generate, score_real

    y_real = (real[spec.target].cast(pl.String) == str(spec.positive_label)).to_numpy()
    s_real = codec.s_index(real)
    keep_fairest = keeps_fairest_proxy(train.height)
    steps = {"dp": dp_proxy_steps(train.height), "eo": EO_PROXY_STEPS + int(keep_fairest)}
    if spec.modality == "image":  # the proxy is a classifier of table columns: the decoder's shifts
        steps = dict.fromkeys(CRITERIA, 0)
    start = {"dp": dp, "eo": np.zeros(groups)}
    # Each criterion's proxy tables take seeds of their own (the criteria's steps numbered one after
    # the other, as when they ran one by one), so the criteria run side by side on two threads.
    # Keeping the fairest, a criterion of n steps fits n + 1 proxies (the last shifts' too).
    proxies = (proxies_fitted(steps[c], keep_fairest) for c in CRITERIA)
    first_draws = itertools.accumulate(proxies, initial=1)
    fits = [
        functools.partial(
            calibrate_through_proxy,
            *proxy_scores(criterion, first),
            y_real.astype(int),
            s_real,
            groups,
            criterion,
            start[criterion],
            steps[criterion],
            keep_fairest,
        )
        for criterion, first in zip(CRITERIA, first_draws, strict=False)
    ]
    for criterion, shifts in zip(CRITERIA, side_by_side(fits), strict=True):
        calibration.shifts[criterion] = shifts.tolist()
    calibration.proxy_steps = steps
    return calibration
