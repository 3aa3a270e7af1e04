"""From continuous samples to discrete molecular graphs (GDSS, Jo et al., ICML 2022, Sec. 4.2).

The adjacency is diffused in *bond-order units* (GDSS's QM9/ZINC encoding: 0 none, 1 single, 2 double, 3 triple,
not rescaled), so a sample is rounded to the nearest order with GDSS's thresholds 0.5 / 1.5 / 2.5 and clipped to
[0, 3]. With the aromatic-aware encoding (:mod:`sheafgraph.chem.encode`: aromatic bonds at 1.5) a sample is rounded
to the nearest of the levels 0, 1, 1.5, 2, 3 (thresholds 0.5 / 1.25 / 1.75 / 2.5) and an aromatic bond gets the bond
code :data:`~sheafgraph.chem.decode.AROMATIC_BOND` (4). Each real node takes the atom type with the largest feature
(argmax); padding nodes get type -1.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from sheafgraph.chem.decode import AROMATIC_BOND
from sheafgraph.generative.noise import Graphs
from sheafgraph.ops.dense import check_dense_batch, mask_adjacency

MAX_BOND_ORDER = 3
# aromatic-aware rounding: thresholds between the levels 0, 1, 1.5, 2, 3 and the bond code of each level
_AROMATIC_THRESHOLDS = (0.5, 1.25, 1.75, 2.5)
_AROMATIC_CODES = (0, 1, AROMATIC_BOND, 2, 3)


def quantize_bonds(adj: Tensor, mask: Tensor, aromatic: bool = False) -> Tensor:
    """Bond orders ``(B, N, N)`` in {0, 1, 2, 3}: ``floor(A + 1/2)`` clipped, symmetric, zero diagonal and padding;
    ``aromatic=True``: bond codes in {0, 1, 2, 3, 4} by the nearest of the levels 0, 1, 1.5, 2, 3 (module docstring).

    Raises:
        ValueError: ``adj`` holds NaN or infinite values (they have no bond order).
    """
    check_dense_batch(adj, mask)
    if aromatic:
        level = torch.bucketize(adj, torch.tensor(_AROMATIC_THRESHOLDS, dtype=adj.dtype, device=adj.device))
        upper = torch.tensor(_AROMATIC_CODES, dtype=adj.dtype, device=adj.device)[level].triu(1)
    else:
        upper = torch.floor(adj + 0.5).clamp(0, MAX_BOND_ORDER).triu(1)
    return mask_adjacency(upper + upper.transpose(-1, -2), mask).long()


def quantize_atoms(x: Tensor, mask: Tensor) -> Tensor:
    """Atom-type indices ``(B, N)``: argmax over features on real nodes, -1 on padding."""
    return torch.where(mask.bool(), x.argmax(dim=-1), torch.full_like(mask, -1, dtype=torch.long))


def quantize_graphs(graphs: Graphs, aromatic: bool = False) -> Tuple[Tensor, Tensor]:
    """``(atom_types (B, N), bond_orders (B, N, N))`` of a batch of continuous samples (``aromatic``: bond codes of
    the aromatic-aware encoding, as :func:`quantize_bonds`)."""
    return quantize_atoms(graphs.x, graphs.mask), quantize_bonds(graphs.adj, graphs.mask, aromatic)
