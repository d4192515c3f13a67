"""Building blocks shared by the MLP networks of tables and the convolutional networks of images."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

# Bounds of every predicted log-variance: narrower posteriors overflow the penalties' kernels.
LOGVAR_MIN, LOGVAR_MAX = -7.0, 4.0


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
