"""Torch models of fairdistill: dCov penalties, teacher VAE, student encoder, latent samplers, decoding."""
