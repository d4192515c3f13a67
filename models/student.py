"""The student: a small encoder distilled from the frozen teacher (DESIGN §4, arXiv 2408.10755 §3).

``L_S = quality + λ_u · utility``, with
``quality = ‖μ_S − μ_T‖² + β · penalty(Z_S, S)`` (fair distillation) and
``utility = KL(q_T(z|x,s) ‖ q_S(z|x,s)) + w_r(round) · recon(x, D(z_S, s))`` (KL-based utility),
where
``w_r`` ramps linearly from 0 to ``recon_weight`` over ``recon_warmup`` rounds: a full-weight
reconstruction term from the start collapsed the student in the prototype.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from fairdistill.settings import StudentSettings
from models.device import resolve_device
from models.teacher import (
    Encoder,
    HeadLayout,
    TeacherVAE,
    as_tensor,
    decoder_outputs,
    independence_penalty,
    make_encoder,
    reconstruction_loss,
    reparameterize,
)
from models.training import fit_loop, posteriors, sub_batch


class StudentEncoder(Encoder):
    """A small MLP ``[x, s] → (μ_S, log σ²_S)``: one hidden layer by default
    (`StudentSettings.default_hidden`)."""

    def __init__(self, x_dim: int, s_dim: int, latent_dim: int = 12, hidden: Sequence[int] = (64,)):
        super().__init__(x_dim, s_dim, latent_dim, hidden)


def make_student(
    layout: HeadLayout, s_dim: int, latent_dim: int, hidden: Sequence[int], channels: Sequence[int]
) -> nn.Module:
    """The student network of a layout: a `StudentEncoder` MLP for tables, a small `ConvEncoder`
    (``channels``, ``hidden``) for images."""
    if layout.image_shape is None:
        return StudentEncoder(layout.x_dim, s_dim, latent_dim, hidden)
    return make_encoder(layout, s_dim, latent_dim, hidden, channels)


def mean_matching_loss(mu_s: Tensor, mu_t: Tensor) -> Tensor:
    """``‖μ_S − μ_T‖²`` summed over latent dims, mean over the batch. Ideal value 0.

    >>> import torch
    >>> float(mean_matching_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])))
    5.0
    """
    return (mu_s - mu_t).pow(2).sum(1).mean()


def gaussian_kl(mu_t: Tensor, logvar_t: Tensor, mu_s: Tensor, logvar_s: Tensor) -> Tensor:
    """Closed-form ``KL(N(μ_T, σ²_T) ‖ N(μ_S, σ²_S))`` for diagonal Gaussians, mean over the batch.

    ``½ Σ_d [log σ²_S − log σ²_T + (σ²_T + (μ_T − μ_S)²) / σ²_S − 1]``. Ideal value 0 (q_S = q_T).

    >>> import torch
    >>> z = torch.zeros(1, 1)
    >>> float(gaussian_kl(z, z, torch.ones(1, 1), z))
    0.5
    """
    ratio = (logvar_t.exp() + (mu_t - mu_s).pow(2)) / logvar_s.exp()
    return (0.5 * (logvar_s - logvar_t + ratio - 1).sum(1)).mean()


def recon_ramp(round_: int, warmup: int, weight: float) -> float:
    """``w_r = weight · min(1, (round + 1) / (warmup + 1))``; full weight at validation (round −1).

    >>> [recon_ramp(e, 3, 1.0) for e in (0, 1, 3, -1)]
    [0.25, 0.5, 1.0, 1.0]
    """
    if round_ < 0:
        return weight
    return weight * min(1.0, (round_ + 1) / (warmup + 1))


def student_loss_fn(
    student: StudentEncoder, teacher: TeacherVAE, config: StudentSettings
) -> Callable:
    """Per-batch ``quality + λ_u · utility`` as a dict of named terms."""
    penalty = independence_penalty(config, teacher.layout)

    def loss(batch, generator, round_):
        x, s, mu_t, logvar_t = batch
        mu, logvar = student(x, s)
        z = reparameterize(mu, logvar, generator)
        terms = {
            "match": mean_matching_loss(mu, mu_t),
            "penalty": penalty(*sub_batch(config.penalty_rows, mu, logvar, s, x)),
            "kl": gaussian_kl(mu_t, logvar_t, mu, logvar),
            "recon": reconstruction_loss(
                x, decoder_outputs(teacher.decoder, z, s, x), teacher.layout
            ),
        }
        quality = terms["match"] + config.beta * terms["penalty"]
        w_r = recon_ramp(round_, config.recon_warmup, config.recon_weight)
        terms["total"] = quality + config.lambda_u * (terms["kl"] + w_r * terms["recon"])
        return terms

    return loss


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters."""
    return sum(p.numel() for p in module.parameters())


def distill(
    teacher: TeacherVAE,
    x,
    s,
    config: StudentSettings | None = None,
    *,
    on_round: Callable[[dict], None] | None = None,
    checkpoint_path: str | os.PathLike | None = None,
) -> tuple[StudentEncoder, list[dict]]:
    """Distil the frozen teacher's encoder into a student (`make_student`; the decoder stays shared,
    frozen).

    Same loop as `train_teacher` (callback, early stopping, checkpoints, progress bar, seeded).
    The teacher's posteriors are computed once up front (it is frozen and deterministic).
    """
    config = (config or StudentSettings()).for_table(*np.shape(x))
    device = resolve_device(config.device)
    teacher = teacher.to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    xt, st = as_tensor(x, device), as_tensor(s, device)
    mu_t, logvar_t = posteriors(teacher.encoder, xt, st)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        latent = mu_t.shape[1]
        student = make_student(teacher.layout, st.shape[1], latent, config.hidden, config.channels)
        student = student.to(device)
    student.settings = config  # as resolved for this table: what `save_student` records
    history = fit_loop(
        student,
        student_loss_fn(student, teacher, config),
        (xt, st, mu_t, logvar_t),
        config,
        on_round=on_round,
        checkpoint_path=checkpoint_path,
        desc="student",
    )
    return student, history
