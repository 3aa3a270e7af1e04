import numpy as np
import pytest
import torch

import sheafgraph.ops.sheaf as sheaf_module
from sheafgraph.ops import GraphStructure, sheaf_laplacian, streamed_sheaf_matmul, sym_matrix_power
from tests.conftest import random_undirected_graph


def reverse_of(edge_index):
    pairs = {(i, j): e for e, (i, j) in enumerate(edge_index.t().tolist())}
    return [pairs[(j, i)] for (i, j) in edge_index.t().tolist()]


def inv_sqrt_psd(m):
    lam, u = np.linalg.eigh(m)
    f = np.array([x ** -0.5 if x > 1e-10 else 0.0 for x in lam])
    return (u * f) @ u.T


def dense_sheaf_reference(edge_index, maps, n, normalization=None, augmented=True):
    """Blocks written out one by one from the definition, in float64 numpy."""
    maps = maps.detach().numpy()
    d = maps.shape[1]
    F = maps if maps.ndim == 3 else np.stack([np.diag(m) for m in maps])
    rev = reverse_of(edge_index)
    L = np.zeros((n, n, d, d))
    for e, (i, j) in enumerate(edge_index.t().tolist()):
        L[i, j] += -F[e].T @ F[rev[e]]
        L[i, i] += F[e].T @ F[e]
    if normalization == "sym":
        Dis = [inv_sqrt_psd(L[i, i] + (np.eye(d) if augmented else 0)) for i in range(n)]
        for i in range(n):
            for j in range(n):
                L[i, j] = Dis[i] @ L[i, j] @ Dis[j]
    return torch.from_numpy(L.transpose(0, 2, 1, 3).reshape(n * d, n * d))


def random_orthogonal(e, d, seed):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(e, d, d, generator=g, dtype=torch.float64))
    return q


def make_maps(kind, e, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    if kind == "diag":
        return torch.randn(e, d, generator=g, dtype=torch.float64)
    if kind == "orth":
        return random_orthogonal(e, d, seed)
    return torch.randn(e, d, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("kind", ["diag", "orth", "general"])
@pytest.mark.parametrize("d", [1, 2, 3, 4])
@pytest.mark.parametrize("normalization, augmented", [(None, True), ("sym", True), ("sym", False)])
def test_matches_dense_reference(kind, d, normalization, augmented):
    n = 12
    ei = random_undirected_graph(n, 20, isolated=2, seed=d)
    maps = make_maps(kind, ei.size(1), d, seed=d)
    op = sheaf_laplacian(ei, maps, num_nodes=n, normalization=normalization, augmented=augmented)
    ref = dense_sheaf_reference(ei, maps, n, normalization, augmented)
    assert op.shape == (n * d, n * d)
    torch.testing.assert_close(op.to_dense(), ref)
    x = torch.randn(n * d, 3, dtype=torch.float64)
    torch.testing.assert_close(op @ x, ref @ x)
    torch.testing.assert_close(op @ x.view(n, d, 3), (ref @ x).view(n, d, 3))


@pytest.mark.parametrize("kind", ["diag", "orth", "general"])
@pytest.mark.parametrize("normalization, augmented", [(None, True), ("sym", True), ("sym", False)])
@pytest.mark.parametrize("chunk", [1, 7, 1000])
@pytest.mark.parametrize("shuffled", [False, True])
def test_streamed_matmul_matches_dense_reference(kind, normalization, augmented, chunk, shuffled):
    n, d = 12, 3
    ei = random_undirected_graph(n, 20, isolated=2, seed=21)
    if shuffled:                                                      # edges out of row order: each chunk sorts
        ei = ei[:, torch.randperm(ei.size(1), generator=torch.Generator().manual_seed(5))]
    assert GraphStructure(ei, n).rows_sorted() != shuffled
    maps = make_maps(kind, ei.size(1), d, seed=21) * (torch.rand(ei.size(1), dtype=torch.float64) + 0.5).view(
        -1, *[1] * (2 if kind != "diag" else 1))                                     # orth: scaled orthogonal
    rev = torch.tensor(reverse_of(ei))
    calls = []

    def maps_of(start, stop, reverse):
        calls.append(stop - start)
        return maps[rev[start:stop]] if reverse else maps[start:stop]

    x = torch.randn(n, d, 4, dtype=torch.float64)
    out = streamed_sheaf_matmul(GraphStructure(ei, n), maps_of, x, chunk, normalization, augmented,
                                orthogonal=kind == "orth")
    ref = dense_sheaf_reference(ei, maps, n, normalization, augmented)
    torch.testing.assert_close(out, (ref @ x.reshape(n * d, 4)).view(n, d, 4))
    assert max(calls) == min(chunk, ei.size(1)) and sum(calls) == 3 * ei.size(1)     # F, then F and F_rev: never all
    empty = streamed_sheaf_matmul(GraphStructure(torch.zeros(2, 0, dtype=torch.long), n), maps_of, x, chunk)
    assert torch.equal(empty, torch.zeros_like(x))
    with pytest.raises(ValueError, match="chunk must be a positive int"):
        streamed_sheaf_matmul(GraphStructure(ei, n), maps_of, x, 0)


@pytest.mark.parametrize("kind", ["diag", "orth", "general"])
def test_symmetric_psd_and_normalised_spectrum(kind):
    n, d = 25, 3
    ei = random_undirected_graph(n, 50, seed=7)
    maps = make_maps(kind, ei.size(1), d, seed=7)
    L = sheaf_laplacian(ei, maps, n).to_dense()
    torch.testing.assert_close(L, L.t())
    assert torch.linalg.eigvalsh(L).min() > -1e-9
    for augmented in (True, False):
        ev = torch.linalg.eigvalsh(sheaf_laplacian(ei, maps, n, normalization="sym", augmented=augmented).to_dense())
        assert ev.min() > -1e-9 and ev.max() < 2 + 1e-9


def test_identity_maps_have_constant_sections_in_kernel():
    n, d = 20, 3
    ei = random_undirected_graph(n, 40, isolated=0, seed=8)
    eye = torch.eye(d, dtype=torch.float64).expand(ei.size(1), d, d).contiguous()
    L = sheaf_laplacian(ei, eye, n)
    section = torch.randn(d, dtype=torch.float64).repeat(n).unsqueeze(1)     # x_i = c for every node
    assert (L @ section).abs().max() < 1e-12
    # and identity maps give the graph Laplacian ⊗ I_d
    from sheafgraph.ops import graph_laplacian
    Lg = graph_laplacian(ei, num_nodes=n, dtype=torch.float64).to_dense()
    torch.testing.assert_close(L.to_dense(), torch.kron(Lg, torch.eye(d, dtype=torch.float64)))


@pytest.mark.parametrize("kind", ["diag", "general"])
def test_permutation_equivariance(kind):
    n, d = 14, 2
    ei = random_undirected_graph(n, 25, seed=9)
    maps = make_maps(kind, ei.size(1), d, seed=9)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    inv = torch.argsort(perm)
    L = sheaf_laplacian(ei, maps, n, normalization="sym").to_dense().view(n, d, n, d)
    Lp = sheaf_laplacian(inv[ei], maps, n, normalization="sym").to_dense().view(n, d, n, d)
    torch.testing.assert_close(Lp, L[perm][:, :, perm])


@pytest.mark.parametrize("kind", ["diag", "orth", "general"])
@pytest.mark.parametrize("normalization", [None, "sym"])
def test_gradcheck_maps_and_input(kind, normalization):
    n, d = 6, 2
    ei = random_undirected_graph(n, 8, isolated=1, seed=10)
    maps = make_maps(kind, ei.size(1), d, seed=10).requires_grad_()
    x = torch.randn(n * d, 2, dtype=torch.float64, requires_grad=True)
    s = GraphStructure(ei, n)
    assert torch.autograd.gradcheck(lambda m, x: sheaf_laplacian(s, m, normalization=normalization) @ x, (maps, x))


def test_sym_matrix_power_gradients_finite_at_repeated_eigenvalues():
    # orthogonal maps give D = deg·I: every eigenvalue repeated; eigh's own backward would divide by zero
    # the function is defined on symmetric matrices: check it along symmetric perturbations
    def f(m):
        return sym_matrix_power(0.5 * (m + m.transpose(-1, -2)), -0.5)

    m = (3.0 * torch.eye(3, dtype=torch.float64)).expand(4, 3, 3).clone().requires_grad_()
    assert torch.autograd.gradcheck(f, (m,))
    a = torch.randn(5, 3, 3, dtype=torch.float64)
    spd = (a @ a.transpose(1, 2) + 0.5 * torch.eye(3, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(f, (spd,))
    out = sym_matrix_power(spd, -0.5)
    torch.testing.assert_close(out @ out @ spd, torch.eye(3, dtype=torch.float64).expand(5, 3, 3))


def test_sym_matrix_power_in_chunks_equals_one_batch():
    # batched cuSOLVER fails above ~32k blocks: the chunked path must give the same values and gradients
    a = torch.randn(23, 3, 3, dtype=torch.float64)
    spd = (a @ a.transpose(1, 2) + 0.1 * torch.eye(3, dtype=torch.float64)).requires_grad_()
    weight = torch.randn(23, 3, 3, dtype=torch.float64)
    outs, grads = [], []
    for chunk in (None, 5, 1):
        out = sym_matrix_power(spd, -0.5, chunk=chunk)
        (grad,) = torch.autograd.grad((out * weight).sum(), spd)
        outs.append(out)
        grads.append(grad)
    for out, grad in zip(outs[1:], grads[1:]):
        torch.testing.assert_close(out, outs[0])
        torch.testing.assert_close(grad, grads[0])
    assert torch.autograd.gradcheck(lambda m: sym_matrix_power(0.5 * (m + m.transpose(-1, -2)), -0.5, chunk=4),
                                    (spd[:9].detach().clone().requires_grad_(),))
    with pytest.raises(ValueError, match="chunk"):
        sym_matrix_power(spd, -0.5, chunk=0)


def test_sym_normalisation_with_more_blocks_than_the_eigh_chunk(monkeypatch):
    n, d = 40, 3
    ei = random_undirected_graph(n, 70, isolated=2, seed=15)
    maps = make_maps("general", ei.size(1), d, 15).requires_grad_()
    x = torch.randn(n * d, 2, dtype=torch.float64)
    whole = sheaf_laplacian(ei, maps, n, normalization="sym")
    (g_whole,) = torch.autograd.grad((whole @ x).square().sum(), maps)
    monkeypatch.setattr(sheaf_module, "EIGH_CHUNK", 7)                   # 40 diagonal blocks -> 6 eigh calls
    chunked = sheaf_laplacian(ei, maps, n, normalization="sym")
    (g_chunked,) = torch.autograd.grad((chunked @ x).square().sum(), maps)
    torch.testing.assert_close(chunked.to_dense(), dense_sheaf_reference(ei, maps, n, "sym", True))
    torch.testing.assert_close(g_chunked, g_whole)


def test_sym_matrix_power_half_precision_is_solved_in_float32():
    a = torch.randn(6, 2, 2)
    spd = a @ a.transpose(1, 2) + torch.eye(2)
    for dtype in (torch.float16, torch.bfloat16):
        out = sym_matrix_power(spd.to(dtype), -0.5)
        assert out.dtype == dtype
        torch.testing.assert_close(out.float(), sym_matrix_power(spd, -0.5), atol=2e-2, rtol=2e-2)


def test_structure_is_reused_and_values_change():
    n, d = 10, 2
    ei = random_undirected_graph(n, 15, seed=11)
    s = GraphStructure(ei, n)
    a = sheaf_laplacian(s, make_maps("diag", ei.size(1), d, 1))
    b = sheaf_laplacian(s, make_maps("diag", ei.size(1), d, 2))
    assert a.pattern is b.pattern
    assert not torch.allclose(a.to_dense(), b.to_dense())


def test_float32():
    ei = random_undirected_graph(10, 15, seed=12)
    op = sheaf_laplacian(ei, torch.randn(ei.size(1), 3, 3), 10, normalization="sym")
    assert (op @ torch.randn(30, 4)).dtype == torch.float32


def test_bad_input():
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    with pytest.raises(ValueError, match="lack their reverse"):
        sheaf_laplacian(torch.tensor([[0, 1, 1], [1, 0, 2]]), torch.randn(3, 2))
    with pytest.raises(ValueError, match="self-loops"):
        sheaf_laplacian(torch.tensor([[0, 1, 0], [1, 0, 0]]), torch.randn(3, 2))
    with pytest.raises(ValueError, match="duplicate"):
        sheaf_laplacian(torch.tensor([[0, 1, 0], [1, 0, 1]]), torch.randn(3, 2))
    with pytest.raises(ValueError, match=r"shape \(4, 2, 2\)"):
        sheaf_laplacian(ei, torch.randn(4, 2, 3))
    with pytest.raises(ValueError, match=r"\(\|E\|, d\)"):
        sheaf_laplacian(ei, torch.randn(4))
    with pytest.raises(ValueError, match=r"shape \(4, 2\)"):
        sheaf_laplacian(ei, torch.randn(5, 2))
    with pytest.raises(TypeError, match="floating"):
        sheaf_laplacian(ei, torch.ones(4, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN"):
        sheaf_laplacian(ei, torch.full((4, 2), float("inf")))
    with pytest.raises(ValueError, match="out of range"):
        sheaf_laplacian(ei, torch.randn(4, 2), num_nodes=2)
    with pytest.raises(ValueError, match="normalization"):
        sheaf_laplacian(ei, torch.randn(4, 2), normalization="rw")


@pytest.mark.parametrize("normalization, augmented", [(None, True), ("sym", True), ("sym", False)])
def test_orthogonal_fast_path_equals_general_path(normalization, augmented):
    n, d = 12, 3
    ei = random_undirected_graph(n, 20, isolated=2, seed=13)
    scale = torch.rand(ei.size(1), 1, 1, dtype=torch.float64) + 0.5              # folded-in edge weights
    maps = (random_orthogonal(ei.size(1), d, 13) * scale).requires_grad_()
    fast = sheaf_laplacian(ei, maps, n, normalization=normalization, augmented=augmented, orthogonal=True)
    ref = dense_sheaf_reference(ei, maps, n, normalization, augmented)
    torch.testing.assert_close(fast.to_dense(), ref)
    small = random_undirected_graph(5, 6, isolated=1, seed=14)
    maps = random_orthogonal(small.size(1), 2, 14).requires_grad_()
    x = torch.randn(10, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda m, x: sheaf_laplacian(small, m, 5, normalization=normalization, orthogonal=True) @ x, (maps, x))


def test_orthogonal_promise_is_checked():
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    q = random_orthogonal(4, 3, 5) * torch.tensor([1.0, 2.0, 0.5, 0.0], dtype=torch.float64)[:, None, None]
    sheaf_laplacian(ei, q, orthogonal=True)                               # scaled (and zero) maps are fine
    bad = q.clone()
    bad[2, 0, 1] += 0.1
    with pytest.raises(ValueError, match=r"orthogonal=True but maps\[2\] is not a scaled orthogonal matrix"):
        sheaf_laplacian(ei, bad, orthogonal=True)
    sheaf_laplacian(ei, bad, orthogonal=True, validate=False)            # trusted callers skip the check


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_runs_in_float32_and_returns_its_dtype(dtype):
    ei = random_undirected_graph(8, 12, seed=16)
    maps = make_maps("general", ei.size(1), 2, 16).float()
    x = torch.randn(16, 3)
    ref = sheaf_laplacian(ei, maps, 8, normalization="sym") @ x
    low_maps = maps.to(dtype).requires_grad_()
    y = sheaf_laplacian(ei, low_maps, 8, normalization="sym") @ x.to(dtype)
    y.float().sum().backward()
    assert y.dtype == dtype and low_maps.grad.dtype == dtype and torch.isfinite(low_maps.grad.float()).all()
    torch.testing.assert_close(y.float(), ref, atol=0.1, rtol=0.05)
