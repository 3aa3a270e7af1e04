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
    """Product of d - 1 Householder reflections whose vectors are ``e_k`` plus the k-th lower column of ``params``.

    Computed with the batch as the last (contiguous) axis, so each step is a few elementwise products over all
    edges instead of a batched matmul of tiny matrices; v_k vanishes above entry k, so :math:`Q H_k` only changes
    columns k.. of Q, and :math:`H_1` itself starts the product.

    Shapes:
        params: ``(..., d(d-1)/2)``; returns ``(..., d, d)``.
    """
    batch = params.shape[:-1]
    p = params.reshape(-1, params.size(-1)).t()                                     # (P, B)
    rows, cols = torch.tril_indices(d, d, offset=-1, device=params.device)
    lower = p.new_zeros(d, d, p.size(1)).index_put((rows, cols), p)                 # (d, d, B)
    eye = torch.eye(d, dtype=params.dtype, device=params.device).unsqueeze(-1)
    q = eye.expand(d, d, p.size(1))
    for k in range(d - 1):
        v = torch.cat([torch.ones_like(p[:1]), lower[k + 1:, k]])                   # non-zero tail of v_k, (d-k, B)
        tau = 2.0 / v.square().sum(0)                                               # |v_k|² >= 1
        if k == 0:
            q = eye - tau * v.unsqueeze(1) * v.unsqueeze(0)                         # H_1
        else:
            tail = q[:, k:]                                                         # columns k.. of Q, (d, d-k, B)
            qv = (tail * v.unsqueeze(0)).sum(1)                                     # Q v_k, (d, B)
            q = torch.cat([q[:, :k], tail - (tau * qv).unsqueeze(1) * v.unsqueeze(0)], dim=1)   # Q - τ (Q v) vᵀ
    return q.permute(2, 0, 1).reshape(batch + (d, d))


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
