import math

import pytest
import torch

from sheafgraph.generative.noise import batch_view, node_mask, symmetrize_noise
from sheafgraph.generative.sde import SDES, GraphSDE, SubVPSDE, VESDE, VPSDE, get_sde

SDE_CASES = [VPSDE(0.1, 20.0), SubVPSDE(0.1, 20.0), VESDE(0.1, 5.0)]


def euler_maruyama(step, x, t0, t1, n, gen):
    """Integrate ``step(x, u, du, z)`` on n uniform sub-steps from t0 to t1 (either direction)."""
    du = (t1 - t0) / n
    for i in range(n):
        u = torch.full((x.shape[0],), t0 + i * du, dtype=x.dtype)
        x = step(x, u, abs(du), torch.randn(x.shape, generator=gen, dtype=x.dtype))
    return x


@pytest.mark.parametrize("sde", SDE_CASES, ids=repr)
def test_marginals_match_monte_carlo_of_forward_sde(sde):
    gen = torch.Generator().manual_seed(0)
    x0 = torch.tensor([-1.5, 0.0, 2.0], dtype=torch.float64).repeat_interleave(4000).reshape(-1, 1)

    def forward(x, u, du, z):
        drift, g = sde.sde(x, u)
        return x + drift * du + batch_view(g, x) * math.sqrt(du) * z

    t = 0.7
    xt = euler_maruyama(forward, x0, 0.0, t, 400, gen).reshape(3, -1)
    mean, std = sde.marginal_prob(x0, torch.full((x0.shape[0],), t, dtype=torch.float64))
    mean, std = mean.reshape(3, -1)[:, 0], std.reshape(3, -1)[:, 0]
    torch.testing.assert_close(xt.mean(1), mean, atol=4 * float(std[0]) / math.sqrt(4000) + 0.01, rtol=0)
    torch.testing.assert_close(xt.std(1), std, rtol=0.05, atol=0)


@pytest.mark.parametrize("sde", SDE_CASES, ids=repr)
def test_transition_matches_monte_carlo_of_reverse_linear_part(sde):
    gen = torch.Generator().manual_seed(1)
    x = torch.full((8000, 1), 0.8, dtype=torch.float64)
    t, h = 0.9, 0.3

    def backward(v, u, du, z):   # dx = f dt + g dw in reverse time: one step from u to u - du
        drift, g = sde.sde(v, u)
        return v - drift * du + batch_view(g, v) * math.sqrt(du) * z

    xs = euler_maruyama(backward, x, t, t - h, 400, gen)
    full = lambda v: torch.full((8000,), v, dtype=torch.float64)
    mean, std = sde.transition(x, full(t), full(h))
    assert abs(float(xs.mean()) - float(mean[0])) < 4 * float(std[0]) / math.sqrt(8000) + 0.01
    assert float(xs.std()) == pytest.approx(float(std[0]), rel=0.05)


def test_marginal_coefficients_known_values():
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    a, s = VPSDE(0.1, 20.0).marginal_coefficients(t)
    lam = 0.1 + 0.5 * 19.9
    torch.testing.assert_close(a, torch.tensor([1.0, math.exp(-lam / 2)], dtype=torch.float64))
    torch.testing.assert_close(s ** 2 + a ** 2, torch.ones(2, dtype=torch.float64))
    a, s = VESDE(0.1, 1.0).marginal_coefficients(t)
    torch.testing.assert_close(s, torch.tensor([0.1, 1.0], dtype=torch.float64))
    a, s = SubVPSDE(0.1, 20.0).marginal_coefficients(t)
    torch.testing.assert_close(s, 1 - a ** 2)


def test_prior_sampling_symmetric_and_logp():
    sde = VESDE(0.1, 2.0)
    z = sde.prior_sampling((500, 6, 6), torch.Generator().manual_seed(0), symmetric=True)
    torch.testing.assert_close(z, z.transpose(1, 2))
    assert float(torch.diagonal(z, dim1=1, dim2=2).abs().max()) == 0.0
    assert float(z.triu(1)[z.triu(1) != 0].std()) == pytest.approx(2.0, rel=0.05)
    x = torch.zeros(2, 3, 4)
    expected = -0.5 * 12 * math.log(2 * math.pi * 4.0)
    torch.testing.assert_close(sde.prior_logp(x), torch.full((2,), expected))


def test_reverse_sde_drift_and_probability_flow():
    sde = VPSDE(0.1, 20.0)
    x = torch.randn(3, 4, 2)
    t = torch.tensor([0.2, 0.5, 0.9])
    score = lambda v, u: -v                                      # the score of N(0, I)
    drift, g = sde.reverse(score).sde(x, t)
    f, g0 = sde.sde(x, t)
    torch.testing.assert_close(drift, f + batch_view(g0 ** 2, x) * x)
    torch.testing.assert_close(g, g0)
    drift, g = sde.reverse(score, probability_flow=True).sde(x, t)
    torch.testing.assert_close(drift, f + 0.5 * batch_view(g0 ** 2, x) * x)
    assert float(g.abs().max()) == 0.0


def test_graph_sde_prior_is_masked_and_symmetric():
    sde = GraphSDE(VESDE(0.1, 1.0), VPSDE(0.1, 1.0))
    mask = node_mask(torch.tensor([3, 5]), 5)
    g = sde.prior_sampling(mask, 4, torch.Generator().manual_seed(0))
    assert g.x.shape == (2, 5, 4) and g.adj.shape == (2, 5, 5)
    assert float(g.x[0, 3:].abs().sum()) == 0 and float(g.adj[0, 3:].abs().sum()) == 0
    torch.testing.assert_close(g.adj, g.adj.transpose(1, 2))
    assert GraphSDE.from_config(sde.config()).config() == sde.config()


def test_registry_and_bad_parameters():
    assert set(SDES) == {"vp", "subvp", "ve"}
    assert isinstance(get_sde("sub-VP", beta_min=0.1, beta_max=1.0), SubVPSDE)
    with pytest.raises(ValueError, match="unknown SDE 'ou'.*valid names"):
        get_sde("ou")
    with pytest.raises(ValueError, match="sigma_min must be below sigma_max"):
        VESDE(2.0, 1.0)
    with pytest.raises(ValueError, match="beta_max must be a positive"):
        VPSDE(0.1, float("nan"))
    with pytest.raises(TypeError, match="bad parameters"):
        get_sde("ve", beta_min=0.1)
    with pytest.raises(ValueError, match="an SDE config needs 'x' and 'adj' entries"):
        GraphSDE.from_config({"x": {"name": "ve"}})


def test_symmetrize_noise_keeps_upper_triangle():
    z = torch.arange(9.0).reshape(1, 3, 3)
    torch.testing.assert_close(symmetrize_noise(z), torch.tensor([[[0.0, 1, 2], [1, 0, 5], [2, 5, 0]]]))
