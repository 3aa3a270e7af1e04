"""Graph Laplacians of a weighted graph as :class:`SparseOperator` (scalar, d = 1)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from sheafgraph.ops.operator import SparseOperator
from sheafgraph.ops.structure import StructureLike, as_structure, check_values

NORMALIZATIONS = (None, "sym", "rw")


def safe_pow(x: Tensor, p: float) -> Tensor:
    """``x ** p`` elementwise with 0 where ``x == 0`` (the pseudo-inverse convention for isolated nodes)."""
    out = x.clamp_min(torch.finfo(x.dtype).tiny).pow(p)
    return torch.where(x > 0, out, torch.zeros_like(out))


def graph_laplacian(edge_index: StructureLike, edge_weight: Optional[Tensor] = None, num_nodes: Optional[int] = None,
                    normalization: Optional[str] = None, *, dtype: Optional[torch.dtype] = None) -> SparseOperator:
    r"""The Laplacian of a weighted (directed) graph.

    With :math:`W_{ij} = w_e` for e = (i, j) and out-degrees :math:`D_{ii} = \sum_j W_{ij}`:

    * ``None``: :math:`L = D - W`
    * ``"sym"``: :math:`L = I - D^{-1/2} W D^{-1/2}` (spectrum in [0, 2] for symmetric W)
    * ``"rw"``: :math:`L = I - D^{-1} W`

    Isolated nodes use :math:`D^{-1/2}_{ii} = 0` (their row of the normalised Laplacian is the identity's).
    Self-loops and duplicate edges are allowed (their weights add up).

    Args:
        edge_index: ``(2, |E|)`` indices or a :class:`GraphStructure`.
        edge_weight: ``(|E|,)`` non-negative finite weights (default ones).
        num_nodes: number of nodes (default ``max(edge_index) + 1``).
        normalization: ``None``, ``"sym"`` or ``"rw"``.
        dtype: dtype of the operator when ``edge_weight`` is None (default float32).

    Shapes:
        edge_index: ``(2, |E|)``; edge_weight: ``(|E|,)``; the operator: ``(|V|, |V|)``.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    s = as_structure(edge_index, num_nodes)
    if edge_weight is None:
        w = torch.ones(s.num_edges, device=s.device, dtype=dtype or torch.get_default_dtype())
    else:
        check_values(edge_weight, "edge_weight", (s.num_edges,), nonnegative=True)
        w = edge_weight
    deg = s.out_degree(w)
    if edge_weight is not None and not bool(torch.isfinite(deg).all()):
        raise ValueError(f"weighted degrees overflow {w.dtype} (largest edge weight {float(w.max()):.3g}); rescale "
                         f"edge_weight or use float64")
    if normalization is None:
        off, diag = -w, deg
    else:
        if normalization == "sym":
            dis = safe_pow(deg, -0.5)
            off = -dis[s.row] * w * dis[s.col]
        else:
            off = -safe_pow(deg, -1.0)[s.row] * w
        diag = torch.ones_like(deg)
    p = s.block_pattern()
    values = w.new_zeros(p.num_blocks).index_add(0, p.edge_slot, off).index_add(0, p.self_slot, diag)
    return SparseOperator(p, values.unsqueeze(1), 1)
