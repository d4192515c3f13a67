"""Torch models: dCov penalties, teacher VAE, student encoder, latent samplers, decoding."""
