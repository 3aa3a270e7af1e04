r"""Dirichlet energy of a signal with respect to a (sheaf) Laplacian, the quantity sheaf diffusion minimises.

.. math::
    E(X) = \operatorname{tr}(X^\top L X) = \sum_{\{i,j\}} \lVert F_{i \trianglelefteq e} x_i - F_{j \trianglelefteq e} x_j
    \rVert^2 \quad (\text{unnormalised } L),
    \qquad E_{norm}(X) = \frac{\operatorname{tr}(X^\top L X)}{\operatorname{tr}(X^\top X)} \ (\text{Rayleigh quotient}).

Oversmoothing shows as :math:`E \to 0` along the layers (Bodnar et al., NeurIPS 2022, Sec. 3).
"""
from __future__ import annotations

from typing import Union

import torch
from torch import Tensor

from sheafgraph.ops import SparseOperator


def dirichlet_energy(x: Tensor, laplacian: Union[SparseOperator, Tensor], normalized: bool = False) -> Tensor:
    """``tr(xᵀ L x)``, or divided by ``tr(xᵀ x)`` when ``normalized`` (0 for a zero signal).

    Args:
        x: signal, ``(|V| d,)``, ``(|V| d, F)`` or ``(|V|, d, F)``.
        laplacian: a :class:`SparseOperator` or a dense ``(|V| d, |V| d)`` tensor.
        normalized: return the Rayleigh quotient instead.

    Shapes:
        returns a scalar tensor (differentiable in x and the Laplacian's values).
    """
    n = laplacian.shape[0]
    if not isinstance(x, Tensor) or x.numel() % n or x.shape[0] * (x.shape[1] if x.dim() == 3 else 1) != n:
        raise ValueError(f"x of shape {tuple(getattr(x, 'shape', ()))} does not match a Laplacian of size {n}")
    flat = x.reshape(n, -1)
    lx = laplacian @ flat
    energy = (flat * lx).sum()
    if not normalized:
        return energy
    norm = flat.square().sum()
    return torch.where(norm > 0, energy / norm.clamp_min(torch.finfo(flat.dtype).tiny), torch.zeros_like(energy))
