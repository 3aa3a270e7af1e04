r"""The conservative upwind advection operator of a velocity field on a planar graph.

For the directed edge (i, j) with unit vector :math:`u_{ij} = (p_j - p_i)/\ell_{ij}` and length
:math:`\ell_{ij} = \lVert p_j - p_i \rVert`, the flux rate is :math:`w_{ij} = \max(0, v_i \cdot u_{ij}) / \ell_{ij}`
(mass leaves i towards j only when the wind at i blows towards j), and

.. math:: (A c)_i = \sum_j w_{ij} c_i - \sum_j w_{ji} c_j,

so :math:`dc/dt = -A c` moves mass downwind, conserves the total (:math:`\mathbf 1^\top A = 0`) and keeps
non-negative fields non-negative for explicit steps :math:`\Delta t \le 1/\max_i A_{ii}`.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from sheafgraph.ops.operator import SparseOperator
from sheafgraph.ops.structure import StructureLike, as_structure, check_values

EARTH_RADIUS_KM = 6371.0088


def lonlat_to_km(lon: Tensor, lat: Tensor, origin: Optional[Tuple[float, float]] = None) -> Tensor:
    r"""Project longitude/latitude (degrees) to local planar kilometres (equirectangular about ``origin``).

    :math:`x = R\,\Delta\lambda \cos\varphi_0`, :math:`y = R\,\Delta\varphi` (x east, y north); accurate to well
    under 1% over a city-sized region. ``origin`` = (lon0, lat0), default the mean position.

    Shapes:
        lon, lat: ``(|V|,)``; returns ``(|V|, 2)``.
    """
    lon = torch.as_tensor(lon, dtype=torch.float64)
    lat = torch.as_tensor(lat, dtype=torch.float64)
    if lon.dim() != 1 or lon.shape != lat.shape:
        raise ValueError(f"lon and lat must be 1-D of equal length, got {tuple(lon.shape)} and {tuple(lat.shape)}")
    if not bool(torch.isfinite(lon).all() & torch.isfinite(lat).all()):
        raise ValueError("lon/lat contain NaN or infinite values")
    if bool((lat.abs() > 90).any()) or bool((lon.abs() > 360).any()):
        raise ValueError("lat must be in [-90, 90] and lon in [-360, 360] degrees")
    lon0, lat0 = origin if origin is not None else (float(lon.mean()), float(lat.mean()))
    rad = torch.pi / 180.0
    x = EARTH_RADIUS_KM * (lon - lon0) * rad * torch.cos(torch.tensor(lat0 * rad, dtype=torch.float64))
    y = EARTH_RADIUS_KM * (lat - lat0) * rad
    return torch.stack([x, y], dim=1)


def advection_operator(edge_index: StructureLike, velocity: Tensor, pos: Tensor,
                       num_nodes: Optional[int] = None) -> SparseOperator:
    r"""The upwind advection operator A(v) of the module docstring; ``dc/dt = -A c``.

    Args:
        edge_index: ``(2, |E|)`` directed edges along which mass may move (both directions for a station graph),
            or a :class:`GraphStructure`.
        velocity: ``(|V|, 2)`` velocity at each node (e.g. wind, km/h when ``pos`` is in km and time in hours).
        pos: ``(|V|, 2)`` planar node coordinates (:func:`lonlat_to_km` for lon/lat).
        num_nodes: number of nodes (default ``max(edge_index) + 1``; must match ``velocity``).

    Shapes:
        velocity, pos: ``(|V|, 2)``; the operator: ``(|V|, |V|)``, columns summing to zero.
    """
    s = as_structure(edge_index, num_nodes if num_nodes is not None else _rows(velocity))
    check_values(velocity, "velocity", (s.num_nodes, 2))
    check_values(pos, "pos", (s.num_nodes, 2))
    if pos.dtype != velocity.dtype:
        raise TypeError(f"pos ({pos.dtype}) and velocity ({velocity.dtype}) must have the same dtype")
    delta = pos[s.col] - pos[s.row]
    length = delta.norm(dim=1)
    if bool((length <= 0).any()):
        e = int((length <= 0).nonzero()[0])
        raise ValueError(f"edge ({int(s.row[e])}, {int(s.col[e])}) has zero length (coincident positions or a "
                         "self-loop); the advection operator needs distinct endpoints")
    rate = torch.relu((velocity[s.row] * delta).sum(1) / length) / length       # w_ij
    # A_ii = Σ_j w_ij (outflow); A_ji = -w_ij (inflow at j): the pattern of the reversed graph holds (j, i).
    t = s.transposed()
    p = t.block_pattern()
    values = rate.new_zeros(p.num_blocks).index_add(0, p.edge_slot, -rate).index_add(0, p.self_slot[s.row], rate)
    return SparseOperator(p, values.unsqueeze(1), 1)


def _rows(x: Tensor) -> Optional[int]:
    return x.size(0) if isinstance(x, Tensor) and x.dim() >= 1 else None
