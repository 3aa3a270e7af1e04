"""Batched dense operators for small, fully connected, weighted graphs (noisy molecule graphs in GDSS).

A batch is an adjacency ``adj (B, N, N)`` and a node mask ``mask (B, N)`` (1 for real nodes, 0 for padding).
Every function keeps padding exactly zero, so graphs of different sizes share one tensor.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from sheafgraph.ops.laplacian import safe_pow
from sheafgraph.utils.checks import positive_int


def check_dense_batch(adj: Tensor, mask: Optional[Tensor] = None, *, finite: bool = True) -> None:
    """Validate ``adj (B, N, N)`` (floating, finite) and ``mask (B, N)``; ``finite=False`` checks only types and
    shapes (no host synchronisation, for code called at every step of a sampler)."""
    if not isinstance(adj, Tensor) or not adj.is_floating_point():
        raise TypeError(f"adj must be a floating torch.Tensor, got {getattr(adj, 'dtype', type(adj).__name__)}")
    if adj.dim() != 3 or adj.size(1) != adj.size(2):
        raise ValueError(f"adj must have shape (B, N, N), got {tuple(adj.shape)}")
    if finite and not bool(torch.isfinite(adj).all()):
        raise ValueError("adj contains NaN or infinite values")
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.shape != adj.shape[:2]:
            shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
            raise ValueError(f"mask must have shape {tuple(adj.shape[:2])} (B, N) to match adj, got {shape}")


def mask_nodes(x: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Zero the rows of padding nodes: ``x * mask[..., None]``.

    Shapes:
        x: ``(B, N, F)``; mask: ``(B, N)``.
    """
    return x if mask is None else x * mask.unsqueeze(-1).to(x.dtype)


def mask_adjacency(adj: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Zero rows and columns of padding nodes: ``A_ij m_i m_j``.

    Shapes:
        adj: ``(B, N, N)`` or ``(B, C, N, N)``; mask: ``(B, N)``.
    """
    if mask is None:
        return adj
    m = mask.to(adj.dtype)
    outer = m.unsqueeze(-1) * m.unsqueeze(-2)
    return adj * (outer if adj.dim() == 3 else outer.unsqueeze(1))


def normalized_adjacency(adj: Tensor, mask: Optional[Tensor] = None, add_self_loops: bool = True,
                         min_degree: float = 0.0, *, validate: bool = True) -> Tensor:
    r"""GCN normalisation :math:`\hat A = D^{-1/2}(A + I) D^{-1/2}` with :math:`D_{ii} = \max(\sum_j (A + I)_{ij},
    d_{min})`.

    Self-loops are added on real nodes only. With ``min_degree`` :math:`d_{min} = 0`, nodes of degree :math:`\le 0`
    get zero rows (pseudo-inverse convention). A *noisy* weighted adjacency (GDSS) has degrees near or below zero,
    where :math:`D^{-1/2}` blows up or drops the node's own features; ``min_degree=1`` (PyG's ``DenseGCNConv``, as
    GDSS uses it) leaves such rows unnormalised instead, and changes nothing for non-negative weights with self-loops.
    ``validate=False`` skips :func:`check_dense_batch` (and its host synchronisation) inside score networks.

    Shapes:
        adj: ``(B, N, N)``; mask: ``(B, N)``; returns ``(B, N, N)``.
    """
    if validate:
        check_dense_batch(adj, mask)
    if not min_degree >= 0:
        raise ValueError(f"min_degree must be >= 0, got {min_degree}")
    a = mask_adjacency(adj, mask)
    if add_self_loops:
        eye = torch.eye(adj.size(-1), dtype=adj.dtype, device=adj.device).expand_as(a)
        a = a + mask_adjacency(eye, mask)
    deg = a.sum(-1)
    dis = deg.clamp_min(min_degree).pow(-0.5) if min_degree > 0 else safe_pow(deg, -0.5)
    return dis.unsqueeze(-1) * a * dis.unsqueeze(-2)


def adjacency_powers(adj: Tensor, k: int, *, validate: bool = True) -> Tensor:
    """The stack ``[A, A², ..., A^k]`` (GDSS's multi-hop channels for its adjacency score network);
    ``validate=False`` skips :func:`check_dense_batch` (as in :func:`normalized_adjacency`).

    Shapes:
        adj: ``(B, N, N)``; returns ``(B, k, N, N)``.
    """
    if validate:
        check_dense_batch(adj)
    positive_int(k, "k")
    powers = [adj]
    for _ in range(k - 1):
        powers.append(powers[-1] @ adj)
    return torch.stack(powers, dim=1)
