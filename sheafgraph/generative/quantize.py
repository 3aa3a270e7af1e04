"""From continuous samples to discrete molecular graphs (GDSS, Jo et al., ICML 2022, Sec. 4.2).

The adjacency is diffused in *bond-order units* (GDSS's QM9/ZINC encoding: 0 none, 1 single, 2 double, 3 triple,
not rescaled), so a sample is rounded to the nearest order with GDSS's thresholds 0.5 / 1.5 / 2.5 and clipped to
[0, 3]. Each real node takes the atom type with the largest feature (argmax); padding nodes get type -1.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from sheafgraph.generative.noise import Graphs
from sheafgraph.ops.dense import check_dense_batch, mask_adjacency

MAX_BOND_ORDER = 3


def quantize_bonds(adj: Tensor, mask: Tensor) -> Tensor:
    """Bond orders ``(B, N, N)`` in {0, 1, 2, 3}: ``floor(A + 1/2)`` clipped, symmetric, zero diagonal and padding.

    Raises:
        ValueError: ``adj`` holds NaN or infinite values (they have no bond order).
    """
    check_dense_batch(adj, mask)
    upper = torch.floor(adj + 0.5).clamp(0, MAX_BOND_ORDER).triu(1)
    return mask_adjacency(upper + upper.transpose(-1, -2), mask).long()


def quantize_atoms(x: Tensor, mask: Tensor) -> Tensor:
    """Atom-type indices ``(B, N)``: argmax over features on real nodes, -1 on padding."""
    return torch.where(mask.bool(), x.argmax(dim=-1), torch.full_like(mask, -1, dtype=torch.long))


def quantize_graphs(graphs: Graphs) -> Tuple[Tensor, Tensor]:
    """``(atom_types (B, N), bond_orders (B, N, N))`` of a batch of continuous samples."""
    return quantize_atoms(graphs.x, graphs.mask), quantize_bonds(graphs.adj, graphs.mask)
