"""Dense graph batches for score-based generation, masked Gaussian noise, and per-graph broadcasting.

A batch of graphs is :class:`Graphs` ``(x, adj, mask)``: node features ``x (B, N, F)``, a weighted adjacency
``adj (B, N, N)`` and a node mask ``mask (B, N)`` (1 for real nodes, 0 for padding). GDSS (Jo et al., ICML 2022,
Sec. 3.1) perturbs ``x`` with i.i.d. noise and ``adj`` with *symmetric* noise: the strict upper triangle is drawn
i.i.d. and mirrored, the diagonal stays zero. Padding entries are always exactly zero.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor

from sheafgraph.ops.dense import mask_adjacency, mask_nodes
from sheafgraph.utils.seed import randn


class Graphs(NamedTuple):
    """A dense batch of graphs: ``x (B, N, F)``, ``adj (B, N, N)``, ``mask (B, N)``."""

    x: Tensor
    adj: Tensor
    mask: Tensor


def batch_view(coef: Tensor, like: Tensor) -> Tensor:
    """Reshape per-graph coefficients ``coef (B,)`` so they broadcast against ``like (B, ...)`` of any rank.

    The one place where per-graph SDE coefficients meet batched tensors (no hard-coded ``[:, None, None]``).
    """
    return coef.reshape(coef.shape[0], *([1] * (like.dim() - 1)))


def symmetrize_noise(z: Tensor) -> Tensor:
    """Keep the strict upper triangle of ``z (..., N, N)`` and mirror it: symmetric, zero diagonal."""
    upper = z.triu(1)
    return upper + upper.transpose(-1, -2)


def standard_normal(shape, generator: Optional[torch.Generator] = None, *, symmetric: bool = False,
                    dtype: Optional[torch.dtype] = None, device=None) -> Tensor:
    """Draw ``N(0, 1)`` noise of ``shape``; ``symmetric=True`` mirrors the upper triangle of the last two dims."""
    z = randn(shape, generator, dtype=dtype, device=device)
    return symmetrize_noise(z) if symmetric else z


def node_noise(x: Tensor, mask: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
    """i.i.d. ``N(0, 1)`` noise shaped like ``x (B, N, F)``, zero on padding nodes."""
    return mask_nodes(standard_normal(x.shape, generator, dtype=x.dtype, device=x.device), mask)


def edge_noise(adj: Tensor, mask: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
    """Symmetric ``N(0, 1)`` noise shaped like ``adj (B, N, N)``: zero diagonal, zero rows/columns of padding."""
    z = standard_normal(adj.shape, generator, symmetric=True, dtype=adj.dtype, device=adj.device)
    return mask_adjacency(z, mask)


def graph_noise(graphs: Graphs, generator: Optional[torch.Generator] = None) -> Graphs:
    """Noise for both components of ``graphs``: i.i.d. for ``x``, symmetric for ``adj``, masked."""
    return Graphs(node_noise(graphs.x, graphs.mask, generator), edge_noise(graphs.adj, graphs.mask, generator),
                  graphs.mask)


def node_mask(num_nodes: Tensor, max_nodes: int) -> Tensor:
    """The mask ``(B, max_nodes)`` with ones on the first ``num_nodes[b]`` nodes of graph b."""
    if not isinstance(num_nodes, Tensor) or num_nodes.dtype.is_floating_point or num_nodes.dtype == torch.bool:
        kind = num_nodes.dtype if isinstance(num_nodes, Tensor) else type(num_nodes).__name__
        raise TypeError(f"num_nodes must be an integer tensor of node counts, got {kind}")
    return (torch.arange(max_nodes, device=num_nodes.device) < num_nodes.unsqueeze(-1)).float()
