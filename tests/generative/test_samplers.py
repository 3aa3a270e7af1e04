import re

import pytest
import torch
from torch import nn

import sheafgraph.generative.samplers as samplers_module
from sheafgraph.generative.generate import generate, sample_node_counts
from sheafgraph.generative.noise import batch_view, node_mask
from sheafgraph.generative.samplers import SAMPLERS, get_sampler
from sheafgraph.generative.score_networks import GDSSNoiseModel
from sheafgraph.generative.sde import GraphSDE, SubVPSDE, VESDE, VPSDE

FAST = {"pc": {"steps": 4}, "s4": {"steps": 4}, "ode": {"steps": 3}, "dpm_solver": {"steps": 3}}
NFE = {"pc": 8, "s4": 4, "ode": 6, "dpm_solver": 6}


class PointMassNoise(nn.Module):
    """The exact noise predictor when the data is the single graph (x0, a0): eps = (G_t - alpha_t G_0) / sigma_t."""

    def __init__(self, sde, x0, a0):
        super().__init__()
        self.sde, self.x0, self.a0 = sde, x0, a0

    def forward(self, x, adj, mask, t):
        out = []
        for c, v, v0 in zip(self.sde, (x, adj), (self.x0, self.a0)):
            a, s = c.marginal_coefficients(t)
            out.append((v - batch_view(a, v) * v0) / batch_view(s, v))
        return tuple(out)


class GaussianNoise(nn.Module):
    """The exact noise predictor when every entry of the data (off-diagonal for adj) is i.i.d. N(mu, s0^2):
    x_t ~ N(alpha mu, alpha^2 s0^2 + sigma^2), so eps = sigma (x_t - alpha mu) / (alpha^2 s0^2 + sigma^2)."""

    def __init__(self, sde, mu, s0):
        super().__init__()
        self.sde, self.mu, self.s0 = sde, mu, s0

    def forward(self, x, adj, mask, t):
        out = []
        for c, v in zip(self.sde, (x, adj)):
            a, s = (batch_view(z, v) for z in c.marginal_coefficients(t))
            out.append(s * (v - a * self.mu) / (a ** 2 * self.s0 ** 2 + s ** 2))
        return tuple(out)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GDSSNoiseModel(4).eval()


SDE = GraphSDE(VESDE(0.1, 1.0), VESDE(0.1, 1.0))


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_shapes_symmetry_masks_and_nfe(model, name):
    mask = node_mask(torch.tensor([9, 4, 6]), 9)
    prior = SDE.prior_sampling(mask, 4, torch.Generator().manual_seed(0))
    seen = []
    out = get_sampler(name)(model, prior, SDE, generator=torch.Generator().manual_seed(1),
                            callback=lambda i, t, g: seen.append((i, round(t, 6), g.adj.shape)), **FAST[name])
    steps = FAST[name]["steps"]
    expected_t = [round(float(t), 6) for t in torch.linspace(1.0, 1e-4, steps + 1, dtype=torch.float64)[1:]]
    if name != "dpm_solver":                                 # DPM-Solver spaces its steps quadratically
        assert seen == [(i, expected_t[i], (3, 9, 9)) for i in range(steps)]
    assert [i for i, _, _ in seen] == list(range(steps)) and seen[-1][1] == pytest.approx(1e-4)
    x, adj, m = out.graphs
    assert x.shape == (3, 9, 4) and adj.shape == (3, 9, 9) and torch.equal(m, mask)
    torch.testing.assert_close(adj, adj.transpose(1, 2))
    assert float(torch.diagonal(adj, dim1=1, dim2=2).abs().max()) == 0.0
    assert float(x[1, 4:].abs().max()) == 0.0 and float(adj[1, 4:].abs().max()) == 0.0
    assert bool(torch.isfinite(x).all() and torch.isfinite(adj).all())
    assert out.nfe == NFE[name]


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_deterministic_under_seed(model, name):
    mask = node_mask(torch.tensor([5, 3]), 5)
    runs = []
    for _ in range(2):
        g = torch.Generator().manual_seed(7)
        runs.append(get_sampler(name)(model, SDE.prior_sampling(mask, 4, g), SDE, generator=g, **FAST[name]))
    torch.testing.assert_close(runs[0].graphs.adj, runs[1].graphs.adj, rtol=0, atol=0)
    torch.testing.assert_close(runs[0].graphs.x, runs[1].graphs.x, rtol=0, atol=0)


@pytest.mark.parametrize("sde", [GraphSDE(VPSDE(0.1, 20.0), VESDE(0.1, 2.0)),
                                 GraphSDE(SubVPSDE(0.1, 20.0), VPSDE(0.1, 5.0))], ids=str)
@pytest.mark.parametrize("name,options,eps,tol", [("dpm_solver", {"order": 1, "steps": 3}, 1e-3, 1e-9),
                                                  ("dpm_solver", {"order": 2, "steps": 3}, 1e-3, 1e-9),
                                                  ("ode", {"method": "heun", "steps": 40}, 0.05, 0.02)])
def test_deterministic_samplers_recover_a_point_mass(sde, name, options, eps, tol):
    """For a point-mass data distribution the probability flow keeps eps constant: exponential integrators are
    exact, Heun is close; all end at alpha_eps * G0 + sigma_eps * z (float64)."""
    g = torch.Generator().manual_seed(0)
    mask = node_mask(torch.tensor([4, 3]), 4)
    x0 = torch.randn(2, 4, 3, generator=g, dtype=torch.float64) * mask.unsqueeze(-1)
    a0 = torch.randn(2, 4, 4, generator=g, dtype=torch.float64)
    a0 = (a0 + a0.transpose(1, 2)) * mask.unsqueeze(-1) * mask.unsqueeze(-2) * (1 - torch.eye(4))
    prior = sde.prior_sampling(mask.double(), 3, g)
    out = get_sampler(name)(PointMassNoise(sde, x0, a0), prior, sde, eps=eps, **options)
    t1, te = torch.ones(2, dtype=torch.float64), torch.full((2,), eps, dtype=torch.float64)
    for c, v, v0, p in zip(sde, out.graphs[:2], (x0, a0), prior[:2]):
        (a1, s1), (ae, se) = c.marginal_coefficients(t1), c.marginal_coefficients(te)
        z = (p - batch_view(a1, p) * v0) / batch_view(s1, p)
        torch.testing.assert_close(v, batch_view(ae, v) * v0 + batch_view(se, v) * z, atol=tol, rtol=tol)


@pytest.mark.parametrize("name,options,check_std", [
    ("pc", {"steps": 100, "corrector": "none"}, True),
    ("pc", {"steps": 100, "predictor": "euler_maruyama", "corrector": "none"}, True),
    ("s4", {"steps": 100}, False),                     # Langevin correction narrows the spread (as in GDSS)
    ("ode", {"steps": 30, "method": "euler"}, True),
    ("dpm_solver", {"steps": 10}, True),
])
def test_samplers_with_exact_scores_reach_a_gaussian_data_distribution(name, options, check_std):
    """VP SDE with beta_max = 20: the prior matches p_T, so every sampler must end at N(1.5, 0.3^2)."""
    sde = GraphSDE(VPSDE(0.1, 20.0), VPSDE(0.1, 20.0))
    mask = node_mask(torch.full((1500,), 3), 3)
    g = torch.Generator().manual_seed(0)
    out = get_sampler(name)(GaussianNoise(sde, 1.5, 0.3), sde.prior_sampling(mask, 2, g), sde, eps=1e-3,
                            generator=g, **options)
    for values in (out.graphs.x.flatten(), out.graphs.adj[:, 0, 1:].flatten()):
        assert float(values.mean()) == pytest.approx(1.5, abs=0.03)
        if check_std:
            assert float(values.std()) == pytest.approx(0.3, rel=0.1)


def test_registry_matches_docs_and_bad_names(model):
    documented = set(re.findall(r'^``"(\w+)"``', samplers_module.__doc__, flags=re.M))
    assert documented == set(SAMPLERS)
    with pytest.raises(ValueError, match="unknown sampler 'euler'.*valid names"):
        get_sampler("euler")
    mask = node_mask(torch.tensor([3]), 3)
    prior = SDE.prior_sampling(mask, 4)
    with pytest.raises(ValueError, match="unknown corrector 'gibbs'"):
        get_sampler("pc")(model, prior, SDE, steps=2, corrector="gibbs")
    with pytest.raises(ValueError, match="unknown predictor"):
        get_sampler("pc")(model, prior, SDE, steps=2, predictor="ancestral")
    with pytest.raises(ValueError, match="steps must be a positive int"):
        get_sampler("s4")(model, prior, SDE, steps=0)
    with pytest.raises(ValueError, match="order must be 1 or 2"):
        get_sampler("dpm_solver")(model, prior, SDE, steps=2, order=3)
    with pytest.raises(ValueError, match="unknown time spacing 'log'"):
        get_sampler("dpm_solver")(model, prior, SDE, steps=2, spacing="log")


def test_generate_batches_and_quantises(model):
    g = torch.Generator().manual_seed(0)
    counts = sample_node_counts(torch.tensor([0.0, 0, 1, 0, 3]), 7, g)
    assert set(counts.tolist()) <= {2, 4}
    out = generate(model, SDE, counts, num_features=4, sampler="s4", batch_size=3, generator=g,
                   options={"steps": 3}, max_nodes=5)
    assert out.atom_types.shape == (7, 5) and out.bond_orders.shape == (7, 5, 5) and out.nfe == 3
    assert torch.equal((out.atom_types >= 0).sum(1), counts)
    assert set(out.bond_orders.unique().tolist()) <= {0, 1, 2, 3}
    assert torch.equal(out.bond_orders, out.bond_orders.transpose(1, 2))
    with pytest.raises(ValueError, match="more than max_nodes=5"):
        generate(model, SDE, torch.tensor([6]), num_features=4, max_nodes=5)


@pytest.mark.parametrize("name", ["pc", "s4"])
def test_early_langevin_noise_scale_switches_at_switch_time(model, name):
    """scale_eps_early applies while t > switch_time: switching at 0 uses it at every step (= scale_eps of that
    value), switching at T never does (= no early scale), and in between the result differs from both."""
    mask = node_mask(torch.tensor([6, 4]), 6)

    def run(**options):
        g = torch.Generator().manual_seed(3)
        out = get_sampler(name)(model, SDE.prior_sampling(mask, 4, g), SDE, generator=g, steps=6, snr=0.3, **options)
        return out.graphs.adj

    always, never = run(scale_eps=0.5, scale_eps_early=1.0, switch_time=0.0), run(scale_eps=0.5, switch_time=1.0,
                                                                                  scale_eps_early=1.0)
    torch.testing.assert_close(always, run(scale_eps=1.0), rtol=0, atol=0)
    torch.testing.assert_close(never, run(scale_eps=0.5), rtol=0, atol=0)
    half = run(scale_eps=0.5, scale_eps_early=1.0, switch_time=0.5)
    assert not torch.allclose(half, always) and not torch.allclose(half, never)
    assert samplers_module.langevin_noise_scale(0.6, 0.9, 1.0, 0.5) == 1.0
    assert samplers_module.langevin_noise_scale(0.5, 0.9, 1.0, 0.5) == 0.9
    assert samplers_module.langevin_noise_scale(0.9, 0.9, None, 0.5) == 0.9


@pytest.mark.parametrize("name", ["pc", "s4"])
@pytest.mark.parametrize("option", [{"snr": -0.1}, {"scale_eps": float("nan")}, {"scale_eps_early": -1.0}])
def test_bad_langevin_options_are_named(model, name, option):
    mask = node_mask(torch.tensor([3]), 3)
    with pytest.raises(ValueError, match=f"{next(iter(option))} must be >= 0"):
        get_sampler(name)(model, SDE.prior_sampling(mask, 4), SDE, steps=2, **option)


class DivergingNoise(nn.Module):
    """A broken noise predictor (as an undertrained checkpoint can be): NaN everywhere."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))

    def forward(self, x, adj, mask, t):
        return torch.full_like(x, float("nan")), torch.full_like(adj, float("nan"))


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_diverged_sampling_is_named_not_quantised(name):
    # samplers never synchronise with the host per step; generate checks each finished batch once
    with pytest.raises(ValueError, match=f"sampling with '{name}' diverged"):
        generate(DivergingNoise(), SDE, torch.tensor([3, 5]), num_features=4, sampler=name, options=FAST[name])


def test_noise_model_names_mismatched_shapes(model):
    mask = node_mask(torch.tensor([3, 2]), 3)
    with pytest.raises(ValueError, match=r"x must have shape \(B, N, F\) = \(2, 3, 4\)"):
        model(torch.zeros(2, 3, 5), torch.zeros(2, 3, 3), mask, torch.ones(2))
    with pytest.raises(ValueError, match="mask must have shape"):
        model(torch.zeros(2, 3, 4), torch.zeros(2, 3, 3), mask[:1], torch.ones(2))


def test_option_schema_comes_from_the_signatures():
    from sheafgraph.generative.samplers import OPTION_HELP, SNR, check_sampler_options, sampler_options
    assert sampler_options("ode") == {"steps": 100, "eps": 1e-4, "method": "heun"}
    assert sampler_options("pc")["snr"] == sampler_options("s4")["snr"] == SNR
    assert set(OPTION_HELP) == {k for name in SAMPLERS for k in sampler_options(name)}
    check_sampler_options("pc", {"snr": 0.3, "steps": 4})
    with pytest.raises(ValueError, match="sampler 's4' does not take order, method; its options: steps, eps"):
        check_sampler_options("s4", {"order": 2, "method": "heun"})


def test_quantisation_and_masks_refuse_what_has_no_meaning():
    from sheafgraph.generative import Graphs, quantize_graphs
    mask = node_mask(torch.tensor([2]), 3)
    adj = torch.zeros(1, 3, 3)
    adj[0, 0, 1] = adj[0, 1, 0] = float("nan")
    with pytest.raises(ValueError, match="adj contains NaN or infinite values"):
        quantize_graphs(Graphs(torch.zeros(1, 3, 4), adj, mask))
    with pytest.raises(TypeError, match="num_nodes must be an integer tensor of node counts, got torch.float32"):
        node_mask(torch.tensor([3.5]), 4)
