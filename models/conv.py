"""Convolutional networks for image layouts: an encoder on (image, s) and a decoder on (z, s) with
its label head.

They read and write the same flat rows as the MLPs of tables (x = the image block in (C, H, W)
order, then the label block; the decoder's output = the image's logits, then the label's), so the
losses, the training loop, the penalties, the sampler and the decode modes are the ones of tables
(`models.teacher.make_encoder` and `make_decoder` pick these networks from the codec's layout).

Where s enters is the design choice: the group acts on the colours of each pixel, never on the
image's structure. The encoder mixes the image's channels into one structure map, with non-negative
weights of the row's group, standardises it per image and reads only that map; the decoder draws one
structure map from z and colours it with a brightness and an offset per channel of the group. So the
latent holds the shape and not the colour, even for the colour–shape pairs that the biased training
data lack (a convolutional encoder that saw the colours encoded them for those pairs: colour AUROC
0.74–0.99 on Colored-MNIST's colour-independent holdout, 0.46–0.58 with the structure map), and a
counterfactual twin (one z decoded with another s) changes the colours and keeps the shape. A
sensitive attribute that changes the structure of an image (a face's shape) needs other networks.

Each stride-2 3×3 convolution halves the height and width (rounding up); the decoder mirrors the
encoder with transposed convolutions whose output padding restores the exact sizes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.layers import LOGVAR_MAX, LOGVAR_MIN, mlp


def feature_sizes(size: int, layers: int) -> list[int]:
    """Height (or width) of the input and after each stride-2 layer: ``s_{i+1} = ⌈s_i / 2⌉``.

    >>> feature_sizes(14, 2)
    [14, 7, 4]
    """
    sizes = [size]
    for _ in range(layers):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


def structure_map(image: Tensor, weights: Tensor) -> Tensor:
    """``m = standardise(Σ_c w_c · image_c)`` per image (zero mean, unit standard deviation over
    its pixels; ``[n, 1, H, W]``), with ``weights`` ``[n, C]`` ≥ 0: neither a group's scale nor
    its offset survives, so the map of a digit is the same in every colour it is painted in.

    >>> import torch
    >>> digit = torch.zeros(1, 1, 3, 3)
    >>> digit[0, 0, 1] = 1.0
    >>> red, green = (torch.cat([digit * a, digit * b, digit * 0], 1) for a, b in ((1, 0), (0, 0.5)))
    >>> a, b = (structure_map(image, torch.ones(1, 3)) for image in (red, green))
    >>> bool(torch.allclose(a, b, atol=1e-2))
    True
    """
    mixed = torch.einsum("nchw,nc->nhw", image, weights)[:, None]
    centred = mixed - mixed.mean((2, 3), keepdim=True)
    return centred / (centred.pow(2).mean((2, 3), keepdim=True).sqrt() + 1e-3)


class ConvEncoder(nn.Module):
    """``[x, s] → (μ, log σ²)``: the image's `structure_map` (channel weights ``softplus(w_s)`` of
    the row's group), stride-2 3×3 convolutions (ReLU) over it, then an MLP. It reads the image
    block of x and s (the label is not an input: the latent must carry the shape, from which the
    decoder's label head reads the label)."""

    def __init__(
        self,
        image_shape: Sequence[int],
        x_dim: int,
        s_dim: int,
        latent_dim: int,
        channels: Sequence[int],
        hidden: Sequence[int],
    ):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.x_dim, self.s_dim, self.latent_dim = x_dim, s_dim, latent_dim
        depth, height, width = self.image_shape
        self.pixels = depth * height * width
        self.mix = nn.Parameter(torch.zeros(s_dim, depth))  # per group, before the softplus
        layers: list[nn.Module] = []
        depth = 1  # the structure map
        for out in channels:
            layers += [nn.Conv2d(depth, out, 3, 2, 1), nn.ReLU()]
            depth = out
        self.conv = nn.Sequential(*layers, nn.Flatten())
        flat = (
            depth
            * feature_sizes(height, len(channels))[-1]
            * feature_sizes(width, len(channels))[-1]
        )
        self.head = mlp([flat, *hidden, 2 * latent_dim])

    def forward(self, x: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        depth, height, width = self.image_shape
        image = x[:, : self.pixels].reshape(-1, depth, height, width)
        structure = structure_map(image, s @ F.softplus(self.mix))
        mu, logvar = self.head(self.conv(structure)).chunk(2, dim=1)
        return mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)


class ConvDecoder(nn.Module):
    """``[z, s] →`` [image logits, label logits].

    Image: an MLP from z to the smallest feature map, stride-2 3×3 transposed convolutions (ReLU
    between them) back to one full-size structure map m, then the colours of the row's group k:
    logit of channel c = ``softplus(a_{k,c}) · m + b_{k,c}``. The structure comes from z alone and
    s only colours it, so a counterfactual twin keeps the shape even where the training data tie
    shapes to groups (a decoder that read s earlier drew each group's typical shapes); the
    brightness is ≥ 0, so "bright" means the same in every group (with free signs, a rare group's
    colours came out inverted or blank).

    Label: an MLP head on z alone, so the twins of one z share their label, and s reaches the
    label only through z, which the independence penalty keeps free of s.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        latent_dim: int,
        s_dim: int,
        label_width: int,
        channels: Sequence[int],
        hidden: Sequence[int],
    ):
        super().__init__()
        self.image_shape, self.s_dim = tuple(image_shape), s_dim
        depth, height, width = self.image_shape
        heights = feature_sizes(height, len(channels))
        widths = feature_sizes(width, len(channels))
        self.start = (channels[-1], heights[-1], widths[-1])
        self.trunk = nn.Sequential(mlp([latent_dim, *hidden, math.prod(self.start)]), nn.ReLU())
        layers: list[nn.Module] = []
        for level in range(len(channels), 0, -1):  # from the smallest map up to the image size
            pad = (
                heights[level - 1] - 2 * heights[level] + 1,
                widths[level - 1] - 2 * widths[level] + 1,
            )
            out = channels[level - 2] if level > 1 else 1  # the last layer draws the structure map
            layers += [
                nn.ConvTranspose2d(channels[level - 1], out, 3, 2, 1, output_padding=pad),
                nn.ReLU(),
            ]
        self.up = nn.Sequential(*layers[:-1])
        self.brightness = nn.Parameter(torch.zeros(s_dim, depth))  # a, before the softplus
        self.offset = nn.Parameter(torch.zeros(s_dim, depth))  # b
        self.label = mlp([latent_dim, *hidden, label_width])

    def forward(self, z: Tensor, s: Tensor) -> Tensor:
        image = self.colour(self.structure(z), s @ F.softplus(self.brightness), s @ self.offset)
        return torch.cat([image.flatten(1), self.label(z)], 1)

    @staticmethod
    def colour(structure: Tensor, brightness: Tensor, offset: Tensor) -> Tensor:
        """Channel logits ``brightness_c · m + offset_c`` of structure maps ``[n, 1, H, W]``, with
        one brightness and offset per row and channel ``[n, C]``."""
        return brightness[:, :, None, None] * structure + offset[:, :, None, None]

    @torch.no_grad()
    def start_at_means(self, x: Tensor, s: Tensor) -> None:
        """Start each group's colouring at the mean intensity of its training images, channel by
        channel: bias ``b_{k,c} = logit(mean_{i ∈ k} x_{i,c})`` (clipped to [1e-3, 1 − 1e-3]).
        From the default bias (σ ≈ ½ everywhere) the first epochs only learnt the background, the
        latent unused (KL ≈ 0 for 8 epochs on Colored-MNIST)."""
        depth = self.image_shape[0]
        pixels = x[:, : math.prod(self.image_shape)].reshape(len(x), depth, -1).mean(2)
        means = (s.T @ pixels) / s.sum(0).clamp_min(1.0)[:, None]  # [K, C]
        self.offset.copy_(torch.logit(means.clamp(1e-3, 1 - 1e-3)))

    def structure(self, z: Tensor) -> Tensor:
        """The structure map ``[n, 1, H, W]`` that every group colours."""
        return self.up(self.trunk(z).reshape(-1, *self.start))

    def all_groups(self, z: Tensor, n_groups: int) -> Tensor:
        """``D(z, s')`` for every group s', ``[K, n, out_dim]``: the structure map is drawn once
        and coloured K times (the generation's decoder passes cost one, not K)."""
        structure, brightness = self.structure(z), F.softplus(self.brightness)
        images = [
            self.colour(
                structure, brightness[k].expand(len(z), -1), self.offset[k].expand(len(z), -1)
            )
            for k in range(n_groups)
        ]
        labels = self.label(z).expand(n_groups, -1, -1)
        return torch.cat([torch.stack(images).flatten(2), labels], 2)
