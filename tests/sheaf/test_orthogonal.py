import math

import pytest
import torch

from sheafgraph.sheaf.orthogonal import (ORTHOGONAL_MAPS, cayley, euler, householder, matrix_exp,
                                         num_orthogonal_params, orthogonal_map, skew_symmetric)

CASES = [(name, d) for name in ORTHOGONAL_MAPS for d in (2, 3, 4, 5) if not (name == "euler" and d > 3)]


def params(n, d, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return scale * (torch.rand(n, num_orthogonal_params(d), generator=g, dtype=torch.float64) * 2 - 1)


@pytest.mark.parametrize("name, d", CASES)
def test_orthogonal_for_every_parameterisation(name, d):
    q = orthogonal_map(name)(params(50, d), d)
    assert q.shape == (50, d, d)
    eye = torch.eye(d, dtype=torch.float64)
    torch.testing.assert_close(q.transpose(-1, -2) @ q, eye.expand(50, d, d))
    torch.testing.assert_close(q @ q.transpose(-1, -2), eye.expand(50, d, d))
    det = torch.linalg.det(q)
    # Householder: product of d - 1 reflections; the others are rotations.
    expected = (-1.0) ** (d - 1) if name == "householder" else 1.0
    torch.testing.assert_close(det, torch.full_like(det, expected))


@pytest.mark.parametrize("name, d", CASES)
def test_gradcheck(name, d):
    p = params(3, d, seed=d).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: orthogonal_map(name)(t, d), (p,))


def test_batch_shapes_and_float32():
    p = torch.rand(4, 5, 3)
    for name in ORTHOGONAL_MAPS:
        q = orthogonal_map(name)(p, 3)
        assert q.shape == (4, 5, 3, 3) and q.dtype == torch.float32


def test_closed_forms_in_two_dimensions():
    a = torch.tensor([[0.3]], dtype=torch.float64)
    c, s = math.cos(math.pi * 0.3), math.sin(math.pi * 0.3)
    torch.testing.assert_close(euler(a, 2)[0], torch.tensor([[c, -s], [s, c]], dtype=torch.float64))
    # skew A = [[0, -a], [a, 0]]: exp(A) is the rotation by a; Cayley: (I + A)^{-1}(I - A).
    torch.testing.assert_close(skew_symmetric(a, 2)[0], torch.tensor([[0.0, -0.3], [0.3, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(matrix_exp(a, 2)[0], torch.tensor([[math.cos(0.3), -math.sin(0.3)],
                                                                 [math.sin(0.3), math.cos(0.3)]], dtype=torch.float64))
    k = 1 / (1 + 0.09)
    torch.testing.assert_close(cayley(a, 2)[0], k * torch.tensor([[1 - 0.09, 0.6], [-0.6, 1 - 0.09]],
                                                                  dtype=torch.float64))
    # one reflection with v = (1, a): I - 2 v vᵀ / |v|²
    v = torch.tensor([1.0, 0.3], dtype=torch.float64)
    torch.testing.assert_close(householder(a, 2)[0], torch.eye(2, dtype=torch.float64) - 2 * torch.outer(v, v) / (v @ v))


def test_euler_three_dimensions_matches_product_of_axis_rotations():
    p = torch.tensor([[0.1, -0.2, 0.35]], dtype=torch.float64)
    al, be, ga = (math.pi * p[0]).tolist()
    rz = torch.tensor([[math.cos(al), -math.sin(al), 0], [math.sin(al), math.cos(al), 0], [0, 0, 1]])
    ry = torch.tensor([[math.cos(be), 0, math.sin(be)], [0, 1, 0], [-math.sin(be), 0, math.cos(be)]])
    rx = torch.tensor([[1, 0, 0], [0, math.cos(ga), -math.sin(ga)], [0, math.sin(ga), math.cos(ga)]])
    torch.testing.assert_close(euler(p, 3)[0], (rz @ ry @ rx).double())


def test_bad_names_and_dimensions():
    with pytest.raises(ValueError, match="householder, cayley, matrix_exp, euler"):
        orthogonal_map("givens")
    with pytest.raises(ValueError, match="d = 2 or 3"):
        euler(torch.zeros(2, 6), 4)
