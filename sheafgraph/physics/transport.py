r"""Advection and diffusion on a station graph, applied to a batch of latent fields.

The two physical terms of AirPhyNet (Hettige et al., ICLR 2024, Sec. 3) on a graph with Laplacian
:math:`L = D - W` (distance-kernel weights) and the upwind operator :math:`A(v)` of
:func:`sheafgraph.ops.advection_operator`:

.. math:: \text{diffusion: } -L z, \qquad \text{advection: } -A(v) z,

both conservative (:math:`\mathbf 1^\top L = \mathbf 1^\top A = 0`), and :math:`A` directed: mass moves only
along edges the wind blows towards. A batch of B fields on one graph uses the graph's operator for every sample
(:func:`shared_matmul` folds the batch into the feature dimension). Winds differ between samples, so advection
acts on the block-diagonal graph of B disjoint copies (:func:`batch_structure`), one operator per wind interval,
each built for the whole batch in one call (:func:`advection_operators`); :class:`AdvectionSchedule` picks the one
acting at a time t on the device, without a host synchronisation.
"""
from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence

import torch
from torch import Tensor

from sheafgraph.ops import GraphStructure, SparseOperator, advection_operator, check_values, graph_laplacian
from sheafgraph.utils.checks import positive_float


class PhysicsGraph(NamedTuple):
    """A station graph ready for the physics terms: validated structure, edge weights, planar positions in km.

    Shapes:
        structure: ``|V|`` nodes, ``|E|`` directed edges (both directions); edge_weight: ``(|E|,)``;
        pos_km: ``(|V|, 2)`` (x east, y north).
    """
    structure: GraphStructure
    edge_weight: Tensor
    pos_km: Tensor

    @property
    def num_nodes(self) -> int:
        return self.structure.num_nodes


def physics_graph(edge_index: Tensor, edge_weight: Optional[Tensor], pos_km: Tensor,
                  dtype: torch.dtype = torch.float32) -> PhysicsGraph:
    r"""Validate a station graph once and convert its weights and positions to ``dtype``.

    Args:
        edge_index: ``(2, |E|)`` directed edges, both directions of each station pair, no self-loops.
        edge_weight: ``(|E|,)`` non-negative weights (None: ones).
        pos_km: ``(|V|, 2)`` planar positions in km (:func:`sheafgraph.ops.lonlat_to_km` of lon/lat).
        dtype: floating dtype of the model.

    Shapes:
        see :class:`PhysicsGraph`.
    """
    check_values(pos_km, "pos_km", (None, 2))
    structure = GraphStructure(edge_index, pos_km.size(0))
    if structure.has_self_loops():
        raise ValueError("edge_index has self-loops; a station graph links distinct stations")
    structure.reverse_index()          # raises unless every edge has its reverse (an undirected graph)
    if edge_weight is None:
        edge_weight = torch.ones(structure.num_edges, dtype=dtype, device=edge_index.device)
    check_values(edge_weight, "edge_weight", (structure.num_edges,), nonnegative=True)
    return PhysicsGraph(structure, edge_weight.to(dtype), pos_km.to(dtype))


def batch_structure(structure: GraphStructure, batch_size: int) -> GraphStructure:
    r"""The block-diagonal graph of ``batch_size`` disjoint copies; copy b holds nodes ``b|V| ... (b+1)|V| - 1``.

    Shapes:
        returns a structure with ``B|V|`` nodes and ``B|E|`` edges.
    """
    n = structure.num_nodes
    offsets = torch.arange(batch_size, device=structure.device).repeat_interleave(structure.num_edges) * n
    return GraphStructure(structure.edge_index.repeat(1, batch_size) + offsets, batch_size * n)


def shared_matmul(op: SparseOperator, z: Tensor) -> Tensor:
    r"""Apply one ``(|V|, |V|)`` operator to every field of a batch: :math:`(Oz_b)_b` as one sparse product.

    Shapes:
        z: ``(B, |V|, D)``; returns ``(B, |V|, D)``.
    """
    b, n, d = z.shape
    out = op @ z.permute(1, 0, 2).reshape(n, b * d)
    return out.view(n, b, d).permute(1, 0, 2)


def advection_term(operator: SparseOperator, z: Tensor) -> Tensor:
    r"""The advection term :math:`-A(v_b) z_b` with the block-diagonal batch operator of :func:`advection_operators`.

    Shapes:
        z: ``(B, |V|, D)``; operator: ``(B|V|, B|V|)``; returns ``(B, |V|, D)``.
    """
    b, n, d = z.shape
    return -(operator @ z.reshape(b * n, d)).view(b, n, d)


def station_laplacian(graph: PhysicsGraph, normalization: Optional[str] = None) -> SparseOperator:
    r"""The graph Laplacian of the station graph (:func:`sheafgraph.ops.graph_laplacian`); ``None``: :math:`D - W`."""
    return graph_laplacian(graph.structure, graph.edge_weight, normalization=normalization)


def advection_operators(graph: PhysicsGraph, velocity: Tensor) -> List[SparseOperator]:
    r"""One block-diagonal advection operator per wind interval, each for the whole batch at once.

    Args:
        graph: the station graph (positions in km).
        velocity: wind in km per unit of ODE time (km/h with time in hours), u east, v north.

    Shapes:
        velocity: ``(B, T_w, |V|, 2)``; returns ``T_w`` operators of shape ``(B|V|, B|V|)``.
    """
    b, t, n, _ = velocity.shape
    if n != graph.num_nodes:
        raise ValueError(f"velocity has {n} stations but the graph has {graph.num_nodes}")
    structure = batch_structure(graph.structure, b)
    pos = graph.pos_km.repeat(b, 1)
    return [advection_operator(structure, velocity[:, k].reshape(b * n, 2).to(pos.dtype), pos) for k in range(t)]


class AdvectionSchedule:
    r"""Advection operators of consecutive wind intervals and the rule that picks one at time t.

    Operator k (0-based) acts on :math:`t \in (k\,\Delta, (k+1)\,\Delta]`, the first one also before and the last
    one beyond: :math:`k(t) = \min(\max(\lceil t/\Delta - 10^{-6} \rceil - 1, 0), T_w - 1)` (the tolerance keeps a
    solver time a rounding error past a boundary in the earlier interval). The operators of one batch share their
    sparsity pattern (only the wind, and so the values, differ), so :meth:`at` selects the values on the device from
    a tensor t: integrating on a GPU needs no host synchronisation per evaluation. ``k(t)`` is computed in float64,
    as Python would compute it from ``float(t)``.

    Args:
        operators: the ``T_w`` operators of :func:`advection_operators`, on one pattern.
        interval: :math:`\Delta`, the length of a wind interval in ODE time units (hours).
    """

    def __init__(self, operators: Sequence[SparseOperator], interval: float):
        if len(operators) == 0:
            raise ValueError("an advection schedule needs at least one operator")
        self.operators, self.interval = list(operators), positive_float(interval, "interval")
        first = self.operators[0]
        self.values = torch.stack([op.values for op in self.operators]) if len(self.operators) > 1 else None
        self._interval = torch.full((), self.interval, dtype=torch.float64, device=first.device)

    def index(self, t: Tensor) -> Tensor:
        """``k(t)`` as a ``(1,)`` long tensor on the operators' device."""
        t = torch.as_tensor(t).detach().to(device=self._interval.device, dtype=torch.float64)
        step = torch.ceil(t / self._interval - 1e-6) - 1
        return step.clamp(0, len(self.operators) - 1).long().view(1)

    def at(self, t: Tensor) -> SparseOperator:
        """The operator acting at time t (a 0-d tensor of the solver)."""
        if self.values is None:
            return self.operators[0]
        first = self.operators[0]
        return SparseOperator(first.pattern, self.values.index_select(0, self.index(t))[0], first.d)
