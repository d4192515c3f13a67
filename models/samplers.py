"""Latent samplers: fitted on the student's latent means of the training rows, they draw new z.

Estimator API: ``fit(z) -> self``, ``sample(n, random_state) -> ndarray [n, k]`` (float32),
``to_dict()`` / ``from_dict(d)`` (JSON-able: arrays as lists, no pickle). Registry: `SAMPLERS`.

References
----------
Ramachandranpillai, Sikder, Heintz, "Fair Latent Deep Generative Models (FLDGM) for syntax-agnostic
and fair synthetic data generation", ECAI 2023. Ho, Jain, Abbeel, "Denoising Diffusion Probabilistic
Models", arXiv 2006.11239 (Eq. 4, 11, 14). Nichol & Dhariwal, arXiv 2102.09672 (cosine schedule,
Eq. 17).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from torch import Tensor, nn

NOT_FITTED = "this {name} is not fitted yet; call `fit(z)` before `sample`"


class _Sampler:
    def _check_fitted(self) -> None:
        if not hasattr(self, "dim_"):
            raise RuntimeError(NOT_FITTED.format(name=type(self).__name__))

    def to_dict(self) -> dict:
        """JSON-able state: ``{"name", "params", "fitted"}``."""
        self._check_fitted()
        params = {k: v for k, v in self.__dict__.items() if not k.endswith("_")}
        return {"name": self.name, "params": params, "fitted": self._fitted()}

    def _fitted(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k.endswith("_")}

    @classmethod
    def from_dict(cls, state: dict):
        """Rebuild a fitted sampler from `to_dict` output."""
        sampler = cls(**state["params"])
        sampler.__dict__.update(state["fitted"])
        return sampler


class PriorSampler(_Sampler):
    """z ~ N(0, I): the VAE prior (ignores the data except for its dimension)."""

    name = "prior"

    def fit(self, z: np.ndarray) -> PriorSampler:
        self.dim_ = int(np.asarray(z).shape[1])
        return self

    def sample(self, n: int, random_state: int = 0) -> np.ndarray:
        self._check_fitted()
        return (
            np.random.default_rng(random_state).standard_normal((n, self.dim_)).astype(np.float32)
        )


class GaussianMixtureSampler(_Sampler):
    """A full-covariance Gaussian mixture (scikit-learn EM, seeded); sampling done here in numpy."""

    name = "gmm"

    def __init__(
        self,
        n_components: int = 20,
        max_iter: int = 200,
        random_state: int = 0,
        fit_rows: int = 0,
    ):
        self.n_components = n_components
        self.max_iter = max_iter
        self.random_state = random_state
        self.fit_rows = fit_rows

    def fit(self, z: np.ndarray) -> GaussianMixtureSampler:
        """EM on ``z``, or on a seeded sample of ``fit_rows`` of its rows when ``fit_rows`` > 0
        (EM costs rows · components · k² per iteration; 10,000 codes fit Adult's mixture ≈ 4×
        faster than its 32,561)."""
        z = np.asarray(z, dtype=np.float64)
        if 0 < self.fit_rows < len(z):
            rng = np.random.default_rng(self.random_state)
            z = z[np.sort(rng.choice(len(z), self.fit_rows, replace=False))]
        gmm = GaussianMixture(
            self.n_components,
            covariance_type="full",
            max_iter=self.max_iter,
            random_state=self.random_state,
            reg_covar=1e-5,
        ).fit(z)
        self.dim_ = z.shape[1]
        self.weights_ = gmm.weights_.tolist()
        self.means_ = gmm.means_.tolist()
        self.chol_ = np.linalg.cholesky(gmm.covariances_).tolist()
        return self

    def sample(self, n: int, random_state: int = 0) -> np.ndarray:
        """``c ~ Cat(π)``, ``z = m_c + L_c ε`` with ``Σ_c = L_c L_cᵀ``."""
        self._check_fitted()
        rng = np.random.default_rng(random_state)
        comp = rng.choice(
            len(self.weights_), size=n, p=np.asarray(self.weights_) / sum(self.weights_)
        )
        eps = rng.standard_normal((n, self.dim_))
        z = np.empty((n, self.dim_), dtype=np.float32)
        # one matrix product per component, not a [n, k, k] gather of the Cholesky factors
        for c, (mean, chol) in enumerate(zip(self.means_, self.chol_, strict=True)):
            rows = comp == c
            z[rows] = np.asarray(mean) + eps[rows] @ np.asarray(chol).T
        return z


class _Denoiser(nn.Module):
    """MLP ε_θ(z_t, t) with a sinusoidal time embedding."""

    def __init__(self, dim: int, hidden: int, t_dim: int = 32):
        super().__init__()
        self.t_dim = t_dim
        self.net = nn.Sequential(
            nn.Linear(dim + t_dim, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, dim),
        )

    def forward(self, z: Tensor, t: Tensor) -> Tensor:
        half = self.t_dim // 2
        freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=z.dtype) / half)
        angle = t.to(z.dtype)[:, None] * freqs[None, :]
        return self.net(torch.cat([z, angle.sin(), angle.cos()], 1))


def cosine_alpha_bar(steps: int) -> Tensor:
    """ᾱ_t of the cosine schedule (Nichol & Dhariwal 2021, Eq. 17), β_t clipped at 0.999."""
    s = 0.008
    t = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0).float()


def ddpm_loss(model: _Denoiser, z0: Tensor, alpha_bar: Tensor, g: torch.Generator) -> Tensor:
    """``E ‖ε − ε_θ(√ᾱ_t z₀ + √(1−ᾱ_t) ε, t)‖²`` (Ho et al. 2020, Eq. 14). Ideal value 0."""
    t = torch.randint(0, len(alpha_bar), (len(z0),), generator=g)
    eps = torch.randn(z0.shape, generator=g)
    ab = alpha_bar[t][:, None]
    return (eps - model(ab.sqrt() * z0 + (1 - ab).sqrt() * eps, t)).pow(2).mean()


class LatentDiffusionSampler(_Sampler):
    """A small DDPM on the (standardised) latent, as in FLDGM; ancestral sampling (Ho et al., Eq.
    11)."""

    name = "ddpm"

    def __init__(
        self,
        steps: int = 100,
        hidden: int = 128,
        train_steps: int = 3000,
        batch_size: int = 512,
        lr: float = 2e-3,
        random_state: int = 0,
    ):
        self.steps = steps
        self.hidden = hidden
        self.train_steps = train_steps
        self.batch_size = batch_size
        self.lr = lr
        self.random_state = random_state

    def fit(self, z: np.ndarray) -> LatentDiffusionSampler:
        z = np.asarray(z, dtype=np.float32)
        self.dim_, self.mean_, self.std_ = (
            z.shape[1],
            z.mean(0).tolist(),
            (z.std(0) + 1e-6).tolist(),
        )
        data = torch.as_tensor(
            (z - np.asarray(self.mean_, np.float32)) / np.asarray(self.std_, np.float32)
        )
        g = torch.Generator().manual_seed(self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            model = _Denoiser(self.dim_, self.hidden)
        opt = torch.optim.Adam(model.parameters(), lr=self.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.train_steps)
        alpha_bar = cosine_alpha_bar(self.steps)
        for _ in range(self.train_steps):
            rows = torch.randint(0, len(data), (self.batch_size,), generator=g)
            loss = ddpm_loss(model, data[rows], alpha_bar, g)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        self.state_ = {k: v.tolist() for k, v in model.state_dict().items()}
        return self

    def _model(self) -> _Denoiser:
        model = _Denoiser(self.dim_, self.hidden)
        model.load_state_dict({k: torch.tensor(v) for k, v in self.state_.items()})
        return model.eval()

    @torch.no_grad()
    def sample(self, n: int, random_state: int = 0) -> np.ndarray:
        """``z_{t−1} = (z_t − β_t/√(1−ᾱ_t) ε_θ) / √α_t + √β_t ε``, from ``z_T ~ N(0, I)``."""
        self._check_fitted()
        model, g = self._model(), torch.Generator().manual_seed(random_state)
        alpha_bar = cosine_alpha_bar(self.steps)
        alphas = alpha_bar / torch.cat([torch.ones(1), alpha_bar[:-1]])
        z = torch.randn((n, self.dim_), generator=g)
        for t in range(self.steps - 1, -1, -1):
            beta = 1 - alphas[t]
            eps = model(z, torch.full((n,), t))
            z = (z - beta / (1 - alpha_bar[t]).sqrt() * eps) / alphas[t].sqrt()
            if t > 0:
                z = z + beta.sqrt() * torch.randn(z.shape, generator=g)
        out = z.numpy() * np.asarray(self.std_, np.float32) + np.asarray(self.mean_, np.float32)
        return out.astype(np.float32)


SAMPLERS = {cls.name: cls for cls in (PriorSampler, GaussianMixtureSampler, LatentDiffusionSampler)}


def make_sampler(name: str, **params) -> _Sampler:
    """A new, unfitted sampler registered under ``name`` (``prior``, ``gmm``, ``ddpm``)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {sorted(SAMPLERS)}")
    return SAMPLERS[name](**params)
