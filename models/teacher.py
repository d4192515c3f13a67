"""The teacher: a FairDisCo-style conditional VAE and its training loop (DESIGN §4).

``L_T = recon(x, D(z, s)) + w_KL · KL(q(z|x,s) ‖ N(0, I)) + β · penalty(Z, S)``

References
----------
Sikder et al., "Generating Synthetic Fair Syntax-agnostic Data by Learning and Distilling Fair
Representation", arXiv 2408.10755 (2024). Liu et al., "Fair Representation Learning: An Alternative
to Mutual Information", KDD 2022 (FairDisCo). Kingma & Welling, "Auto-Encoding Variational Bayes",
arXiv 1312.6114 (the KL term, Appendix B).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fairdistill.metrics import cramers_v
from fairdistill.settings import TeacherSettings, TrainingSettings
from models.conv import ConvDecoder, ConvEncoder
from models.dcov import get_penalty, within_classes
from models.device import resolve_device
from models.layers import LOGVAR_MAX, LOGVAR_MIN, mlp
from models.training import fit_loop, gaussian_noise, sub_batch


class HeadLayout:
    """Where each codec block sits in x and in the decoder output.

    Built from ``[(kind, width), ...]`` (``head_spec(codec.blocks_)``). A categorical block of
    width c takes c logits; a numeric block takes 2 outputs (mean, log-variance); an image block
    ``(kind, width, (C, H, W))`` takes one logit per pixel intensity. ``image_shape`` is that
    shape, or None for a table: it picks the networks (`make_encoder`, `make_decoder`).

    A 2-way block ``(categorical, 2, "indicator")`` says, when True, that the numeric block before
    it holds no value on that row (a null, or the column's point mass: the codec's ``"missing"`` and
    ``"mass"`` blocks). ``indicators`` lists them as (numeric index, x column of True).
    """

    def __init__(self, spec: Sequence[Sequence]):
        self.spec = [_entry(*entry) for entry in spec]
        self.categorical: list[tuple[slice, slice]] = []  # (x slice, output slice)
        self.images: list[tuple[slice, slice]] = []
        self.heads: list[tuple[str, slice]] = []  # per block, in order: output slice
        self.inputs: list[slice] = []  # per block, in order: its columns of x
        self.target_index: int | None = None  # the label block's index
        self.image_shape: tuple[int, ...] | None = None
        self.target: slice | None = None  # the label block's columns of x
        self.indicators: list[tuple[int, int]] = []
        num_x, num_out, x_pos, out_pos = [], [], 0, 0
        for kind, width, *extra in self.spec:
            self.inputs.append(slice(x_pos, x_pos + width))
            if kind in ("categorical", "image"):
                pair = (slice(x_pos, x_pos + width), slice(out_pos, out_pos + width))
                (self.images if kind == "image" else self.categorical).append(pair)
                if extra and extra[0] == "target":
                    self.target, self.target_index = pair[0], len(self.heads)
                elif extra and extra[0] == "indicator":
                    self.indicators.append((len(num_x) - 1, x_pos + 1))
                elif extra:
                    self.image_shape = extra[0]
                self.heads.append((kind, slice(out_pos, out_pos + width)))
                out_pos += width
            else:
                num_x.append(x_pos)
                num_out.append(out_pos)
                self.heads.append((kind, slice(out_pos, out_pos + 2)))
                out_pos += 2
            x_pos += width
        self.x_dim, self.out_dim = x_pos, out_pos
        self.num_x = torch.tensor(num_x, dtype=torch.long)
        self.num_mean = torch.tensor(num_out, dtype=torch.long)
        self.num_logvar = self.num_mean + 1

        if self.images and (
            len(self.images) > 1 or len(self.spec) != 2 or self.spec[0][0] != "image"
        ):
            raise ValueError(f"an image layout is one image block then the label block, got {spec}")

    def observed(self, x: Tensor) -> Tensor:
        """``[n, n_numeric]``: 1 where a row's numeric value is a value, 0 where an indicator says
        null or point mass (its normal score there is a placeholder 0)."""
        keep = x.new_ones((x.shape[0], len(self.num_x)))
        for j, column in self.indicators:
            keep[:, j] = keep[:, j] * (1 - x[:, column])
        return keep

    def numeric(self, out: Tensor) -> tuple[Tensor, Tensor]:
        """Means and clamped log-variances of the numeric heads, ``[n, n_numeric]`` each."""
        logvar = out[:, self.num_logvar.to(out.device)].clamp(LOGVAR_MIN, LOGVAR_MAX)
        return out[:, self.num_mean.to(out.device)], logvar


def _entry(kind: str, width: int, extra: Sequence[int] | str | None = None) -> tuple:
    """One block of a layout as a canonical tuple: ``(kind, width)``, or ``(kind, width, extra)``
    with ``extra`` an image block's ``(C, H, W)`` or ``"target"`` for the label block."""
    if extra is None:
        return (str(kind), int(width))
    return (str(kind), int(width), extra if isinstance(extra, str) else tuple(extra))


def head_spec(blocks) -> list[list]:
    """``[[kind, width], ...]`` of codec blocks (an image block adds its ``(C, H, W)``, the label
    block ``"target"``, a null's or point mass's indicator ``"indicator"``): the JSON-able layout
    the models are built from."""
    extra = {"target": ["target"], "missing": ["indicator"], "mass": ["indicator"]}
    return [
        [b.kind, b.stop - b.start, *([tuple(b.shape)] if b.shape else extra.get(b.role, []))]
        for b in blocks
    ]


def make_encoder(
    layout: HeadLayout,
    s_dim: int,
    latent_dim: int,
    hidden: Sequence[int],
    channels: Sequence[int],
) -> nn.Module:
    """The encoder network of a layout: an MLP `Encoder` for tables, a `ConvEncoder` for images."""
    if layout.image_shape is None:
        return Encoder(layout.x_dim, s_dim, latent_dim, hidden)
    return ConvEncoder(layout.image_shape, layout.x_dim, s_dim, latent_dim, channels, hidden)


def make_decoder(
    layout: HeadLayout,
    s_dim: int,
    latent_dim: int,
    hidden: Sequence[int],
    channels: Sequence[int],
    earlier_pairs: Sequence[Sequence[int]] = (),
) -> nn.Module:
    """The decoder network of a layout: an MLP `Decoder` for tables (with `EarlierColumns` over
    ``earlier_pairs`` when there are any), a `ConvDecoder` (image and label head) for images. Both
    return ``[n, layout.out_dim]`` in the layout's order."""
    if layout.image_shape is None:
        earlier = EarlierColumns(layout, earlier_pairs) if len(earlier_pairs) else None
        return Decoder(latent_dim, s_dim, layout.out_dim, hidden, earlier)
    label_width = layout.spec[1][1]
    return ConvDecoder(layout.image_shape, latent_dim, s_dim, label_width, channels, hidden)


class Encoder(nn.Module):
    """MLP ``[x, s] → (μ, log σ²)``."""

    def __init__(self, x_dim: int, s_dim: int, latent_dim: int, hidden: Sequence[int]):
        super().__init__()
        self.x_dim, self.s_dim, self.latent_dim = x_dim, s_dim, latent_dim
        self.net = mlp([x_dim + s_dim, *hidden, 2 * latent_dim])

    def forward(self, x: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.net(torch.cat([x, s], 1)).chunk(2, dim=1)
        return mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)


class EarlierColumns(nn.Module):
    """The decoder's term for columns drawn before a block: block b's heads get
    ``[x_a for (a, b) in pairs] · W_b``, the x columns of the earlier blocks a paired with it,
    ``a < b`` (never the label block), as MADE's masked weights do (Germain et al., "MADE: Masked
    Autoencoder for Distribution Estimation", ICML 2015).

    With it the decoder's heads give ``p(x_b | z, s, x_a)`` instead of ``p(x_b | z, s)``: a
    factorised decoder draws each column independently given (z, s) and loses the dependencies
    the latent holds only loosely (Adult: a missing workclass goes with a missing occupation in
    every real row, in 19% of a factorised decoder's rows). `earlier_pairs` picks the pairs: every
    earlier block, or only the associated ones. Starts at zero: training begins from the
    factorised decoder. Trained on the real x (teacher forcing); at generation the blocks are
    drawn in order (`models.decoding.sample_blocks`, through `drawn_term`).

    One weight per later block, ``[Σ_a width(x_a), width(heads_b)]``: the cost follows the pairs,
    not the table's width. On a table of 30 columns of 40 categories with two pairs, a training
    step of the decoder took 12.2 ms without the term, 56.7 ms with one dense masked
    ``[out_dim, x_dim]`` weight (1.8M parameters instead of 0.35M), 14.8 ms with these.
    """

    def __init__(self, layout: HeadLayout, pairs: Sequence[Sequence[int]]):
        super().__init__()
        self.pairs = sorted((int(a), int(b)) for a, b in pairs)
        self.layout = layout
        self.sources: dict[int, list[int]] = {}  # later block → its earlier blocks, in order
        for a, b in self.pairs:
            if not a < b or layout.target_index in (a, b):
                raise ValueError(
                    f"an earlier-columns pair is (earlier, later) feature blocks: {a, b}"
                )
            self.sources.setdefault(b, []).append(a)
        # later block → the x columns of its earlier blocks, the rows of its weight
        self.columns = {
            b: torch.cat([torch.arange(layout.inputs[a].start, layout.inputs[a].stop) for a in s])
            for b, s in self.sources.items()
        }
        self.weights = nn.ParameterDict(
            {
                str(b): nn.Parameter(torch.zeros(len(columns), _width(layout.heads[b][1])))
                for b, columns in self.columns.items()
            }
        )

    def forward(self, x: Tensor) -> Tensor:
        """The term of every head, ``[n, out_dim]`` (zero for a block with no earlier pair)."""
        terms = []
        for b, (_, cols) in enumerate(self.layout.heads):
            if b in self.sources:
                terms.append(x[:, self.columns[b]] @ self.weights[str(b)])
            else:
                terms.append(x.new_zeros((len(x), _width(cols))))
        return torch.cat(terms, 1)

    def drawn_term(self, b: int, drawn: dict[int, Tensor]) -> Tensor | int:
        """Block b's term from the values drawn for its earlier blocks (a category's index, or a
        number), ``[n, width(heads_b)]``, 0 without one: a one-hot value's term is one row of the
        weight, looked up instead of multiplied."""
        if b not in self.sources:
            return 0
        term, offset = 0, 0
        weight = self.weights[str(b)].to(drawn[self.sources[b][0]].device)
        for a in self.sources[b]:
            if self.layout.heads[a][0] == "categorical":
                term = term + weight[offset + drawn[a]]
            else:
                term = term + drawn[a][:, None] * weight[offset]
            offset += _width(self.layout.inputs[a])
        return term

    @property
    def mask(self) -> Tensor:
        """``[out_dim, x_dim]``, 1 where an x column reaches a head (what the term can see)."""
        mask = torch.zeros(self.layout.out_dim, self.layout.x_dim)
        for a, b in self.pairs:
            mask[self.layout.heads[b][1], self.layout.inputs[a]] = 1.0
        return mask

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Teachers saved before 2026-12-03 hold one dense [out_dim, x_dim] weight: its blocks.
        dense = state_dict.pop(prefix + "weight", None)
        if dense is not None:
            for b, columns in self.columns.items():
                state_dict[f"{prefix}weights.{b}"] = dense[self.layout.heads[b][1]][:, columns].T
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _width(columns: slice) -> int:
    return columns.stop - columns.start


# Least association of two categorical blocks (Cramér's V on the training rows, bias-corrected)
# for the "associated" decoder to draw the later one given the earlier. On Adult it pairs
# workclass with occupation (V 0.40: a missing workclass goes with a missing occupation), marital
# status with relationship (0.49) and race with native country (0.41); the next pair is at 0.19.
# COMPAS has no pair above 0.06. Detection AUC on Adult (seeds 0–2): 0.728/0.716/0.762
# factorised, 0.626/0.628/0.667 with these three pairs (docs/benchmarks.md, session 12). The plain
# V pairs columns with many levels by chance on a small table: education and native country (V 0.13
# on all of Adult's rows) reach 0.3 in 18 of 20 samples of 300 rows, 7 of 20 of 700; corrected, 4
# and 2 (the correction removes the bias, not the noise of a sparse table).
MIN_ASSOCIATION = 0.3
# Rows read for the association (evenly spaced): a V estimated on 50,000 rows is within ±0.01.
ASSOCIATION_ROWS = 50_000


def earlier_pairs(
    mode: str, layout: HeadLayout, x: np.ndarray | None = None
) -> list[tuple[int, int]]:
    """The (earlier, later) block pairs of the decoder's `EarlierColumns` for ``mode`` (the
    ``autoregressive`` setting): none; ``"all"``, every earlier feature block (MADE's order);
    ``"associated"``, the categorical feature blocks (missing-value indicators included) whose
    bias-corrected Cramér's V on the encoded rows ``x`` is at least `MIN_ASSOCIATION`. Images:
    none."""
    if mode == "none" or layout.image_shape is not None:
        return []
    features = [b for b in range(len(layout.heads)) if b != layout.target_index]
    if mode == "all":
        return [(a, b) for b in features for a in features if a < b]
    categorical = [b for b in features if layout.heads[b][0] == "categorical"]
    x = np.asarray(x)[:: max(1, math.ceil(len(x) / ASSOCIATION_ROWS))]
    codes = {b: x[:, layout.inputs[b]].argmax(1) for b in categorical}  # one-hot → category
    return [
        (a, b)
        for b in categorical
        for a in categorical
        if a < b and cramers_v(codes[a], codes[b], bias_correction=True) >= MIN_ASSOCIATION
    ]


class Decoder(nn.Module):
    """MLP ``[z, s] →`` one head per codec block (logits, or mean and log-variance), plus
    ``earlier`` (`EarlierColumns`, or None) for the columns drawn before each block."""

    def __init__(
        self,
        latent_dim: int,
        s_dim: int,
        out_dim: int,
        hidden: Sequence[int],
        earlier: EarlierColumns | None = None,
    ):
        super().__init__()
        self.net = mlp([latent_dim + s_dim, *hidden, out_dim])
        self.earlier = earlier

    def forward(self, z: Tensor, s: Tensor) -> Tensor:
        return self.net(torch.cat([z, s], 1))


def earlier_columns(decoder: nn.Module) -> EarlierColumns | None:
    """The decoder's `EarlierColumns`, or None (a factorised or image decoder has none)."""
    return getattr(decoder, "earlier", None)


def decoder_outputs(decoder: nn.Module, z: Tensor, s: Tensor, x: Tensor) -> Tensor:
    """``D(z, s)`` with the earlier columns' term on the real rows ``x`` when the decoder has one
    (teacher forcing): the heads the reconstruction loss scores."""
    out = decoder(z, s)
    earlier = earlier_columns(decoder)
    return out if earlier is None else out + earlier(x)


class TeacherVAE(nn.Module):
    """FairDisCo teacher: an encoder and the shared decoder, MLPs for tables and convolutional
    networks for images (chosen from the layout: `make_encoder`, `make_decoder`)."""

    def __init__(
        self,
        spec: Sequence[Sequence],
        s_dim: int,
        latent_dim: int = 12,
        hidden: Sequence[int] = (256, 256),
        channels: Sequence[int] = (32, 64),
        earlier_pairs: Sequence[Sequence[int]] = (),
    ):
        super().__init__()
        self.layout = HeadLayout(spec)
        self.encoder = make_encoder(self.layout, s_dim, latent_dim, hidden, channels)
        self.decoder = make_decoder(self.layout, s_dim, latent_dim, hidden, channels, earlier_pairs)

    def forward(self, x: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        return self.encoder(x, s)


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator) -> Tensor:
    """``z = μ + σ ⊙ ε``, ``ε ~ N(0, I)`` (Kingma & Welling 2014, Eq. 10)."""
    return mu + (0.5 * logvar).exp() * gaussian_noise(mu, generator)


def reconstruction_loss(x: Tensor, out: Tensor, layout: HeadLayout) -> Tensor:
    """``Σ_blocks`` per-row NLL, mean over the batch.

    Categorical block: cross-entropy ``−log softmax(logits)[true class]``. Numeric block: Gaussian
    NLL
    ``½ [log 2π + log σ² + (x − m)² / σ²]``. Image block: the Bernoulli cross-entropy of each pixel
    intensity x_p ∈ [0, 1], ``−Σ_p [x_p log σ(o_p) + (1 − x_p) log(1 − σ(o_p))]`` (Kingma &
    Welling 2014, Appendix C.1). Ideal value: the data's conditional entropy. A numeric NLL counts
    only where the value is observed (`HeadLayout.observed`): a null's or a point mass's placeholder
    score is the indicator's to explain, and fitting it would pull the head's variance toward a
    spike.
    """
    total = x.new_zeros(x.shape[0])
    for xs, os_ in layout.categorical:
        total = total - (F.log_softmax(out[:, os_], 1) * x[:, xs]).sum(1)
    for xs, os_ in layout.images:
        bce = F.binary_cross_entropy_with_logits(out[:, os_], x[:, xs], reduction="none")
        total = total + bce.sum(1)
    if len(layout.num_x):
        mean, logvar = layout.numeric(out)
        target = x[:, layout.num_x.to(x.device)]
        nll = 0.5 * (math.log(2 * math.pi) + logvar + (target - mean).pow(2) / logvar.exp())
        total = total + (nll * layout.observed(x)).sum(1)
    return total.mean()


def kl_to_prior(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(μ, σ²) ‖ N(0, I)) = −½ Σ_d (1 + log σ²_d − μ_d² − σ²_d)``, mean over the batch.

    Kingma & Welling (2014), Appendix B. Ideal value 0 (posterior = prior).

    >>> import torch
    >>> float(kl_to_prior(torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2)))
    0.5
    """
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()


PENALTY_NEEDS_LABEL = (
    "penalty_within: label needs the label block in the model's layout, and this model's layout "
    "({spec}) does not mark one; retrain it, or set penalty_within: batch"
)


def independence_penalty(config: TrainingSettings, layout: HeadLayout) -> Callable:
    """``penalty(μ, log σ², s, x)``: the config's penalty over the batch (Z ⊥ S), or inside each
    label class of x (Z ⊥ S | Y, `models.dcov.within_classes`) with ``penalty_within: label``."""
    penalty = get_penalty(config.penalty)
    if config.penalty_within == "batch":
        return lambda mu, logvar, s, x: penalty(mu, logvar, s)
    if layout.target is None:
        raise ValueError(PENALTY_NEEDS_LABEL.format(spec=layout.spec))
    return lambda mu, logvar, s, x: within_classes(penalty, mu, logvar, s, x[:, layout.target])


def teacher_loss_fn(model: TeacherVAE, config: TeacherSettings) -> Callable:
    """The per-batch loss ``recon + w_KL·KL + β·penalty(μ, log σ², s)`` as a dict of named terms;
    the penalty on the first ``penalty_rows`` rows of the (shuffled) batch."""
    penalty = independence_penalty(config, model.layout)

    def loss(batch, generator, round_):
        x, s = batch
        mu, logvar = model.encoder(x, s)
        z = reparameterize(mu, logvar, generator)
        terms = {
            "recon": reconstruction_loss(x, decoder_outputs(model.decoder, z, s, x), model.layout),
            "kl": kl_to_prior(mu, logvar),
            "penalty": penalty(*sub_batch(config.penalty_rows, mu, logvar, s, x)),
        }
        terms["total"] = (
            terms["recon"] + config.kl_weight * terms["kl"] + config.beta * terms["penalty"]
        )
        return terms

    return loss


@torch.no_grad()
def init_output_bias(model: TeacherVAE, x: np.ndarray) -> None:
    """Start the decoder's heads at the data's marginals: each categorical head's last-layer bias
    at its centred log-frequencies ``log P̂(c)`` (counts smoothed by ½), each numeric head's at the
    column's mean and log-variance over the rows where it holds a value. The weights then learn
    only the dependence on (z, s), and rare categories need no steps to reach their frequencies
    (detection AUC −0.01 to −0.02 at equal steps, research/RESULTS.md §3)."""
    bias = model.decoder.net[-1].bias
    x = np.asarray(x, dtype=np.float64)
    for columns, outputs in model.layout.categorical:
        log_p = np.log(x[:, columns].sum(0) + 0.5)
        bias[outputs] = torch.as_tensor(log_p - log_p.mean(), dtype=bias.dtype)
    if len(model.layout.num_x):
        numbers = x[:, model.layout.num_x.numpy()]
        weights = model.layout.observed(torch.as_tensor(x)).numpy() + 1e-12  # observed rows only
        mean = np.average(numbers, axis=0, weights=weights)
        var = np.average((numbers - mean) ** 2, axis=0, weights=weights)
        bias[model.layout.num_mean] = torch.as_tensor(mean, dtype=bias.dtype)
        bias[model.layout.num_logvar] = torch.as_tensor(
            np.log(np.maximum(var, 1e-3)), dtype=bias.dtype
        )


def as_tensor(a: np.ndarray | Tensor, device: torch.device) -> Tensor:
    """A float32 tensor on ``device`` (the numpy → torch boundary)."""
    return torch.as_tensor(
        np.asarray(a, dtype=np.float32) if not isinstance(a, Tensor) else a, dtype=torch.float32
    ).to(device)


def train_teacher(
    x,
    s,
    spec: Sequence[Sequence],
    config: TeacherSettings | None = None,
    *,
    on_round: Callable[[dict], None] | None = None,
    checkpoint_path: str | os.PathLike | None = None,
) -> tuple[TeacherVAE, list[dict]]:
    """Train the teacher VAE on encoded rows ``x`` and one-hot ``s``.

    Parameters
    ----------
    x, s : array of shape (n, d_x), (n, K)
        `TabularCodec.encode` output.
    spec : list of [kind, width]
        `head_spec(codec.blocks_)`.
    config : TeacherSettings
    on_round : callable, optional
        Receives ``{"recon", "kl", "penalty", "total", "val_total", "round"}`` after each round.
    checkpoint_path : path, optional
        Written every round; if it exists, training resumes from it.

    Returns
    -------
    model, history
        The model with the best validation weights (eval mode), and one dict of losses per round.
    """
    config = (config or TeacherSettings()).for_table(*np.shape(x))
    device = resolve_device(config.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = TeacherVAE(
            spec,
            s.shape[1],
            config.latent_dim,
            config.hidden,
            config.channels,
            earlier_pairs(config.autoregressive, HeadLayout(spec), x),
        )
    if model.layout.image_shape is None:
        init_output_bias(model, x)
    model = model.to(device)
    model.settings = config  # as resolved for this table: what `save_teacher` records
    data = (as_tensor(x, device), as_tensor(s, device))
    if model.layout.image_shape is not None:  # images are mostly background: start at the means
        model.decoder.start_at_means(*data)
    history = fit_loop(
        model,
        teacher_loss_fn(model, config),
        data,
        config,
        on_round=on_round,
        checkpoint_path=checkpoint_path,
        desc="teacher",
    )
    return model, history
