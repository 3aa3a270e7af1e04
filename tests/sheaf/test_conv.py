import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.nn import Sequential

from sheafgraph.ops import GraphStructure
from sheafgraph.sheaf import EdgeWeightLearner, SheafConv, SheafLearner, fixed_stalk_laplacian
from sheafgraph.sheaf.learners import fold_edge_weights
from tests.conftest import random_undirected_graph

KINDS = [("diag", {}), ("orthogonal", {"edge_weights": True}), ("orthogonal", {"orthogonal": "cayley"}),
         ("general", {})]


def reverse_of(edge_index):
    pairs = {(i, j): e for e, (i, j) in enumerate(edge_index.t().tolist())}
    return [pairs[(j, i)] for (i, j) in edge_index.t().tolist()]


def dense_normalised_sheaf_laplacian(edge_index, maps, n):
    """Block by block from the definition, float64 numpy: (D + I)^{-1/2} L (D + I)^{-1/2}."""
    maps = maps.detach().double().numpy()
    d = maps.shape[1]
    F = maps if maps.ndim == 3 else np.stack([np.diag(m) for m in maps])
    rev = reverse_of(edge_index)
    L = np.zeros((n, n, d, d))
    for e, (i, j) in enumerate(edge_index.t().tolist()):
        L[i, j] -= F[e].T @ F[rev[e]]
        L[i, i] += F[e].T @ F[e]
    dis = []
    for i in range(n):
        lam, u = np.linalg.eigh(L[i, i] + np.eye(d))
        dis.append((u * lam ** -0.5) @ u.T)
    for i in range(n):
        for j in range(n):
            L[i, j] = dis[i] @ L[i, j] @ dis[j]
    return torch.from_numpy(L.transpose(0, 2, 1, 3).reshape(n * d, n * d))


def dense_fixed(edge_index, n, sign):
    A = torch.zeros(n, n, dtype=torch.float64)
    A[edge_index[0], edge_index[1]] = 1.0
    deg = A.sum(1)
    s = torch.diag((deg + 1) ** -0.5)
    return s @ (torch.diag(deg) + sign * A) @ s


def paper_conv(channels, d, maps="diag", **kwargs):
    """The paper's layer (no projections): D = d + extra stalks dimensions of ``channels`` channels in and out."""
    width = (d + len(kwargs.get("extra_stalks", ()))) * channels
    return SheafConv(width, width, d, maps, channels=channels, **kwargs)


def graph(n=9, pairs=14, seed=0):
    return random_undirected_graph(n, pairs, isolated=1, seed=seed)


@pytest.mark.parametrize("kind, kw", KINDS)
def test_step_matches_dense_reference(kind, kw):
    torch.manual_seed(0)
    n, d, C = 9, 3, 4
    ei = graph(n)
    conv = paper_conv(C, d, kind, extra_stalks=("signless", "laplacian"), **kw).double()
    with torch.no_grad():
        conv.epsilon.uniform_(-1, 1)
        conv.term.left.weight.add_(0.1 * torch.randn(5, 5, dtype=torch.float64))
    x = torch.randn(n, 5 * C, dtype=torch.float64)
    out = conv(x, ei)

    s = GraphStructure(ei, n)
    h = x.view(n, 5, C)
    maps = conv.term.learner(h, s)
    if conv.term.weight_learner is not None:
        maps = fold_edge_weights(maps, conv.term.weight_learner(h, s))
    W1, W2 = conv.term.left.weight, conv.term.right.weight
    mixed = torch.einsum("ab,nbc,ec->nae", W1, h, W2)                          # (I ⊗ W1) X W2
    learned = (dense_normalised_sheaf_laplacian(ei, maps, n) @ mixed[:, :3].reshape(n * 3, C)).view(n, 3, C)
    signless = dense_fixed(ei, n, +1.0) @ mixed[:, 3]
    laplacian = dense_fixed(ei, n, -1.0) @ mixed[:, 4]
    y = torch.cat([learned, signless[:, None], laplacian[:, None]], 1)
    expected = (1 + torch.tanh(conv.epsilon))[:, None] * h - torch.nn.functional.elu(y)
    torch.testing.assert_close(out, expected.reshape(n, -1))


@pytest.mark.parametrize("kind, kw", KINDS)
def test_permutation_equivariance(kind, kw):
    torch.manual_seed(1)
    n = 10
    ei = graph(n, 18, seed=3)
    conv = paper_conv(4, 2, kind, extra_stalks=("signless",), **kw).eval()
    x = torch.randn(n, 3 * 4)
    perm = torch.randperm(n)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    out = conv(x, ei)
    out_p = conv(x[perm], inv[ei])
    torch.testing.assert_close(out_p, out[perm], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind, kw", KINDS)
def test_gradcheck_tiny_graph(kind, kw):
    torch.manual_seed(2)
    ei = torch.tensor([[0, 1, 1, 2, 0, 2, 2, 3], [1, 0, 2, 1, 2, 0, 3, 2]])
    conv = paper_conv(2, 2, kind, extra_stalks=("laplacian",), **kw).double()
    x = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)     # node 4 is isolated
    weight = conv.term.learner.pair.linear.weight
    assert torch.autograd.gradcheck(lambda x, w: conv(x, ei), (x, weight))


def test_learner_pair_linear_equals_linear_on_concatenation():
    torch.manual_seed(3)
    n, ei = 8, graph(8, 12, seed=5)
    s = GraphStructure(ei, n)
    x = torch.randn(n, 2, 5)
    learner = SheafLearner(5, 2, 2, "general", act="id")
    cat = torch.cat([x.flatten(1)[ei[0]], x.flatten(1)[ei[1]]], 1)
    torch.testing.assert_close(learner(x, s), learner.pair.linear(cat).view(-1, 2, 2))
    summed = SheafLearner(5, 2, 3, "diag", act="tanh", inputs="stalk_sum")
    xs = x.sum(1)
    cat = torch.cat([xs[ei[0]], xs[ei[1]]], 1)
    torch.testing.assert_close(summed(x, s), torch.tanh(summed.pair.linear(cat)))


def test_edge_weights_symmetric_and_folded_maps_scaled_orthogonal():
    torch.manual_seed(4)
    n, ei = 8, graph(8, 12, seed=6)
    s = GraphStructure(ei, n)
    x = torch.randn(n, 3, 4)
    w = EdgeWeightLearner(4, 3)(x, s)
    rev = torch.tensor(reverse_of(ei))
    torch.testing.assert_close(w, w[rev])
    assert bool(((w > 0) & (w < 1)).all())
    maps = fold_edge_weights(SheafLearner(4, 3, 3, "orthogonal")(x, s), w)
    gram = maps.transpose(-1, -2) @ maps
    torch.testing.assert_close(gram, (w ** 2)[:, None, None] * torch.eye(3).expand_as(gram), rtol=1e-5, atol=1e-6)


def test_fixed_stalk_laplacian_cached_per_structure():
    ei = graph()
    s = GraphStructure(ei, 9)
    a = fixed_stalk_laplacian(s, ("signless", "laplacian"))
    assert fixed_stalk_laplacian(s, ("signless", "laplacian")) is a
    assert fixed_stalk_laplacian(GraphStructure(ei, 9), ("signless", "laplacian")) is not a
    dense = a.to_dense().double().view(9, 2, 9, 2)
    torch.testing.assert_close(dense[:, 0, :, 0], dense_fixed(ei, 9, +1.0), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(dense[:, 1, :, 1], dense_fixed(ei, 9, -1.0), rtol=1e-6, atol=1e-6)


def test_structure_cache_keyed_on_tensor_and_version():
    ei = graph()
    x = torch.randn(9, 8)
    conv = paper_conv(4, 2, cached=True)
    s1 = conv.structure(x, ei)
    assert conv.structure(x, ei) is s1
    assert conv.structure(x, ei.clone()) is not s1                  # another tensor
    s2 = conv.structure(x, ei)
    ei[:, :2] = ei[:, :2].flip(1)                                  # in-place change: version bump
    assert conv.structure(x, ei) is not s2
    uncached = paper_conv(4, 2)
    assert uncached.structure(x, ei) is not uncached.structure(x, ei)


def test_inductive_batches_and_sequential():
    torch.manual_seed(5)
    g1, g2 = graph(7, 10, seed=1), graph(6, 8, seed=2)
    d1 = Data(x=torch.randn(7, 8), edge_index=g1, num_nodes=7)
    d2 = Data(x=torch.randn(6, 8), edge_index=g2, num_nodes=6)
    batch = Batch.from_data_list([d1, d2])
    model = Sequential("x, edge_index", [
        (paper_conv(4, 2, "orthogonal"), "x, edge_index -> x"),
        (paper_conv(4, 2, "general"), "x, edge_index -> x"),
    ]).eval()
    out = model(batch.x, batch.edge_index)
    torch.testing.assert_close(out[:7], model(d1.x, g1), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out[7:], model(d2.x, g2), rtol=1e-5, atol=1e-6)
    # (|V|, D, C) input comes back in the same shape
    assert model[0](batch.x.view(13, 2, 4), batch.edge_index).shape == (13, 2, 4)


def test_bad_inputs():
    ei = graph()
    conv = paper_conv(4, 2)
    with pytest.raises(ValueError, match=r"\(\|V\|, 8\)"):
        conv(torch.randn(9, 7), ei)
    with pytest.raises(ValueError, match="not symmetric"):
        conv(torch.randn(9, 8), torch.tensor([[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match="self-loops"):
        conv(torch.randn(9, 8), torch.tensor([[0, 1, 2], [1, 0, 2]]))
    with pytest.raises(ValueError, match="out of range"):
        conv(torch.randn(3, 8), ei)
    with pytest.raises(ValueError, match="diag, orthogonal, general"):
        paper_conv(4, 2, "sparse")
    with pytest.raises(ValueError, match="signless, laplacian"):
        paper_conv(4, 2, extra_stalks=("lowpass",))
    with pytest.raises(ValueError, match="orthogonal' only"):
        paper_conv(4, 2, "diag", edge_weights=True)
    with pytest.raises(ValueError, match="d >= 2"):
        paper_conv(4, 1, "orthogonal")
    with pytest.raises(ValueError, match="tanh, elu, id"):
        paper_conv(4, 2, sheaf_act="relu")


def test_mix_is_kron_of_present_weights():
    torch.manual_seed(6)
    x = torch.randn(5, 3, 4)
    both = paper_conv(4, 3).term
    w1, w2 = torch.randn(3, 3), torch.randn(4, 4)
    with torch.no_grad():
        both.left.weight.copy_(w1)
        both.right.weight.copy_(w2)
    torch.testing.assert_close(both.mix(x), w1 @ x @ w2.t())
    torch.testing.assert_close(paper_conv(4, 3, left_weights=False, right_weights=False).term.mix(x), x)
    only_right = paper_conv(4, 3, left_weights=False).term
    torch.testing.assert_close(only_right.mix(x), x @ only_right.right.weight.t())


def test_mini_batch_subgraphs():
    from torch_geometric.utils import subgraph, to_undirected
    torch.manual_seed(7)
    n, ei = 30, graph(30, 60, seed=8)
    conv = paper_conv(4, 2, "diag").eval()
    x = torch.randn(n, 8)
    nodes = torch.arange(0, n, 2)
    sub_ei, _ = subgraph(nodes, ei, relabel_nodes=True, num_nodes=n)             # induced: symmetric as is
    assert conv(x[nodes], sub_ei).shape == (15, 8)
    sampled = ei[:, ei[1] < 10]                                                  # incoming edges of seed nodes only
    with pytest.raises(ValueError, match="not symmetric"):
        conv(x, sampled)
    assert conv(x, to_undirected(sampled, num_nodes=n)).shape == (n, 8)


def test_pyg_style_projections_repr_and_reset():
    torch.manual_seed(8)
    ei = graph()
    conv = SheafConv(5, 6, d=3, maps="general")                   # D = 3 stalks of 2 channels, projected in and out
    assert (conv.channels, conv.lin_in.in_features, conv.lin_out) == (2, 5, None)
    assert repr(conv) == "SheafConv(5, 6, d=3, maps='general', channels=2, extra_stalks=[], dropout=0.0)"
    assert conv(torch.randn(9, 5), ei).shape == (9, 6)
    wide = SheafConv(6, 3, d=2, channels=4)                       # 8 diffused features, projected to 3
    assert wide(torch.randn(9, 6), ei).shape == (9, 3)
    before = [p.detach().clone() for p in wide.parameters()]
    wide.reset_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, wide.parameters()))
    with pytest.raises(ValueError, match="out_channels=7 is not a multiple of the stalk dimension D=3"):
        SheafConv(4, 7, d=3)
    with pytest.raises(ValueError, match=r"x must have shape \(\|V\|, 5\)"):
        conv(torch.randn(9, 3, 2), ei)                            # 3-D input only without an input projection


def test_edge_weight_scales_coupling_and_sparse_adjacency_is_accepted():
    torch.manual_seed(9)
    ei = graph()
    conv = SheafConv(6, 6, d=3, maps="diag", left_weights=False, right_weights=False).double().eval()
    x = torch.randn(9, 6, dtype=torch.float64)
    ones = torch.ones(ei.size(1), dtype=torch.float64)
    torch.testing.assert_close(conv(x, ei, ones), conv(x, ei))
    s = GraphStructure(ei, 9)
    w = torch.rand(ei.size(1), dtype=torch.float64)
    w = 0.5 * (w + w[s.reverse_index()])                              # symmetric weights
    plain = SheafConv(6, 6, d=3, maps="diag", normalization=None).double()
    maps = plain.term.learner(x.view(9, 3, 2), s)                    # F_e, (|E|, 3)
    expected = torch.zeros(9, 3, 9, 3, dtype=torch.float64)
    for e, (i, j) in enumerate(ei.t().tolist()):                      # L_ij = -w_ij F_i F_j, L_ii = sum w_ij F_i^2
        expected[i, :, j, :] -= torch.diag(w[e] * maps[e] * maps[s.reverse_index()[e]])
        expected[i, :, i, :] += torch.diag(w[e] * maps[e] ** 2)
    got = plain.laplacian(x, ei, w).to_dense().view(9, 3, 9, 3)
    torch.testing.assert_close(got, expected)
    adj = torch.sparse_coo_tensor(ei, w, (9, 9))
    torch.testing.assert_close(conv(x, adj), conv(x, ei, w))
    torch.testing.assert_close(conv(x, adj.to_sparse_csr()), conv(x, ei, w))
    for kind, kw in KINDS:                                            # given weights, streamed: the reverse edge's
        streamed = SheafConv(6, 6, d=3 if kind != "orthogonal" else 2, maps=kind, channels=2, **kw).double()
        torch.testing.assert_close(streamed(x, ei, w, edge_chunk=5), streamed(x, ei, w))
    with pytest.raises(ValueError, match="edge_weight must be non-negative"):
        conv(x, ei, -ones)
    with pytest.raises(ValueError, match=r"edge_weight must have shape \(" + str(ei.size(1)) + r",\)"):
        conv(x, ei, ones[:3])


def test_sheaf_conv_beside_gcn_in_a_pyg_sequential():
    from torch_geometric.nn import GCNConv
    torch.manual_seed(10)
    model = Sequential("x, edge_index", [
        (GCNConv(7, 12), "x, edge_index -> x"),
        (SheafConv(12, 12, d=3, maps="orthogonal"), "x, edge_index -> x"),
        (SheafConv(12, 4, d=2, maps="general", channels=3), "x, edge_index -> x"),
    ])
    out = model(torch.randn(9, 7), graph())
    out.sum().backward()
    assert out.shape == (9, 4) and all(p.grad is not None for p in model.parameters())
