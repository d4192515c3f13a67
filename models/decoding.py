"""Decoding latent codes into rows, and where the marginalisation over s is applied (DESIGN §4).

Modes (``P̂(s)`` = train group frequencies, ``p(·|z, s)`` = the shared decoder's heads):

- ``faithful``: ``s ~ P̂(s)``; every column, label included, ``~ p(·|z, s)``. Keeps the data's bias.
- ``label-fair`` (default): ``s ~ P̂(s)``; features ``~ p(x|z, s)`` (coherent with s); label from
  ``(1 − λ) p(y|z, s) + λ Σ_s' P̂(s') p(y|z, s')``; ``λ = fairness`` (1 by default).
- ``all-fair``: every column from the mixture ``Σ_s' P̂(s') p(·|z, s')``; s drawn independently.
- ``counterfactual``: each z decoded with every s (K rows per z, one after the other), features
  ``~ p(x|z, s)``, one label per z shared by its K twins, drawn as in label-fair.

The label head's logits are divided by ``label_temperature`` (< 1 sharpens). Numerics are sampled
from
``N(mean, exp(logvar))``, categoricals from their softmax, all through one seeded
``torch.Generator``; an image block gives its mean, ``σ(logits)`` per pixel intensity. The output
is per-block values for `TabularCodec.decode_blocks` (indices / normal scores; pixel intensities for
`ImageCodec.decode_blocks`) and s indices.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from fairdistill.settings import GenerationSettings
from models.teacher import LOGVAR_MAX, LOGVAR_MIN, Decoder, HeadLayout


def sample_categorical(probs: Tensor, generator: torch.Generator) -> Tensor:
    """Inverse-CDF draw of one index per row of ``probs`` ``[n, c]``."""
    u = torch.rand((probs.shape[0], 1), generator=generator)
    return (probs.cumsum(1) < u).sum(1).clamp_max(probs.shape[1] - 1)


def sample_blocks(
    out: Tensor,
    layout: HeadLayout,
    generator: torch.Generator,
    label: tuple[int, Tensor] | None = None,
) -> list[Tensor]:
    """Draw one value per block from decoder outputs ``out`` ``[n, out_dim]``.

    ``label = (block index, probabilities)`` replaces that block's softmax by given probabilities.
    """
    values = []
    for b, (kind, cols) in enumerate(layout.heads):
        if label is not None and b == label[0]:
            values.append(sample_categorical(label[1], generator))
        elif kind == "categorical":
            values.append(sample_categorical(torch.softmax(out[:, cols], 1), generator))
        elif kind == "image":  # the mean image: per-pixel noise would only add speckle
            values.append(torch.sigmoid(out[:, cols]))
        else:
            mean, logvar = out[:, cols.start], out[:, cols.start + 1]
            std = (0.5 * logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)).exp()
            values.append(mean + std * torch.randn(mean.shape, generator=generator))
    return values


def all_group_outputs(decoder: Decoder, z: Tensor, n_groups: int) -> Tensor:
    """``D(z, s')`` for every group s' in one batched pass: ``[K, n, out_dim]`` on the CPU. A
    decoder with its own ``all_groups`` (the image decoder draws each structure map once) is
    asked for it."""
    if hasattr(decoder, "all_groups"):
        return decoder.all_groups(z, n_groups).cpu()
    eye = torch.eye(n_groups, device=z.device)
    zz = z.repeat(n_groups, 1)
    ss = eye.repeat_interleave(len(z), 0)
    return decoder(zz, ss).reshape(n_groups, len(z), -1).cpu()


def label_probabilities(
    outs: Tensor, cols: slice, p_s: Tensor, temperature: float
) -> tuple[Tensor, Tensor]:
    """Per-group label probabilities ``[K, n, c]`` and their ``P̂(s')``-mixture ``[n, c]``."""
    per_group = torch.softmax(outs[:, :, cols] / temperature, -1)
    return per_group, torch.einsum("k,knc->nc", p_s, per_group)


def _mixed_outputs(outs: Tensor, layout: HeadLayout, p_s: Tensor, g: torch.Generator) -> Tensor:
    """Per row and block, the outputs of one group drawn from ``P̂(s)`` (all-fair's mixture)."""
    n = outs.shape[1]
    comps = torch.multinomial(p_s, n * len(layout.heads), replacement=True, generator=g)
    comps = comps.reshape(n, len(layout.heads))
    widths = torch.tensor([c.stop - c.start for _, c in layout.heads])
    col_comp = comps.repeat_interleave(widths, dim=1)  # [n, out_dim]
    return outs.gather(0, col_comp[None]).squeeze(0)


@torch.no_grad()
def decode_latent(
    decoder: Decoder,
    layout: HeadLayout,
    z: Tensor,
    p_s,
    target_index: int,
    options: GenerationSettings | None = None,
    generator: torch.Generator | None = None,
    s_index: Tensor | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Decode latent codes ``z`` ``[n, k]`` into per-block values and group indices.

    Parameters
    ----------
    decoder, layout : the shared decoder and its `HeadLayout`.
    z : Tensor of shape (n, k)
    p_s : array of shape (K,)
        ``P̂(s)``, the train frequencies of the sensitive groups (``codec.group_freq_``).
    target_index : int
        Index of the label block in ``codec.blocks_``.
    options : GenerationSettings
        The decode mode, the fairness dial and the label temperature (other fields unused).
    generator : torch.Generator, seeded; all draws go through it.
    s_index : Tensor of shape (n,), optional
        Given groups (used by `repair`) instead of draws from ``P̂(s)``; not for all-fair.

    Returns
    -------
    values, s_index
        One array per block (``n`` rows, or ``n·K`` in counterfactual mode) and the group indices.
    """
    options = options or GenerationSettings()
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    p_s = torch.as_tensor(np.asarray(p_s), dtype=torch.float32)
    n, k = len(z), len(p_s)
    outs = all_group_outputs(decoder, z, k)
    label_cols = layout.heads[target_index][1]
    per_group, fair = label_probabilities(outs, label_cols, p_s, options.label_temperature)
    if options.mode == "counterfactual":
        y = sample_categorical(fair, g)
        flat = outs.transpose(0, 1).reshape(n * k, -1)  # z0 s0, z0 s1, ...
        twins = torch.nn.functional.one_hot(y.repeat_interleave(k), fair.shape[1]).float()
        values = sample_blocks(flat, layout, g, label=(target_index, twins))
        return [v.numpy() for v in values], np.tile(np.arange(k), n)
    if s_index is None or options.mode == "all-fair":
        s_index = torch.multinomial(p_s, n, replacement=True, generator=g)
    s_index = torch.as_tensor(s_index, dtype=torch.long)
    if options.mode == "all-fair":
        values = sample_blocks(
            _mixed_outputs(outs, layout, p_s, g), layout, g, label=(target_index, fair)
        )
        return [v.numpy() for v in values], s_index.numpy()
    rows = torch.arange(n)
    lam = 0.0 if options.mode == "faithful" else options.fairness
    p_label = (1 - lam) * per_group[s_index, rows] + lam * fair
    values = sample_blocks(outs[s_index, rows], layout, g, label=(target_index, p_label))
    return [v.numpy() for v in values], s_index.numpy()
