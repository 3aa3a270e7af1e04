r"""Categorical bonds: the adjacency as one indicator channel per bond type.

A bond-order adjacency :math:`A` (entries 0 or one of the levels :math:`\ell_1, \dots, \ell_K`, by default
:data:`BOND_LEVELS` = single, aromatic, double, triple) becomes :math:`C_k = [A = \ell_k]`, ``K`` channels with no
bond = all zero. GDSS diffuses the scalar :math:`A`, where an aromatic bond (1.5) lies between single and double;
in channels every bond type is a coordinate of its own. Score networks read the bond-order view
:math:`\sum_k \ell_k C_k` for their graph convolutions, and a sample is decoded per pair: no bond where
:math:`\max_k C_k < 1/2`, else the level of :math:`\arg\max_k C_k` (:func:`sheafgraph.generative.quantize_bonds`).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

#: bond orders of the channels: single, aromatic (the aromatic-aware encoding's 1.5), double, triple
BOND_LEVELS = (1.0, 1.5, 2.0, 3.0)


def check_levels(levels: Sequence[float]) -> tuple:
    """``levels`` as a tuple of distinct positive floats (at least two), else ValueError naming them."""
    try:
        values = tuple(float(v) for v in levels)
    except (TypeError, ValueError):
        raise ValueError(f"bond levels must be a sequence of numbers, got {levels!r}") from None
    if len(values) < 2 or len(set(values)) != len(values) or min(values) <= 0:
        raise ValueError(f"bond levels must be at least two distinct positive bond orders, got {levels!r}")
    return values


def to_bond_channels(adj: Tensor, levels: Sequence[float] = BOND_LEVELS) -> Tensor:
    """One indicator channel per level: ``adj (..., N, N)`` -> ``(..., K, N, N)`` with ``K = len(levels)``.

    Raises:
        ValueError: an entry of ``adj`` is neither 0 nor one of ``levels`` (it names the value).
    """
    values = torch.tensor(check_levels(levels), dtype=adj.dtype, device=adj.device)
    channels = (adj.unsqueeze(-3) == values.view(-1, 1, 1)).to(adj.dtype)
    stray = (adj != 0) & (channels.sum(-3) == 0)
    if bool(stray.any()):
        raise ValueError(f"adjacency entry {float(adj[stray][0])} is not a bond level of {tuple(values.tolist())} "
                         f"(or 0)")
    return channels


def bond_order_view(channels: Tensor, levels: Tensor) -> Tensor:
    r"""The weighted adjacency :math:`\sum_k \ell_k C_k`: ``channels (B, K, N, N)``, ``levels (K,)`` ->
    ``(B, N, N)``."""
    return torch.einsum("bknm,k->bnm", channels, levels.to(channels.dtype))
