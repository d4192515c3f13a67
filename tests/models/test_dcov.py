"""Independence penalties against brute-force O(B²) references, and their properties."""

import math

import numpy as np
import pytest
import torch

from models.dcov import (
    PENALTIES,
    distance_covariance,
    get_penalty,
    hsic,
    sample_distance_covariance,
)

torch.set_num_threads(1)


def onehot(idx, k=-1):
    return torch.nn.functional.one_hot(torch.as_tensor(idx), k).double()


def brute_fairdisco(mu, logvar, groups):
    """V² = Σ_k p_k² [G(all,all) + G(k,k) − 2 G(k,all)] with explicit loops (Liu et al. 2022)."""
    mu, var = np.asarray(mu), np.exp(np.asarray(logvar))
    b = len(mu)

    def kern(i, j):
        t = var[i] + var[j]
        return float(np.prod(np.exp(-((mu[i] - mu[j]) ** 2) / (2 * t)) / np.sqrt(2 * math.pi * t)))

    def g(rows_i, rows_j):
        return sum(kern(i, j) for i in rows_i for j in rows_j) / (len(rows_i) * len(rows_j))

    everyone = list(range(b))
    total = 0.0
    for k in sorted(set(groups)):
        rows = [i for i in everyone if groups[i] == k]
        if 0 < len(rows) < b:
            total += (len(rows) / b) ** 2 * (
                g(everyone, everyone) + g(rows, rows) - 2 * g(rows, everyone)
            )
    return total


def brute_dcov(x, y):
    """Székely et al. (2007) Eq. 2.8 with explicit loops."""
    n = len(x)
    a = [[np.linalg.norm(x[i] - x[j]) for j in range(n)] for i in range(n)]
    b = [[np.linalg.norm(y[i] - y[j]) for j in range(n)] for i in range(n)]

    def centred(m):
        row = [sum(r) / n for r in m]
        grand = sum(row) / n
        return [[m[i][j] - row[i] - row[j] + grand for j in range(n)] for i in range(n)]

    ca, cb = centred(a), centred(b)
    return sum(ca[i][j] * cb[i][j] for i in range(n) for j in range(n)) / n**2


@pytest.fixture
def tiny():
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(7, 3, generator=g, dtype=torch.float64)
    logvar = 0.3 * torch.randn(7, 3, generator=g, dtype=torch.float64)
    groups = [0, 1, 1, 0, 2, 1, 0]
    return mu, logvar, groups


def test_fairdisco_matches_brute_force(tiny):
    mu, logvar, groups = tiny
    got = float(distance_covariance(mu, logvar, onehot(groups)))
    assert got == pytest.approx(brute_fairdisco(mu.numpy(), logvar.numpy(), groups), rel=1e-9)


def test_fairdisco_normalize_is_raw_over_max_kernel(tiny):
    mu, logvar, groups = tiny
    raw = float(distance_covariance(mu, logvar, onehot(groups)))
    scaled = float(distance_covariance(mu, logvar, onehot(groups), normalize=True))
    var = logvar.exp().numpy()
    kmax = max(np.prod(1 / np.sqrt(4 * math.pi * var[i])) for i in range(7))  # K_ii is the max
    assert scaled * kmax == pytest.approx(raw, rel=1e-9)


def test_fairdisco_skips_a_group_that_fills_the_batch(tiny):
    mu, logvar, _ = tiny
    assert float(distance_covariance(mu, logvar, onehot([1] * 7, 3))) == 0.0


def test_fairdisco_no_overflow_with_narrow_posteriors():
    mu = torch.randn(64, 12)
    value = distance_covariance(
        mu, torch.full((64, 12), -9.0), onehot(torch.arange(64) % 2).float()
    )
    assert torch.isfinite(value)


def test_dcov_matches_brute_force(tiny):
    mu, _, groups = tiny
    s = onehot(groups)
    expected = brute_dcov(mu.numpy(), s.numpy())
    assert float(sample_distance_covariance(mu, s)) == pytest.approx(expected, rel=1e-9)


def test_hsic_matches_brute_force(tiny):
    mu, _, groups = tiny
    n = len(groups)
    d2 = np.array(
        [[np.sum((mu[i].numpy() - mu[j].numpy()) ** 2) for j in range(n)] for i in range(n)]
    )
    h2 = np.median(d2[d2 > 0])
    k = np.exp(-d2 / (2 * h2))
    lab = np.array([[float(groups[i] == groups[j]) for j in range(n)] for i in range(n)])
    h = np.eye(n) - 1.0 / n
    expected = np.trace(k @ h @ lab @ h) / n**2
    assert float(hsic(mu, onehot(groups))) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", ["fairdisco", "dcov", "hsic"])
def test_near_zero_when_independent_and_grows_with_dependence(name):
    g = torch.Generator().manual_seed(0)
    b = 1024
    groups = torch.randint(0, 2, (b,), generator=g)
    s = onehot(groups).float()
    noise = torch.randn(b, 4, generator=g)
    logvar = torch.full((b, 4), -1.0)
    values = [
        float(PENALTIES[name](noise + shift * groups[:, None], logvar, s))
        for shift in (0.0, 0.5, 2.0)
    ]
    assert values[0] < 0.05 * values[2]
    assert values[0] < values[1] < values[2]


@pytest.mark.parametrize("name", ["fairdisco", "dcov", "hsic"])
def test_invariant_to_row_permutation(name, tiny):
    mu, logvar, groups = tiny
    s = onehot(groups)
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(1))
    assert float(PENALTIES[name](mu[perm], logvar[perm], s[perm])) == pytest.approx(
        float(PENALTIES[name](mu, logvar, s)), rel=1e-9
    )


def test_penalties_have_gradients(tiny):
    mu, logvar, groups = tiny
    for name in ("fairdisco", "dcov", "hsic"):
        m = mu.clone().requires_grad_()
        PENALTIES[name](m, logvar, onehot(groups)).backward()
        assert torch.isfinite(m.grad).all() and m.grad.abs().sum() > 0, name


def test_registry():
    assert set(PENALTIES) == {"dcor", "fairdisco", "dcov", "hsic", "none"}
    assert float(get_penalty("none")(torch.ones(3, 2), torch.zeros(3, 2), onehot([0, 1, 0]))) == 0.0
    with pytest.raises(ValueError, match="unknown penalty 'mmd'"):
        get_penalty("mmd")


def test_distance_correlation_matches_its_definition_and_is_scale_free():
    """dCor² against the double-centred matrices of Székely et al. (2007) built directly, and
    unchanged when the latent is scaled or the groups rebalanced."""
    from models.dcov import distance_correlation

    torch.manual_seed(0)
    s = torch.nn.functional.one_hot(torch.randint(0, 3, (200,)), 3).double()
    mu = torch.randn(200, 4).double() + s @ torch.randn(3, 4).double()

    def centre(d):
        return d - d.mean(0, keepdim=True) - d.mean(1, keepdim=True) + d.mean()

    a, b = centre(torch.cdist(mu, mu)), centre(torch.cdist(s, s))
    expected = (a * b).mean() / ((a * a).mean() * (b * b).mean()).sqrt()
    assert float(distance_correlation(mu, s)) == pytest.approx(float(expected), rel=1e-6)
    assert float(distance_correlation(10 * mu, s)) == pytest.approx(float(expected), rel=1e-6)
    assert 0 < float(expected) < 1
    independent = torch.randn(200, 4).double()
    assert float(distance_correlation(independent, s)) < 0.1 * float(expected)
