import pytest
import torch

from sheafgraph.ops import GraphStructure, graph_laplacian
from tests.conftest import random_undirected_graph


def dense_reference(edge_index, weight, n, normalization):
    """Textbook construction with explicit loops, in float64."""
    W = torch.zeros(n, n, dtype=torch.float64)
    for (i, j), w in zip(edge_index.t().tolist(), weight.tolist()):
        W[i, j] += w
    deg = W.sum(1)
    if normalization is None:
        return torch.diag(deg) - W
    inv = torch.tensor([1.0 / d if d > 0 else 0.0 for d in deg.tolist()], dtype=torch.float64)
    if normalization == "rw":
        return torch.eye(n, dtype=torch.float64) - torch.diag(inv) @ W
    s = inv.sqrt()
    return torch.eye(n, dtype=torch.float64) - torch.diag(s) @ W @ torch.diag(s)


@pytest.mark.parametrize("normalization", [None, "sym", "rw"])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_dense_reference(normalization, seed):
    n = 23
    ei = random_undirected_graph(n, 40, isolated=3, seed=seed)
    w = torch.rand(ei.size(1), dtype=torch.float64) + 0.1
    op = graph_laplacian(ei, w, num_nodes=n, normalization=normalization)
    ref = dense_reference(ei, w, n, normalization)
    assert op.shape == (n, n)
    torch.testing.assert_close(op.to_dense(), ref)
    x = torch.randn(n, 5, dtype=torch.float64)
    torch.testing.assert_close(op @ x, ref @ x)
    torch.testing.assert_close(op.t() @ x, ref.t() @ x)


def test_self_loops_and_duplicates_add_up():
    ei = torch.tensor([[0, 0, 1, 1, 0], [0, 1, 0, 0, 1]])
    w = torch.tensor([2.0, 1.0, 1.0, 0.5, 3.0], dtype=torch.float64)
    torch.testing.assert_close(graph_laplacian(ei, w, num_nodes=3).to_dense(), dense_reference(ei, w, 3, None))


def test_properties_symmetric_psd_and_spectrum():
    n = 30
    ei = random_undirected_graph(n, 60, seed=3)
    w = torch.rand(ei.size(1) // 2, dtype=torch.float64)
    # symmetric weights: give both directions of a pair the same weight
    s = GraphStructure(ei, n)
    w_full = torch.zeros(ei.size(1), dtype=torch.float64)
    first = ei[0] < ei[1]
    w_full[first] = w[: int(first.sum())]
    w_full = torch.where(first, w_full, w_full[s.reverse_index()])
    L = graph_laplacian(ei, w_full, n).to_dense()
    torch.testing.assert_close(L, L.t())
    assert torch.linalg.eigvalsh(L).min() > -1e-10
    ev = torch.linalg.eigvalsh(graph_laplacian(ei, w_full, n, normalization="sym").to_dense())
    assert ev.min() > -1e-10 and ev.max() < 2 + 1e-10
    # constants are in the kernel of the combinatorial Laplacian
    assert (L @ torch.ones(n, dtype=torch.float64)).abs().max() < 1e-12


def test_permutation_equivariance():
    n = 15
    ei = random_undirected_graph(n, 25, seed=4)
    w = torch.rand(ei.size(1), dtype=torch.float64)
    perm = torch.randperm(n)
    inv = torch.argsort(perm)          # new index of old node i is inv[i]
    L = graph_laplacian(ei, w, n, normalization="sym").to_dense()
    Lp = graph_laplacian(inv[ei], w, n, normalization="sym").to_dense()
    torch.testing.assert_close(Lp, L[perm][:, perm])


@pytest.mark.parametrize("normalization", [None, "sym", "rw"])
def test_gradcheck_input_and_weights(normalization):
    n = 7
    ei = random_undirected_graph(n, 9, isolated=1, seed=5)
    w = (torch.rand(ei.size(1), dtype=torch.float64) + 0.2).requires_grad_()
    x = torch.randn(n, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w, x: graph_laplacian(ei, w, n, normalization=normalization) @ x, (w, x))


def test_float32_and_default_weights():
    ei = random_undirected_graph(10, 15, seed=6)
    op = graph_laplacian(ei, num_nodes=10)
    assert op.dtype == torch.float32
    y = op @ torch.randn(10, 4)
    assert y.shape == (10, 4) and y.dtype == torch.float32


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(edge_index=torch.tensor([[0.0, 1.0], [1.0, 0.0]])), TypeError, "integer dtype"),
    (dict(edge_index=torch.tensor([0, 1])), ValueError, r"shape \(2, E\)"),
    (dict(edge_index=torch.tensor([[0, 5], [5, 0]]), num_nodes=3), ValueError, "out of range"),
    (dict(edge_index=torch.tensor([[0, -1], [-1, 0]])), ValueError, "negative"),
    (dict(edge_index=torch.tensor([[0, 1], [1, 0]]), edge_weight=torch.tensor([1.0, -1.0])), ValueError, "non-negative"),
    (dict(edge_index=torch.tensor([[0, 1], [1, 0]]), edge_weight=torch.tensor([1.0, float("nan")])), ValueError, "NaN"),
    (dict(edge_index=torch.tensor([[0, 1], [1, 0]]), edge_weight=torch.tensor([1.0])), ValueError, "shape"),
    (dict(edge_index=torch.tensor([[0, 1], [1, 0]]), edge_weight=torch.tensor([1, 1])), TypeError, "floating"),
    (dict(edge_index=torch.tensor([[0, 1], [1, 0]]), normalization="bad"), ValueError, "normalization"),
])
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        graph_laplacian(**kwargs)


def test_mismatched_num_nodes_and_operand():
    s = GraphStructure(torch.tensor([[0, 1], [1, 0]]), 4)
    with pytest.raises(ValueError, match="does not match"):
        graph_laplacian(s, num_nodes=5)
    with pytest.raises(ValueError, match="cannot multiply"):
        graph_laplacian(s) @ torch.randn(3, 2)
    with pytest.raises(TypeError, match="float64"):
        graph_laplacian(s) @ torch.randn(4, 2, dtype=torch.float64)


def test_degree_overflow_is_named():
    ei = torch.tensor([[0, 0, 1, 2], [1, 2, 0, 0]])
    with pytest.raises(ValueError, match="weighted degrees overflow torch.float32"):
        graph_laplacian(ei, torch.full((4,), 3e38), normalization="sym")
    graph_laplacian(ei, torch.full((4,), 3e38, dtype=torch.float64), normalization="sym")
