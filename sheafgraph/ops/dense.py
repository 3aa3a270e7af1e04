"""Batched dense operators for small, fully connected, weighted graphs (noisy molecule graphs in GDSS).

A batch is an adjacency ``adj (B, N, N)`` and a node mask ``mask (B, N)`` (1 for real nodes, 0 for padding).
Every function keeps padding exactly zero, so graphs of different sizes share one tensor.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

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


def size_buckets(mask: Tensor, ratio: float = 0.75, min_gain: float = 1.25,
                 overhead: int = 4096) -> Optional[List[Tuple[Tensor, int]]]:
    r"""Groups of graphs of similar size, each to be cropped to its own padded size ``n_g``.

    A graph's extent :math:`e_b` is one past its last real node (its node count when the mask is a prefix). Graphs
    are taken largest first; a group holds graphs with :math:`e_b \ge` ``ratio`` :math:`\cdot n_g`, where
    :math:`n_g` is its largest extent, so padding wastes at most :math:`1 / \text{ratio}^2` of the pairwise work.
    Returns ``[(rows, n_g), ...]`` (rows in descending extent), or None when the work :math:`\sum_g (|g|\, n_g^2 + c)`
    (in node pairs, ``overhead`` c for each extra pass) would not be at least ``min_gain`` times smaller than
    :math:`B N^2`: then one pass over the padded batch is as fast, and keeps its exact arithmetic. Reads the mask on
    the host.

    Shapes:
        mask: ``(B, N)``; rows: ``(|g|,)`` long, on the mask's device.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    if not isinstance(mask, Tensor) or mask.dim() != 2:
        raise ValueError(f"mask must be a (B, N) tensor, got {getattr(mask, 'shape', type(mask).__name__)}")
    b, n = mask.shape
    if b == 0 or n == 0:
        return None
    extent = ((mask != 0) * torch.arange(1, n + 1, device=mask.device)).amax(-1)
    order = torch.argsort(extent, descending=True, stable=True)
    sizes = [max(size, 1) for size in extent[order].tolist()]
    groups, start = [], 0
    for i in range(1, b + 1):
        if i == b or sizes[i] < ratio * sizes[start]:
            groups.append((start, i))
            start = i
    if sum((end - first) * sizes[first] ** 2 + overhead for first, end in groups) * min_gain > b * n * n:
        return None
    return [(order[first:end], sizes[first]) for first, end in groups]
