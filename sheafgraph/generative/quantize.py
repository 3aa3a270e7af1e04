"""From continuous samples to discrete molecular graphs (GDSS, Jo et al., ICML 2022, Sec. 4.2).

The adjacency is diffused in *bond-order units* (GDSS's QM9/ZINC encoding: 0 none, 1 single, 2 double, 3 triple,
not rescaled), so a sample is rounded to the nearest order with GDSS's thresholds 0.5 / 1.5 / 2.5 and clipped to
[0, 3]. With the aromatic-aware encoding (:mod:`sheafgraph.chem.encode`: aromatic bonds at 1.5) a sample is rounded
to the nearest of the levels 0, 1, 1.5, 2, 3 (thresholds 0.5 / 1.25 / 1.75 / 2.5) and an aromatic bond gets the bond
code :data:`~sheafgraph.chem.decode.AROMATIC_BOND` (4). Each real node takes the atom type with the largest feature
(argmax); padding nodes get type -1. Categorical bonds (:mod:`sheafgraph.generative.bond_channels`, one channel per
level) give no bond where every channel is below 1/2, else the level of the largest channel.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from sheafgraph.chem.decode import AROMATIC_BOND
from sheafgraph.generative.bond_channels import BOND_LEVELS, check_levels
from sheafgraph.generative.noise import Graphs
from sheafgraph.ops.dense import check_dense_batch, mask_adjacency

MAX_BOND_ORDER = 3
# aromatic-aware rounding: thresholds between the levels 0, 1, 1.5, 2, 3 and the bond code of each level
_AROMATIC_THRESHOLDS = (0.5, 1.25, 1.75, 2.5)
_AROMATIC_CODES = (0, 1, AROMATIC_BOND, 2, 3)
# bond code of each categorical level
_BOND_CODES = {1.0: 1, 1.5: AROMATIC_BOND, 2.0: 2, 3.0: 3}


def quantize_bonds(adj: Tensor, mask: Tensor, aromatic: bool = False,
                   levels: Optional[Sequence[float]] = None) -> Tensor:
    """Bond orders ``(B, N, N)`` in {0, 1, 2, 3}: ``floor(A + 1/2)`` clipped, symmetric, zero diagonal and padding;
    ``aromatic=True``: bond codes in {0, 1, 2, 3, 4} by the nearest of the levels 0, 1, 1.5, 2, 3 (module docstring).
    Categorical ``adj (B, K, N, N)``: the bond code of the largest channel's level (``levels``, default
    :data:`~sheafgraph.generative.bond_channels.BOND_LEVELS`, each one of 1, 1.5, 2, 3) where it reaches 1/2.

    Raises:
        ValueError: ``adj`` holds NaN or infinite values (they have no bond order).
    """
    if adj.dim() == 4:
        return _quantize_channels(adj, mask, BOND_LEVELS if levels is None else levels)
    check_dense_batch(adj, mask)
    if aromatic:
        level = torch.bucketize(adj, torch.tensor(_AROMATIC_THRESHOLDS, dtype=adj.dtype, device=adj.device))
        upper = torch.tensor(_AROMATIC_CODES, dtype=adj.dtype, device=adj.device)[level].triu(1)
    else:
        upper = torch.floor(adj + 0.5).clamp(0, MAX_BOND_ORDER).triu(1)
    return mask_adjacency(upper + upper.transpose(-1, -2), mask).long()


def _quantize_channels(adj: Tensor, mask: Tensor, levels: Sequence[float]) -> Tensor:
    levels = check_levels(levels)
    if adj.shape[1] != len(levels) or any(v not in _BOND_CODES for v in levels):
        raise ValueError(f"categorical bonds need one channel per level, each of {tuple(_BOND_CODES)}: got "
                         f"{adj.shape[1]} channels for levels {levels}")
    check_dense_batch(adj.amax(1), mask)
    codes = torch.tensor([_BOND_CODES[v] for v in levels], device=adj.device)
    top, best = adj.max(dim=1)
    upper = torch.where(top >= 0.5, codes[best], 0).triu(1)
    return mask_adjacency(upper + upper.transpose(-1, -2), mask)


def quantize_atoms(x: Tensor, mask: Tensor) -> Tensor:
    """Atom-type indices ``(B, N)``: argmax over features on real nodes, -1 on padding."""
    return torch.where(mask.bool(), x.argmax(dim=-1), torch.full_like(mask, -1, dtype=torch.long))


def quantize_graphs(graphs: Graphs, aromatic: bool = False,
                    levels: Optional[Sequence[float]] = None) -> Tuple[Tensor, Tensor]:
    """``(atom_types (B, N), bond_orders (B, N, N))`` of a batch of continuous samples (``aromatic``: bond codes of
    the aromatic-aware encoding; categorical ``graphs.adj (B, K, N, N)`` with its ``levels``: as
    :func:`quantize_bonds`)."""
    return quantize_atoms(graphs.x, graphs.mask), quantize_bonds(graphs.adj, graphs.mask, aromatic, levels)
