"""fairdistill: fair synthetic tables by learning and distilling a fair latent representation."""

__version__ = "0.1.0"
