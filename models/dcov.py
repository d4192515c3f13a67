"""Independence penalties between a latent code and the sensitive attribute s.

Each penalty has the signature ``penalty(mu, logvar, s_onehot) -> scalar tensor`` (≥ 0, ideal 0) so
the training loops select one by name from `PENALTIES`:

- ``"dcor"`` (default): the squared sample distance correlation of Székely et al. (2007) between the
  latent means μ and s: dCov² normalised by the distance variances, in [0, 1] and invariant to the
  latent's scale and the group shares, so one β suits every table;
- ``"fairdisco"``: FairDisCo's closed-form distance covariance V² between the Gaussian-smoothed
  aggregated posterior and s (the paper's method; it acts on the posteriors, so raising β mostly
  widens them);
- ``"dcov"``: the sample distance covariance of Székely et al. (2007) between the latent means μ
  and s (acts on μ itself, DESIGN §4);
- ``"hsic"``: HSIC with a Gaussian kernel on μ (median heuristic) and a delta kernel on s;
- ``"none"``: 0.

References
----------
Liu, Li, Shen, Zhou, "Fair Representation Learning: An Alternative to Mutual Information", KDD 2022
(FairDisCo). Székely, Rizzo, Bakirov, "Measuring and testing dependence by correlation of
distances", Ann. Statist. 35(6), 2007, doi:10.1214/009053607000000505. Gretton et al., "Measuring
statistical dependence with Hilbert-Schmidt norms", ALT 2005.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor


def gaussian_overlap_log_kernel(mu: Tensor, logvar: Tensor) -> Tensor:
    """Log of ``K_ij = ∫ N(z; μ_i, Σ_i) N(z; μ_j, Σ_j) dz = N(μ_i; μ_j, Σ_i + Σ_j)`` (diagonal Σ).

    ``log K_ij = -½ Σ_d [log 2π(σ²_id + σ²_jd) + (μ_id − μ_jd)² / (σ²_id + σ²_jd)]``; one ``[B, B,
    k]`` pass, returned as ``[B, B]``.
    """
    var = logvar.exp()
    total = var[:, None, :] + var[None, :, :]
    diff2 = (mu[:, None, :] - mu[None, :, :]).pow(2)
    return -0.5 * (torch.log(2 * math.pi * total) + diff2 / total).sum(-1)


def distance_covariance(
    mu: Tensor, logvar: Tensor, s_onehot: Tensor, *, normalize: bool = False
) -> Tensor:
    """FairDisCo's closed-form distance covariance V²(Z, S) over a batch.

    With ``G(I, J) = mean_{i∈I, j∈J} K_ij`` (`gaussian_overlap_log_kernel`) and ``p̂_k = n_k / B``::

        V² = Σ_k p̂_k² · [G(all, all) + G(k, k) − 2 G(k, all)]

    (Liu et al., KDD 2022, the closed form of their Eq. for V² with Gaussian posteriors). Groups
    that are empty or hold the whole batch are skipped (their term is 0 anyway). Group sums come
    from matrix products with the one-hot ``s``: no loop over rows.

    Scale: ``K`` is a density in k dimensions and over/underflows float32 for narrow posteriors, so
    it is computed in log space, shifted by its (detached) maximum ``m``, exponentiated and combined
    in float64 and scaled back by ``exp(m)``. ``normalize=True`` returns the shifted value ``V² ·
    exp(−m)`` instead, which is scale-free (the largest kernel entry is 1); the default keeps
    FairDisCo's raw scale, for which β up to 1e7 is the meaningful range (DESIGN §4). Ideal value 0
    (Z ⊥ S).
    """
    log_k = gaussian_overlap_log_kernel(mu, logvar)
    shift = log_k.max().detach()
    kernel = (log_k - shift).double().exp()
    s = s_onehot.double()
    batch = s.shape[0]
    n_k = s.sum(0)
    k_s = kernel @ s  # [B, K]: Σ_j∈k K_ij
    g_all = kernel.sum() / batch**2
    g_k_all = k_s.sum(0) / (n_k.clamp_min(1) * batch)
    g_kk = torch.einsum("ik,ik->k", s, k_s) / n_k.clamp_min(1).pow(2)
    keep = (n_k > 0) & (n_k < batch)
    terms = (n_k / batch).pow(2) * (g_all + g_kk - 2 * g_k_all)
    v2 = torch.where(keep, terms, torch.zeros_like(terms)).sum()
    if not normalize:
        v2 = v2 * shift.exp()
    return v2.to(mu.dtype)


def _pairwise_sq_distance(a: Tensor) -> Tensor:
    """``‖a_i − a_j‖²`` by the Gram trick ``|a_i|² + |a_j|² − 2 a_i·a_j`` (one matmul), clamped ≥
    0."""
    sq = a.pow(2).sum(1)
    return (sq[:, None] + sq[None, :] - 2 * a @ a.T).clamp_min(0)


def _pairwise_distance(a: Tensor) -> Tensor:
    """Euclidean distances with a gradient that is finite at 0 (the diagonal)."""
    d2 = _pairwise_sq_distance(a)
    return torch.where(d2 > 1e-12, d2.clamp_min(1e-12).sqrt(), torch.zeros_like(d2))


def sample_distance_covariance(mu: Tensor, s_onehot: Tensor) -> Tensor:
    """Sample distance covariance dCov²_n(μ, s) of Székely, Rizzo & Bakirov (2007), Eq. (2.8).

    ``a_ij = ‖μ_i − μ_j‖``, ``b_ij = ‖s_i − s_j‖``; ``A``, ``B`` their double-centred matrices
    (``A_ij = a_ij − ā_i· − ā_·j + ā_··``); ``dCov²_n = (1/B²) Σ_ij A_ij B_ij`` (the V-statistic, ≥
    0). Ideal value 0: it tends to 0 iff μ ⊥ s. It acts on the means μ themselves.

    Computed without forming ``A`` or ``B``: for one-hot s, ``b = √2 (11ᵀ − S Sᵀ)`` and double
    centring is the projection ``H = I − 11ᵀ/B``, so ``Σ A∘B = tr(H a H b) = −√2 tr(S_cᵀ a S_c)``
    with
    ``S_c = H S`` (each group's indicator minus its share): one distance matrix and one matmul.

    >>> import torch
    >>> s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> round(float(sample_distance_covariance(torch.tensor([[0.0], [2.0]]), s)), 4)
    0.7071
    """
    return _dcov_from_distances(_pairwise_distance(mu), s_onehot.to(mu.dtype))


def _dcov_from_distances(a: Tensor, s_onehot: Tensor) -> Tensor:
    s_c = s_onehot - s_onehot.mean(0, keepdim=True)
    return -math.sqrt(2) * (s_c * (a @ s_c)).sum() / a.shape[0] ** 2


def distance_correlation(mu: Tensor, s_onehot: Tensor) -> Tensor:
    """Squared sample distance correlation dCor²_n(μ, s) (Székely, Rizzo & Bakirov 2007, Def. 4).

    ``dCor² = dCov²(μ, s) / √(dVar²(μ) · dVar²(s))``, with ``dVar²(μ) = (1/B²) Σ_ij A_ij²`` (A the
    double-centred distance matrix of μ) and, for one-hot s (``b = √2 (11ᵀ − S Sᵀ)``, so
    ``H b H = −√2 S_c S_cᵀ`` and ``S_cᵀ S_c = B (diag p − p pᵀ)``), ``dVar²(s) = 2 ‖diag p −
    p pᵀ‖²_F`` with ``p`` the group shares in the batch.

    In [0, 1], 0 iff μ ⊥ s in the limit, and invariant to the scale of μ and to how the groups are
    balanced: the raw dCov² of `sample_distance_covariance` grows with the latent's spread and the
    group balance (COMPAS preferred β 10 and Adult β 50 with it), while β = 10 on dCor² suited both
    and never collapsed a latent (research/RESULTS.md §4, issue #10). Ideal value 0.

    >>> import torch
    >>> s = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    >>> round(float(distance_correlation(torch.tensor([[0.0], [1.0], [0.0], [1.0]]), s)), 4)
    1.0
    """
    a = _pairwise_distance(mu)
    s = s_onehot.to(mu.dtype)
    p = s.mean(0)
    dvar_s = 2 * (torch.diag(p) - p[:, None] * p[None, :]).pow(2).sum()
    dvar_mu = _centre(a).pow(2).mean()
    return _dcov_from_distances(a, s) / (dvar_mu * dvar_s).clamp_min(1e-12).sqrt()


def hsic(mu: Tensor, s_onehot: Tensor) -> Tensor:
    """Biased HSIC estimate ``tr(K H L H) / B²`` (Gretton et al. 2005).

    ``K_ij = exp(−‖μ_i − μ_j‖² / (2 h²))`` with ``h²`` the median of the non-zero squared distances
    (detached), ``L_ij = s_iᵀ s_j`` (same group → 1), ``H = I − 11ᵀ/B``. Ideal value 0.
    """
    d2 = _pairwise_sq_distance(mu)
    positive = d2.detach()[d2.detach() > 0]
    h2 = positive.median() if positive.numel() else torch.ones((), dtype=mu.dtype)
    k = torch.exp(-d2 / (2 * h2.clamp_min(1e-12)))
    s = s_onehot.to(mu.dtype)
    return (_centre(k) * _centre(s @ s.T)).mean()


def _centre(k: Tensor) -> Tensor:
    return k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()


Penalty = Callable[[Tensor, Tensor, Tensor], Tensor]

PENALTIES: dict[str, Penalty] = {
    "dcor": lambda mu, logvar, s: distance_correlation(mu, s),
    "fairdisco": lambda mu, logvar, s: distance_covariance(mu, logvar, s),
    "dcov": lambda mu, logvar, s: sample_distance_covariance(mu, s),
    "hsic": lambda mu, logvar, s: hsic(mu, s),
    "none": lambda mu, logvar, s: mu.new_zeros(()),
}


def within_classes(penalty: Penalty, mu: Tensor, logvar: Tensor, s: Tensor, y: Tensor) -> Tensor:
    """A penalty measured inside each label class: ``Σ_c (n_c / B) · penalty(rows of class c)``.

    ``y`` is the rows' one-hot label; classes with fewer than two rows in the batch are skipped.
    It targets Z ⊥ S | Y (the latent's counterpart of equalized odds) instead of Z ⊥ S: where the
    data tie the label to s, Z ⊥ S would also remove what the latent knows about the label.
    Ideal value 0.

    >>> import torch
    >>> s = torch.eye(2)[[0, 1, 0, 1]]
    >>> y = torch.eye(2)[[0, 0, 1, 1]]
    >>> mu = torch.tensor([[0.0], [0.0], [5.0], [5.0]])  # depends on y only
    >>> float(within_classes(PENALTIES["dcov"], mu, mu, s, y))
    0.0
    """
    total = mu.new_zeros(())
    for members in y.T.bool():
        if int(members.sum()) >= 2:
            share = members.float().mean()
            total = total + share * penalty(mu[members], logvar[members], s[members])
    return total


def get_penalty(name: str) -> Penalty:
    """The penalty registered under ``name`` (one of ``PENALTIES``)."""
    if name not in PENALTIES:
        raise ValueError(
            f"unknown penalty {name!r}; choose one of {sorted(PENALTIES)} "
            "in the training config (`penalty`)"
        )
    return PENALTIES[name]
