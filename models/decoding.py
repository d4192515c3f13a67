"""Decoding latent codes into rows, and where the fairness of the label is applied (DESIGN §4).

Modes (``P̂(s)`` = train group frequencies, ``p(·|z, s)`` = the shared decoder's heads):

- ``dp`` (default) and ``eo``: ONE decoder pass per row, with the row's own ``s ~ P̂(s)``; features
  ``~ p(x|z, s)`` (coherent with s), then the label from the label logits shifted by the
  group's offset: ``softmax(logits / (T · τ_λ) + λ · offsets[s])``, ``offsets`` ``[K, c]`` fitted
  with the model for each criterion (`models.calibration`). For a binary label the offset is a
  shift ``c_s`` of the positive class's log-odds, ``q = σ(logit p(y=1|x,s) / (T · τ_λ) + λ c_s)``:
  ``dp`` offsets equalise P(y=1|s), ``eo`` offsets move each group's cut-off to its
  equalized-odds one. ``τ_λ = 1 − λ (1 − τ)``, τ the fair label's temperature the offsets were
  fitted at (`models.calibration.FAIR_LABEL_TEMPERATURE`): the fair label sharpens toward the
  fair classifier's cut-offs. The ranking of the rows inside a group is kept; λ = ``fairness``: 0
  = the faithful label.
- ``faithful``: the same pass without offsets; keeps the data's bias.
- ``counterfactual``: each z decoded with every s (K rows per z, one after the other), features
  ``~ p(x|z, s)``, one label per z shared by its K twins, drawn from the mixture
  ``Σ_s' P̂(s') p(y|x_s', s')`` of the twins' label probabilities.

The label logits are those of the label model ``p(y|x, s)`` on the row's drawn features
(`models.label_model`, tables) or, without one (images, older models), the decoder's label head
``p(y|z, s)``; they are divided by ``label_temperature`` (< 1 sharpens). The label block is drawn
after the features. Numerics are sampled
from ``N(mean, exp(logvar))``, categoricals from their softmax, all through one seeded
``torch.Generator``; an image block gives its mean, ``σ(logits)`` per pixel intensity. The output
is per-block values for `TabularCodec.decode_blocks` (indices / normal scores; pixel intensities for
`ImageCodec.decode_blocks`) and s indices.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from fairdistill.errors import NO_LABEL_OFFSETS, ModelError
from fairdistill.settings import LABEL_DIAL_MODES, GenerationSettings
from models.label_model import LabelModel, drawn_features
from models.teacher import (
    LOGVAR_MAX,
    LOGVAR_MIN,
    Decoder,
    EarlierColumns,
    HeadLayout,
    earlier_columns,
)

# Rows per pass of a network at generation: a pass of a few thousand rows keeps its activations in
# the CPU's cache (Adult's decoder on 2 cores: 52 ms per 50,000 rows in one pass, 32 ms in passes of
# 4,096).
PASS_ROWS = 4096


def in_passes(network, *inputs: Tensor) -> Tensor:
    """``network(*inputs)`` over the rows of ``inputs`` in passes of `PASS_ROWS`, concatenated."""
    n = len(inputs[0])
    return torch.cat(
        [network(*(t[i : i + PASS_ROWS] for t in inputs)) for i in range(0, n, PASS_ROWS)]
    )


def sample_categorical(probs: Tensor, generator: torch.Generator) -> Tensor:
    """Inverse-CDF draw of one index per row of ``probs`` ``[n, c]``."""
    u = torch.rand((probs.shape[0], 1), generator=generator)
    return (probs.cumsum(1) < u).sum(1).clamp_max(probs.shape[1] - 1)


def sample_blocks(
    out: Tensor,
    layout: HeadLayout,
    generator: torch.Generator,
    blocks: list[int] | range | None = None,
    earlier: EarlierColumns | None = None,
) -> list[Tensor]:
    """Draw one value per block (``blocks``: which ones, in order, default all) from decoder
    outputs ``out`` ``[n, out_dim]``. With ``earlier`` (the decoder's `EarlierColumns`) the blocks
    are drawn in order, each block's heads shifted by the term of the values drawn before it in
    the blocks it is paired with (a one-hot value's term is one row of the weight)."""
    drawn: dict[int, Tensor] = {}
    for b in blocks if blocks is not None else range(len(layout.heads)):
        kind, cols = layout.heads[b]
        head = out[:, cols]
        if earlier is not None:
            head = head + earlier.drawn_term(b, drawn)
        if kind == "categorical":
            value = sample_categorical(torch.softmax(head, 1), generator)
        elif kind == "image":  # the mean image: per-pixel noise would only add speckle
            value = torch.sigmoid(head)
        else:
            mean, logvar = head[:, 0], head[:, 1]
            std = (0.5 * logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)).exp()
            value = mean + std * torch.randn(mean.shape, generator=generator)
        drawn[b] = value
    return list(drawn.values())


def features_then_label_logits(
    out: Tensor,
    layout: HeadLayout,
    target_index: int,
    s: Tensor,
    generator: torch.Generator,
    label_model: LabelModel | None = None,
    earlier: EarlierColumns | None = None,
) -> tuple[list[Tensor], Tensor]:
    """Draw every block but the label's from ``out`` (in order, given the earlier ones with
    ``earlier``); return them (label block: None) and the label logits: the label model's on the
    drawn features and ``s`` (one-hot), or the decoder's label head without one."""
    features = [b for b in range(len(layout.heads)) if b != target_index]
    values = sample_blocks(out, layout, generator, features, earlier)
    values.insert(target_index, None)
    if label_model is None:
        return values, out[:, layout.heads[target_index][1]]
    device = next(label_model.parameters()).device
    positions, numerics = (t.to(device) for t in drawn_features(values, layout, target_index))
    return values, in_passes(label_model.forward_drawn, positions, numerics, s.to(device)).cpu()


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


def _counterfactual(
    decoder: Decoder,
    layout: HeadLayout,
    z: Tensor,
    p_s: Tensor,
    target_index: int,
    temperature: float,
    g: torch.Generator,
    label_model: LabelModel | None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each z in every group (``z0 s0, z0 s1, …``), one label per z from the ``P̂(s)``-mixture of
    its twins' label probabilities."""
    n, k = len(z), len(p_s)
    flat = all_group_outputs(decoder, z, k).transpose(0, 1).reshape(n * k, -1)
    s_index = torch.arange(k).repeat(n)
    s = torch.nn.functional.one_hot(s_index, k).float()
    values, logits = features_then_label_logits(
        flat, layout, target_index, s, g, label_model, earlier_columns(decoder)
    )
    twins = torch.softmax(logits / temperature, -1).reshape(n, k, -1)
    y = sample_categorical(torch.einsum("k,nkc->nc", p_s, twins), g)
    values[target_index] = y.repeat_interleave(k)
    return [v.numpy() for v in values], s_index.numpy()


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
    *,
    label_offsets=None,
    fair_temperature: float = 1.0,
    label_model: LabelModel | None = None,
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
        Given groups (used by `repair`) instead of draws from ``P̂(s)``; not for counterfactual.
    label_offsets : array of shape (K, c), optional
        The offsets of the label logits for the mode's criterion; required by ``dp`` and ``eo``.
    fair_temperature : float
        τ, the temperature the offsets were fitted at (`LabelCalibration.temperature`): ``dp`` and
        ``eo`` divide the label logits by ``1 − λ (1 − τ)`` too.
    label_model : LabelModel, optional
        ``p(y|x, s)`` (`models.label_model`): the label from the drawn features; without it, the
        decoder's label head.

    Returns
    -------
    values, s_index
        One array per block (``n`` rows, or ``n·K`` in counterfactual mode) and the group indices.
    """
    options = options or GenerationSettings()
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    p_s = torch.as_tensor(np.asarray(p_s), dtype=torch.float32)
    temperature = options.label_temperature
    if options.mode == "counterfactual":
        return _counterfactual(decoder, layout, z, p_s, target_index, temperature, g, label_model)
    n, k = len(z), len(p_s)
    if s_index is None:
        s_index = torch.multinomial(p_s, n, replacement=True, generator=g)
    s_index = torch.as_tensor(s_index, dtype=torch.long)
    s = torch.nn.functional.one_hot(s_index, k).to(device=z.device, dtype=z.dtype)
    out = in_passes(decoder, z, s).cpu()
    values, logits = features_then_label_logits(
        out, layout, target_index, s.cpu(), g, label_model, earlier_columns(decoder)
    )
    logits = logits / temperature
    if options.mode in LABEL_DIAL_MODES:
        if label_offsets is None:
            raise ModelError(NO_LABEL_OFFSETS.format(mode=options.mode))
        offsets = torch.as_tensor(np.asarray(label_offsets), dtype=logits.dtype)
        sharpening = 1 - options.fairness * (1 - fair_temperature)
        logits = logits / sharpening + options.fairness * offsets[s_index]
    values[target_index] = sample_categorical(torch.softmax(logits, 1), g)
    return [v.numpy() for v in values], s_index.numpy()
