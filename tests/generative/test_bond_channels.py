import pytest
import torch

from sheafgraph.chem.decode import AROMATIC_BOND
from sheafgraph.generative import (BOND_LEVELS, GDSSNoiseModel, GraphSDE, Graphs, bond_order_view, dsm_loss, generate,
                                   quantize_bonds, to_bond_channels)
from sheafgraph.generative.noise import node_mask, symmetrize_noise

LEVELS = torch.tensor(BOND_LEVELS, dtype=torch.float64)
SDE = GraphSDE.from_config({"x": {"name": "ve", "sigma_min": 0.1, "sigma_max": 1.0},
                            "adj": {"name": "ve", "sigma_min": 0.1, "sigma_max": 1.0}})


def bond_orders():
    """Two molecules' bond orders (benzene-like ring of 1.5 with a double and a triple bond hanging off)."""
    adj = torch.zeros(2, 6, 6, dtype=torch.float64)
    for i in range(6):
        adj[0, i, (i + 1) % 6] = adj[0, (i + 1) % 6, i] = 1.5
    for (i, j, v) in [(0, 1, 1.0), (1, 2, 2.0), (2, 3, 3.0)]:
        adj[1, i, j] = adj[1, j, i] = v
    return adj


def test_channels_are_indicators_and_the_view_gives_the_orders_back():
    adj = bond_orders()
    channels = to_bond_channels(adj)
    assert channels.shape == (2, 4, 6, 6)
    for k, level in enumerate(BOND_LEVELS):                  # dense reference: one loop per level
        torch.testing.assert_close(channels[:, k], (adj == level).double())
    assert float(channels.sum(1).max()) == 1.0
    torch.testing.assert_close(bond_order_view(channels, LEVELS), adj)
    with pytest.raises(ValueError, match="entry 5.5 is not a bond level"):
        to_bond_channels(adj + 2.5 * (adj == 3))
    with pytest.raises(ValueError, match="two distinct positive"):
        to_bond_channels(adj, (1.0, 1.0))


def test_quantisation_takes_the_largest_channel_and_no_bond_below_half():
    mask = torch.ones(2, 6)
    codes = quantize_bonds(to_bond_channels(bond_orders()).float(), mask)
    expected = bond_orders().clone()
    expected[expected == 1.5] = AROMATIC_BOND
    torch.testing.assert_close(codes, expected.long())
    channels = torch.zeros(1, 4, 3, 3)
    channels[0, :, 0, 1] = channels[0, :, 1, 0] = torch.tensor([0.3, 0.45, 0.2, 0.1])    # all < 1/2: no bond
    channels[0, :, 0, 2] = channels[0, :, 2, 0] = torch.tensor([0.6, 0.2, 0.9, -1.0])    # double wins
    codes = quantize_bonds(channels, torch.ones(1, 3))
    assert codes[0].tolist() == [[0, 0, 2], [0, 0, 0], [2, 0, 0]]
    assert quantize_bonds(channels, torch.tensor([[1.0, 1.0, 0.0]]))[0, 0, 2] == 0      # padding
    with pytest.raises(ValueError, match="one channel per level"):
        quantize_bonds(channels[:, :3], torch.ones(1, 3))


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = node_mask(torch.tensor([6, 4, 5]), 6).double()
    x = torch.randn(3, 6, 4, generator=g, dtype=torch.float64) * mask.unsqueeze(-1)
    adj = symmetrize_noise(torch.randn(3, 4, 6, 6, generator=g, dtype=torch.float64))
    outer = (mask.unsqueeze(-1) * mask.unsqueeze(-2)).unsqueeze(1)
    return x, adj * outer, mask, torch.rand(3, generator=g, dtype=torch.float64)


@torch.no_grad()
def test_categorical_model_is_equivariant_symmetric_masked_and_round_trips():
    torch.manual_seed(0)
    model = GDSSNoiseModel(4, bond_levels=BOND_LEVELS).double()
    x, adj, mask, t = batch()
    ex, ea = model(x, adj, mask, t)
    assert ex.shape == (3, 6, 4) and ea.shape == (3, 4, 6, 6) and model.adj_channels == 4
    torch.testing.assert_close(ea, ea.transpose(-1, -2))
    assert float(torch.diagonal(ea, dim1=-2, dim2=-1).abs().max()) == 0.0
    assert float(ea[1, :, 4:].abs().max()) == 0.0 and float(ex[1, 4:].abs().max()) == 0.0
    perm = torch.randperm(6)
    px, pa = model(x[:, perm], adj[:, :, perm][:, :, :, perm], mask[:, perm], t)
    torch.testing.assert_close(px, ex[:, perm])
    torch.testing.assert_close(pa, ea[:, :, perm][:, :, :, perm])
    # every channel matters: changing one bond type's channel changes the prediction of the others
    bumped = adj.clone()
    bumped[0, 3, 0, 1] = bumped[0, 3, 1, 0] = 2.0
    assert not torch.allclose(model(x, bumped, mask, t)[1][0, 0], ea[0, 0])
    clone = GDSSNoiseModel.from_config(model.config()).double()
    clone.load_state_dict(model.state_dict())
    torch.testing.assert_close(clone(x, adj, mask, t)[1], ea)
    assert model.config()["bond_levels"] == list(BOND_LEVELS) and "bond_levels" not in GDSSNoiseModel(4).config()
    with pytest.raises(ValueError, match=r"categorical bonds: adj must have shape \(B, 4, N, N\)"):
        model(x, adj[:, 0], mask, t)


def test_categorical_loss_has_finite_gradients_and_sampling_is_seeded():
    torch.manual_seed(0)
    model = GDSSNoiseModel(4, bond_levels=BOND_LEVELS)
    x, adj, mask, _ = (v.float() for v in batch())
    clean = Graphs(x, to_bond_channels(torch.zeros(3, 6, 6)), mask.float())
    loss_x, loss_adj = dsm_loss(model, SDE, clean, generator=torch.Generator().manual_seed(1))
    (loss_x + loss_adj).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(bool(torch.isfinite(g).all()) for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)

    def draw(seed):
        return generate(model, SDE, torch.tensor([6, 4, 5, 3]), num_features=4, sampler="s4",
                        generator=torch.Generator().manual_seed(seed), options={"steps": 3})
    a, b = draw(0), draw(0)
    assert torch.equal(a.bond_orders, b.bond_orders) and a.bond_orders.shape == (4, 6, 6)
    assert set(a.bond_orders.unique().tolist()) <= {0, 1, 2, 3, AROMATIC_BOND}
    assert not torch.equal(a.bond_orders, draw(1).bond_orders)
