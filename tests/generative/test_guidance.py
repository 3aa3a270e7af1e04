import pytest
import torch
from torch import nn

from sheafgraph.chem import QM9_ATOMS, ZINC250K_ATOMS
from sheafgraph.chem.decode import AROMATIC_BOND
from sheafgraph.generative import GDSSNoiseModel, GraphSDE
from sheafgraph.generative.guidance import ValenceGuidance, excess_valence
from sheafgraph.generative.noise import node_mask

VE = {"name": "ve", "sigma_min": 0.1, "sigma_max": 1.0}
VP = {"name": "vp", "beta_min": 0.1, "beta_max": 1.0}


class FixedNoise(nn.Module):
    """A stand-in noise model whose predictions are fixed tensors (so the clean estimates are known)."""

    def __init__(self, eps_x, eps_adj):
        super().__init__()
        self.register_buffer("eps_x", eps_x)
        self.register_buffer("eps_adj", eps_adj)

    def forward(self, x, adj, mask, t=None):
        return self.eps_x.clone(), self.eps_adj.clone()


def test_max_valences_are_rdkits_neutral_maxima():
    assert QM9_ATOMS.max_valences == (4, 3, 2, 1)
    assert dict(zip(ZINC250K_ATOMS.symbols, ZINC250K_ATOMS.max_valences))["S"] == 6


def test_excess_valence_by_hand():
    # atoms C, N, O, O, padding; N=O double, N-C single, N-O double: N has 5 (excess 2), the second O 2 (ok)
    types = torch.tensor([[0, 1, 2, 2, -1]])
    bonds = torch.zeros(1, 5, 5, dtype=torch.long)
    for i, j, b in [(0, 1, 1), (1, 2, 2), (1, 3, 2)]:
        bonds[0, i, j] = bonds[0, j, i] = b
    excess = excess_valence(types, bonds, torch.tensor([4.0, 3, 2, 1], dtype=torch.float64))
    torch.testing.assert_close(excess, torch.tensor([[0.0, 2.0, 0.0, 0.0, 0.0]], dtype=torch.float64))
    bonds[0, 0, 1] = bonds[0, 1, 0] = AROMATIC_BOND                    # aromatic counts 1.5
    assert float(excess_valence(types, bonds, torch.tensor([4.0, 3, 2, 1]))[0, 1]) == 2.5


@pytest.mark.parametrize("adj_sde", [VE, VP])
def test_guided_noise_matches_a_dense_reference(adj_sde):
    torch.manual_seed(0)
    sde = GraphSDE.from_config({"x": VE, "adj": adj_sde})
    n, t = 5, torch.full((2,), 0.3, dtype=torch.float64)
    mask = node_mask(torch.tensor([5, 4]), n).double()
    x = torch.randn(2, n, 4, dtype=torch.float64)
    adj = torch.randn(2, n, n, dtype=torch.float64).abs() * 1.5
    adj = (adj + adj.transpose(1, 2)) * (1 - torch.eye(n, dtype=torch.float64)) * mask[:, :, None] * mask[:, None]
    eps_x, eps_adj = torch.randn_like(x), torch.randn_like(adj) * 0.1
    eps_adj = (eps_adj + eps_adj.transpose(1, 2)) * mask[:, :, None] * mask[:, None]
    model = FixedNoise(eps_x, eps_adj).double()
    guided = ValenceGuidance(model, sde, QM9_ATOMS.max_valences, strength=0.7, start=0.5)
    out_x, out_adj = guided(x, adj, mask, t)
    # reference: loops over graphs and pairs
    expected = eps_adj.clone()
    (ax, sx), (aa, sa) = sde.x.marginal_coefficients(t), sde.adj.marginal_coefficients(t)
    for b in range(2):
        real = [i for i in range(n) if mask[b, i] > 0]
        types = {i: int(((x[b, i] - sx[b] * eps_x[b, i]) / ax[b]).argmax()) for i in real}
        a0 = (adj[b] - sa[b] * eps_adj[b]) / aa[b]
        order = {(i, j): min(max(int(torch.floor(a0[min(i, j), max(i, j)] + 0.5)), 0), 3)
                 for i in real for j in real if i != j}
        excess = {i: max(0.0, sum(order[i, j] for j in real if j != i) - (4, 3, 2, 1)[types[i]]) for i in real}
        for i in real:
            for j in real:
                if i != j and order[i, j] >= 1:
                    expected[b, i, j] += 0.7 * aa[b] / sa[b] * (excess[i] + excess[j])
    torch.testing.assert_close(out_adj, expected)
    torch.testing.assert_close(out_x, eps_x)
    assert not torch.equal(out_adj, eps_adj)                            # the case does exercise the guidance
    torch.testing.assert_close(out_adj, out_adj.transpose(1, 2))        # symmetric, zero on padding
    assert float(out_adj[1, 4].abs().sum()) == 0
    late = ValenceGuidance(model, sde, QM9_ATOMS.max_valences, strength=0.7, start=0.2)
    assert torch.equal(late(x, adj, mask, t)[1], eps_adj)               # t = 0.3 > start: not guided


def test_guidance_removes_over_valent_atoms_from_the_shipped_model():
    from sheafgraph.generative.molecules import load_generator, sample_molecules
    from sheafgraph.metrics.molecules import validity_without_correction
    gen = load_generator()
    runs = [sample_molecules(gen, 64, seed=0, options={"steps": 20}, guidance={"strength": s, "start": 0.5})
            for s in (0.0, 1.0)]
    neutral = [validity_without_correction(r.graphs.atom_types, r.graphs.bond_orders, gen.vocab, charge_rule=False)
               for r in runs]
    assert neutral[1] >= 0.95 and neutral[1] > neutral[0]
    assert runs[1].options["valence_guidance"] == 1.0 and runs[1].options["guidance_start"] == 0.5


def test_guidance_rejects_bad_options_and_categorical_bonds():
    sde = GraphSDE.from_config({"x": VE, "adj": VE})
    model = GDSSNoiseModel(4)
    with pytest.raises(ValueError, match="strength must be >= 0"):
        ValenceGuidance(model, sde, QM9_ATOMS.max_valences, strength=-1.0)
    with pytest.raises(ValueError, match=r"start time must be in \(0, 1\]"):
        ValenceGuidance(model, sde, QM9_ATOMS.max_valences, strength=1.0, start=0.0)
    categorical = GDSSNoiseModel(4, bond_levels=(1.0, 1.5, 2.0, 3.0))
    with pytest.raises(ValueError, match="categorical bonds"):
        ValenceGuidance(categorical, sde, QM9_ATOMS.max_valences, strength=1.0)
    from sheafgraph.generative.molecules import load_generator, sample_molecules
    with pytest.raises(ValueError, match=r"unknown valence guidance option\(s\) \['strenght'\]"):
        sample_molecules(load_generator(), 2, guidance={"strenght": 1.0})
