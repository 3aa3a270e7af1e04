r"""Differentiable parameterisations of orthogonal d×d matrices, batched (Bodnar et al., NeurIPS 2022, Sec. 5).

Every parameterisation maps ``p`` of shape ``(..., d(d-1)/2)`` (one set per directed edge, the output of a sheaf
learner) to matrices ``Q`` of shape ``(..., d, d)`` with :math:`Q^\top Q = I`:

* ``"householder"``: :math:`Q = H_1 \cdots H_{d-1}`, :math:`H_k = I - 2 v_k v_k^\top / \lVert v_k\rVert^2` with
  :math:`v_k = e_k + \sum_{i>k} p_{ik} e_i` (the strictly lower triangle of a matrix holds p). Determinant
  :math:`(-1)^{d-1}` for every edge, so every transport map :math:`Q_i^\top Q_j` lies in SO(d).
* ``"cayley"``: :math:`Q = (I + A)^{-1}(I - A)` with A skew-symmetric (lower triangle p), in SO(d).
* ``"matrix_exp"``: :math:`Q = \exp(A)`, A skew-symmetric as above, in SO(d).
* ``"euler"`` (d = 2 or 3 only): rotation by the angles :math:`\pi p` (d = 2: one angle; d = 3:
  :math:`R_z(\alpha) R_y(\beta) R_x(\gamma)`), in SO(d).

All are pure tensor functions, vectorised over the batch (loops only over the d - 1 reflections).
"""
from __future__ import annotations

import math
from typing import Callable, Dict

import torch
from torch import Tensor


def num_orthogonal_params(d: int) -> int:
    """Number of free parameters, ``d (d - 1) / 2``, of every parameterisation for d×d matrices."""
    return d * (d - 1) // 2


def _lower(params: Tensor, d: int) -> Tensor:
    """Scatter ``(..., d(d-1)/2)`` into the strictly lower triangle of a ``(..., d, d)`` zero matrix."""
    rows, cols = torch.tril_indices(d, d, offset=-1, device=params.device)
    out = params.new_zeros(params.shape[:-1] + (d, d))
    out[..., rows, cols] = params
    return out


def skew_symmetric(params: Tensor, d: int) -> Tensor:
    """``A = T - Tᵀ`` with T the strictly lower triangle filled by ``params``.

    Shapes:
        params: ``(..., d(d-1)/2)``; returns ``(..., d, d)``.
    """
    t = _lower(params, d)
    return t - t.transpose(-1, -2)


def householder(params: Tensor, d: int) -> Tensor:
    r"""Product of d - 1 Householder reflections whose vectors are ``e_k`` plus the k-th lower column of ``params``.

    Written entry by entry on ``(|E|,)`` vectors (loops over the d² entries, never over edges): one contiguous
    elementwise product per term instead of a batched matmul of tiny matrices. :math:`H_1` starts the product and,
    as v_k vanishes above entry k, :math:`Q \leftarrow Q H_k = Q - \tau_k (Q v_k) v_k^\top` changes columns k.. only.

    Shapes:
        params: ``(..., d(d-1)/2)``; returns ``(..., d, d)``.
    """
    batch = params.shape[:-1]
    p = params.reshape(math.prod(batch), params.size(-1)).t().contiguous().unbind(0)  # d(d-1)/2 vectors (B,)
    pairs = [(i, k) for i in range(1, d) for k in range(i)]                          # tril_indices' row-major order
    lower = {pair: p[n] for n, pair in enumerate(pairs)}
    q = [[params.new_ones(math.prod(batch))] * d for _ in range(d)]                  # the identity when d = 1
    for k in range(d - 1):
        v = {i: lower[(i, k)] for i in range(k + 1, d)}                                # v_k below its unit entry
        tau = 2.0 / (1.0 + sum(t * t for t in v.values()))
        if k == 0:                                                                     # Q = H_1, symmetric
            q[0][0] = 1.0 - tau
            for i in range(1, d):
                q[0][i] = q[i][0] = -tau * v[i]
                for j in range(i, d):
                    q[i][j] = q[j][i] = (1.0 if i == j else 0.0) - tau * v[i] * v[j]
        else:
            for i in range(d):
                w = tau * (q[i][k] + sum(q[i][j] * v[j] for j in range(k + 1, d)))    # τ (Q v_k)_i
                q[i][k] = q[i][k] - w
                for j in range(k + 1, d):
                    q[i][j] = q[i][j] - w * v[j]
    return torch.stack([torch.stack(r, -1) for r in q], -2).reshape(batch + (d, d))


def cayley(params: Tensor, d: int) -> Tensor:
    """Cayley transform ``(I + A)^{-1} (I - A)`` of the skew-symmetric A built from ``params`` (I + A is always
    invertible: A has imaginary eigenvalues).

    Shapes:
        params: ``(..., d(d-1)/2)``; returns ``(..., d, d)``.
    """
    a = skew_symmetric(params, d)
    eye = torch.eye(d, dtype=params.dtype, device=params.device)
    return torch.linalg.solve(eye + a, eye - a)


def matrix_exp(params: Tensor, d: int) -> Tensor:
    """Matrix exponential of the skew-symmetric A built from ``params``.

    Shapes:
        params: ``(..., d(d-1)/2)``; returns ``(..., d, d)``.
    """
    return torch.linalg.matrix_exp(skew_symmetric(params, d))


def _rotation_2d(angle: Tensor) -> Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def euler(params: Tensor, d: int) -> Tensor:
    r"""Rotation by Euler angles :math:`\pi p`: d = 2, one angle; d = 3, :math:`R_z(\alpha) R_y(\beta) R_x(\gamma)`.

    Raises:
        ValueError: d is not 2 or 3.

    Shapes:
        params: ``(..., 1)`` (d = 2) or ``(..., 3)`` (d = 3); returns ``(..., d, d)``.
    """
    if d not in (2, 3):
        raise ValueError(f"Euler angles parameterise rotations for d = 2 or 3 only, got d = {d}; "
                         "use 'householder', 'cayley' or 'matrix_exp'")
    angles = math.pi * params
    if d == 2:
        return _rotation_2d(angles[..., 0])
    (ca, cb, cg), (sa, sb, sg) = torch.cos(angles).unbind(-1), torch.sin(angles).unbind(-1)
    rows = [[ca * cb, ca * sb * sg - sa * cg, ca * sb * cg + sa * sg],          # R_z(α) R_y(β) R_x(γ), written out
            [sa * cb, sa * sb * sg + ca * cg, sa * sb * cg - ca * sg],
            [-sb, cb * sg, cb * cg]]
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


ORTHOGONAL_MAPS: Dict[str, Callable[[Tensor, int], Tensor]] = {
    "householder": householder,
    "cayley": cayley,
    "matrix_exp": matrix_exp,
    "euler": euler,
}


def orthogonal_map(name: str) -> Callable[[Tensor, int], Tensor]:
    """The parameterisation ``f(params, d) -> Q`` registered under ``name``.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    if name not in ORTHOGONAL_MAPS:
        raise ValueError(f"unknown orthogonal parameterisation {name!r}; valid names: {', '.join(ORTHOGONAL_MAPS)}")
    return ORTHOGONAL_MAPS[name]
