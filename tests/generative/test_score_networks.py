import pytest
import torch

from sheafgraph.generative import score_networks
from sheafgraph.generative.noise import node_mask, symmetrize_noise
from sheafgraph.generative.score_networks import GDSSNoiseModel, ScoreNetworkA, ScoreNetworkX
from sheafgraph.ops.dense import mask_adjacency, size_buckets


def noisy_batch(seed=0, b=3, n=7, f=4):
    g = torch.Generator().manual_seed(seed)
    mask = node_mask(torch.tensor([7, 5, 6])[:b], n)
    x = torch.randn(b, n, f, generator=g) * mask.unsqueeze(-1)
    adj = symmetrize_noise(torch.randn(b, n, n, generator=g)) * mask.unsqueeze(-1) * mask.unsqueeze(-2)
    return x, adj, mask, torch.rand(b, generator=g)


@pytest.mark.parametrize("time_conditioning", [False, True])
def test_permutation_equivariance(time_conditioning):
    torch.manual_seed(0)
    model = GDSSNoiseModel(4, time_conditioning=time_conditioning).double()
    x, adj, mask, t = (v.double() for v in noisy_batch())
    perm = torch.randperm(7)
    ex, ea = model(x, adj, mask, t)
    px, pa = model(x[:, perm], adj[:, perm][:, :, perm], mask[:, perm], t)
    torch.testing.assert_close(px, ex[:, perm])
    torch.testing.assert_close(pa, ea[:, perm][:, :, perm])


def test_outputs_symmetric_masked_and_zero_diagonal():
    torch.manual_seed(0)
    x, adj, mask, t = noisy_batch()
    with torch.no_grad():
        ex, ea = GDSSNoiseModel(4)(x, adj, mask)
    assert ex.shape == (3, 7, 4) and ea.shape == (3, 7, 7)
    torch.testing.assert_close(ea, ea.transpose(1, 2))
    assert float(torch.diagonal(ea, dim1=1, dim2=2).abs().max()) == 0.0
    assert float(ex[1, 5:].abs().max()) == 0.0 and float(ea[1, 5:].abs().max()) == 0.0
    assert float(ea[0].abs().sum()) > 0


def test_padding_does_not_change_real_outputs():
    torch.manual_seed(0)
    model = GDSSNoiseModel(4).double()
    x, adj, mask, t = (v.double() for v in noisy_batch())
    ex, ea = model(x[1:2, :5], adj[1:2, :5, :5], mask[1:2, :5])
    px, pa = model(x[1:2], adj[1:2], mask[1:2])
    torch.testing.assert_close(px[:, :5], ex)
    torch.testing.assert_close(pa[:, :5, :5], ea)


def test_time_conditioning_requires_t_and_uses_it():
    torch.manual_seed(0)
    x, adj, mask, t = noisy_batch()
    net = ScoreNetworkX(4, time_conditioning=True)
    with pytest.raises(ValueError, match="time-conditioned"):
        net(x, adj, mask)
    assert not torch.allclose(net(x, adj, mask, t), net(x, adj, mask, t + 0.5))
    with pytest.raises(ValueError, match="divisible by num_heads"):
        ScoreNetworkA(4, attn_dim=10, num_heads=4)


def test_config_round_trip():
    model = GDSSNoiseModel(4, x_params={"depth": 3}, adj_params={"c_init": 3}, time_conditioning=True)
    clone = GDSSNoiseModel.from_config(model.config())
    clone.load_state_dict(model.state_dict())
    assert clone.config() == model.config() and clone.min_degree == 1.0


def test_min_degree_reaches_every_gcn_and_legacy_configs_keep_zero():
    """Noisy adjacencies have node degrees <= 1 (here many): the clamp changes both networks' outputs; a config
    stored before the option existed loads with the old behaviour (min_degree 0)."""
    torch.manual_seed(0)
    x, adj, mask, t = noisy_batch(seed=1)
    deg = (adj + torch.eye(7)).sum(-1)[mask > 0]
    assert bool((deg < 1).any())
    model = GDSSNoiseModel(4, time_conditioning=True)
    legacy_config = {k: v for k, v in model.config().items() if k != "min_degree"}
    legacy = GDSSNoiseModel.from_config(legacy_config)
    legacy.load_state_dict(model.state_dict())
    assert legacy.min_degree == 0.0 and legacy.net_x.min_degree == 0.0
    assert all(layer.min_degree == 0.0 for layer in legacy.net_adj.layers)
    with torch.no_grad():
        (ex, ea), (lx, la) = model(x, adj, mask, t), legacy(x, adj, mask, t)
    assert not torch.allclose(ex, lx) and not torch.allclose(ea, la)
    # a non-negative adjacency has degrees >= 1 with self-loops: the clamp is a no-op for the X network's GCNs
    # (the adjacency network also normalises its learned, signed edge channels, so it changes there)
    clean = adj.abs().round() * mask.unsqueeze(-1) * mask.unsqueeze(-2)
    with torch.no_grad():
        torch.testing.assert_close(model.net_x(x, clean, mask, t), legacy.net_x(x, clean, mask, t))


def test_graph_attention_maps_match_a_per_head_loop_in_float64():
    from sheafgraph.generative.layers import GraphAttention

    torch.manual_seed(0)
    heads, attn, out = 4, 8, 6
    layer = GraphAttention(5, attn, out, channels=2, num_heads=heads).double()
    x = torch.randn(3, 7, 5, dtype=torch.float64)
    adj = torch.rand(3, 2, 7, 7, dtype=torch.float64)
    v, maps = layer(x, adj)
    q, k, v_ref = layer.qkv(x, adj).split([attn, attn, out], dim=-1)
    width = attn // heads
    expected = torch.zeros(3, 2, 7, 7, dtype=torch.float64)
    for b in range(3):
        for c in range(2):
            for h in range(heads):
                qh, kh = q[b, c, :, h * width:(h + 1) * width], k[b, c, :, h * width:(h + 1) * width]
                expected[b, c] += torch.tanh(qh @ kh.T / out ** 0.5) / heads
    torch.testing.assert_close(maps, 0.5 * (expected + expected.transpose(-1, -2)))
    torch.testing.assert_close(v, v_ref)


@pytest.mark.parametrize("bond_levels", [None, [1.0, 1.5, 2.0, 3.0]])
def test_size_groups_give_the_padded_pass_outputs_and_gradients(bond_levels, monkeypatch):
    """A batch of mixed sizes (ENZYMES-like, N = 125) is evaluated in size groups; outputs and parameter gradients
    equal one pass over the padded batch in float64, in the original row order."""
    torch.manual_seed(0)
    model = GDSSNoiseModel(4, x_params={"depth": 2, "hidden": 8}, adj_params={"hidden": 8, "num_layers": 2},
                           time_conditioning=True, bond_levels=bond_levels).double()
    counts = torch.tensor([125, 3, 40, 33, 90, 17, 8, 64, 2, 28])
    mask = node_mask(counts, 125).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(10, 125, 4, generator=g, dtype=torch.float64) * mask.unsqueeze(-1)
    shape = (10, 125, 125) if bond_levels is None else (10, 4, 125, 125)
    adj = mask_adjacency(symmetrize_noise(torch.randn(shape, generator=g, dtype=torch.float64)), mask)
    t = torch.rand(10, generator=g, dtype=torch.float64)
    seen = []
    monkeypatch.setattr(score_networks, "size_buckets", lambda *a: seen.append(size_buckets(*a)) or seen[-1])

    def outputs_and_grads():
        model.zero_grad()
        ex, ea = model(x, adj, mask, t)
        (ex.square().sum() + ea.square().sum()).backward()
        return ex, ea, [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in model.parameters()]

    grouped = outputs_and_grads()
    assert [size for _, size in seen[0]] == [125, 90, 64, 40, 28, 17, 8, 3, 2]      # the groups were used
    monkeypatch.setattr(GDSSNoiseModel, "bucket_ratio", None)
    padded = outputs_and_grads()
    torch.testing.assert_close(grouped[0], padded[0])
    torch.testing.assert_close(grouped[1], padded[1])
    for a, b in zip(grouped[2], padded[2]):          # A^k of noise at N = 125 makes gradients ~1e8: relative tolerance
        torch.testing.assert_close(a, b, rtol=0, atol=1e-8 * float(b.abs().max()))
