r"""Fixed extra stalk dimensions of NSD: graph-only diffusion channels appended to the learned stalks.

Each name adds one stalk dimension whose restriction maps are fixed scalars, so its Laplacian depends on the graph
alone (Bodnar et al., NeurIPS 2022, App. "adding fixed dimensions"):

* ``"signless"``: :math:`F_{i \trianglelefteq e} = +1` for i < j and -1 for i > j, so
  :math:`L_{ij} = -F_{i \trianglelefteq e} F_{j \trianglelefteq e} = +1` and :math:`L = D + A`, the signless
  Laplacian (NSD's ``add_lp`` flag).
* ``"laplacian"``: :math:`F = 1` on both ends, :math:`L = D - A`, the graph Laplacian (NSD's ``add_hp`` flag).

Normalised like the learned part, :math:`(D + I)^{-1/2} L (D + I)^{-1/2}` with ``augmented``. The operator is cached
per :class:`GraphStructure` object (structures are immutable, so the cache never goes stale).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from sheafgraph.ops import GraphStructure, SparseOperator, sheaf_laplacian

FIXED_STALKS = {"signless": "signless Laplacian D + A (NSD's add_lp)",
                "laplacian": "graph Laplacian D - A (NSD's add_hp)"}


def check_fixed_stalks(names: Sequence[str]) -> Tuple[str, ...]:
    """Validate a list of fixed stalk names (each at most once) and return it as a tuple."""
    names = tuple(names)
    for name in names:
        if name not in FIXED_STALKS:
            raise ValueError(f"unknown fixed stalk {name!r}; valid names: {', '.join(FIXED_STALKS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"fixed stalks must be distinct, got {list(names)}")
    return names


def fixed_stalk_maps(structure: GraphStructure, names: Sequence[str], dtype: torch.dtype = torch.float32) -> Tensor:
    """The fixed scalar restriction maps, one column per name.

    Shapes:
        returns ``(|E|, len(names))``.
    """
    ones = torch.ones(structure.num_edges, dtype=dtype, device=structure.device)
    columns = {"signless": torch.where(structure.row < structure.col, ones, -ones), "laplacian": ones}
    return torch.stack([columns[n] for n in check_fixed_stalks(names)], dim=1)


def fixed_stalk_laplacian(structure: GraphStructure, names: Sequence[str], normalization: Optional[str] = "sym",
                          dtype: torch.dtype = torch.float32) -> SparseOperator:
    """The (normalised, augmented) Laplacian of the fixed stalks, cached per structure, names, normalisation and dtype.

    Shapes:
        the operator: ``(|V| k, |V| k)`` with k = ``len(names)`` diagonal blocks.
    """
    return structure.cached(("fixed_stalks", tuple(names), normalization, dtype),
                            lambda: sheaf_laplacian(structure, fixed_stalk_maps(structure, names, dtype),
                                                    normalization=normalization, augmented=True, validate=False))
