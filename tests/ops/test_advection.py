import math

import pytest
import torch

from sheafgraph.ops import advection_operator, lonlat_to_km
from tests.conftest import random_undirected_graph


def dense_reference(edge_index, velocity, pos, n):
    A = torch.zeros(n, n, dtype=torch.float64)
    for i, j in edge_index.t().tolist():
        delta = pos[j] - pos[i]
        length = float(delta.norm())
        w = max(0.0, float(velocity[i] @ delta) / length) / length
        A[i, i] += w
        A[j, i] -= w
    return A


def random_case(n=15, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = random_undirected_graph(n, 30, isolated=2, seed=seed)
    return ei, torch.randn(n, 2, generator=g, dtype=torch.float64), torch.randn(n, 2, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_dense_reference(seed):
    ei, v, pos = random_case(seed=seed)
    op = advection_operator(ei, v, pos)
    ref = dense_reference(ei, v, pos, 15)
    torch.testing.assert_close(op.to_dense(), ref)
    x = torch.randn(15, 3, dtype=torch.float64)
    torch.testing.assert_close(op @ x, ref @ x)
    torch.testing.assert_close(op.t() @ x, ref.t() @ x)


def test_conserves_mass_and_positivity_under_small_explicit_steps():
    ei, v, pos = random_case(n=30, seed=3)
    A = advection_operator(ei, v, pos)
    torch.testing.assert_close(A.to_dense().sum(0), torch.zeros(30, dtype=torch.float64))
    c = torch.rand(30, 1, dtype=torch.float64)
    dt = 0.9 / float(A.to_dense().diagonal().max())
    total = c.sum()
    for _ in range(200):
        c = c - dt * (A @ c)
        assert float(c.min()) >= 0.0
    torch.testing.assert_close(c.sum(), total)


def test_tracer_moves_downwind():
    # a line of 5 nodes along x, 10 km apart; wind blowing east (+x)
    n = 5
    pos = torch.stack([torch.arange(n, dtype=torch.float64) * 10, torch.zeros(n, dtype=torch.float64)], 1)
    ei = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4], [1, 0, 2, 1, 3, 2, 4, 3]])
    v = torch.tensor([[5.0, 0.0]], dtype=torch.float64).expand(n, 2)
    A = advection_operator(ei, v, pos)
    c = torch.zeros(n, 1, dtype=torch.float64)
    c[1] = 1.0
    for _ in range(20):
        c = c - 0.1 * (A @ c)
    centre = float((torch.arange(n, dtype=torch.float64) * c[:, 0]).sum() / c.sum())
    assert centre > 1.5 and float(c[0]) == 0.0          # moved east, nothing went upwind


def test_permutation_equivariance():
    ei, v, pos = random_case(seed=4)
    perm = torch.randperm(15, generator=torch.Generator().manual_seed(1))
    inv = torch.argsort(perm)
    A = advection_operator(ei, v, pos).to_dense()
    Ap = advection_operator(inv[ei], v[perm], pos[perm]).to_dense()
    torch.testing.assert_close(Ap, A[perm][:, perm])


def test_gradcheck_velocity_pos_and_input():
    ei, v, pos = random_case(n=6, seed=5)
    v.requires_grad_()
    pos.requires_grad_()
    x = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v, p, x: advection_operator(ei, v, p) @ x, (v, pos, x))


def test_lonlat_to_km_distances():
    # Beijing: 0.1 degree of latitude is 11.12 km; 0.1 degree of longitude at 40N is 8.52 km
    xy = lonlat_to_km(torch.tensor([116.4, 116.4, 116.5], dtype=torch.float64),
                    torch.tensor([39.9, 40.0, 39.9], dtype=torch.float64), origin=(116.4, 39.9))
    assert abs(float(xy[1, 1]) - 11.119) < 0.01 and abs(float(xy[1, 0])) < 1e-9
    assert abs(float(xy[2, 0]) - 11.119 * math.cos(math.radians(39.9))) < 0.01


def test_bad_input():
    ei = torch.tensor([[0, 1], [1, 0]])
    pos = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match=r"velocity must have shape \(2, 2\)"):
        advection_operator(ei, torch.zeros(2, 3), pos)
    with pytest.raises(ValueError, match="zero length"):
        advection_operator(ei, torch.zeros(2, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="NaN"):
        advection_operator(ei, torch.tensor([[float("nan"), 0.0], [0.0, 0.0]]), pos)
    with pytest.raises(TypeError, match="same dtype"):
        advection_operator(ei, torch.zeros(2, 2), pos.double())
    with pytest.raises(ValueError, match="out of range"):
        advection_operator(torch.tensor([[0, 2], [2, 0]]), torch.zeros(2, 2), pos)
    with pytest.raises(ValueError, match="lat must be"):
        lonlat_to_km(torch.tensor([0.0]), torch.tensor([95.0]))
    with pytest.raises(ValueError, match="equal length"):
        lonlat_to_km(torch.tensor([0.0, 1.0]), torch.tensor([5.0]))
