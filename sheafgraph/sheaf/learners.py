r"""Sheaf learners: one restriction map per directed edge from the features of its endpoints (Bodnar et al.,
NeurIPS 2022, Sec. 5, "learning the sheaf").

For the directed edge e = (i, j) the local-concatenation learner computes

.. math::
    F_{i \trianglelefteq e} = \Phi(x_i, x_j) = \mathrm{map}\big(\sigma(W [x_i \,\Vert\, x_j])\big),

with σ ∈ {tanh, elu, identity} and ``map`` turning the raw parameters into a diagonal, orthogonal (O(d) bundle) or
general d×d matrix (:data:`MAP_KINDS`). The reverse edge (j, i) gets its own map :math:`\Phi(x_j, x_i)`, so the
sheaf is asymmetric in general. Because :math:`W [x_i \Vert x_j] = W_a x_i + W_b x_j`, the products are taken per
node and gathered per edge (``|V|`` instead of ``|E|`` matrix rows; mathematically identical).

The ``"stalk_sum"`` input (the sparse learner of NSD's code, used by its Texas recipe) first sums each node's
signal over its stalk dimensions, :math:`\bar x_i = \sum_a x_{i,a} \in \mathbb{R}^{C}`, and concatenates those.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sheafgraph.ops.structure import GraphStructure
from sheafgraph.sheaf.orthogonal import num_orthogonal_params, orthogonal_map
from sheafgraph.utils.checks import check_choice, positive_int

MAP_KINDS = ("diag", "orthogonal", "general")
LEARNER_INPUTS = ("concat", "stalk_sum")
ACTIVATIONS: Dict[str, Callable[[Tensor], Tensor]] = {"tanh": torch.tanh, "elu": F.elu, "id": lambda t: t}


def num_map_params(kind: str, d: int) -> int:
    """Raw parameters per edge: d (``"diag"``), d(d-1)/2 (``"orthogonal"``), d² (``"general"``)."""
    check_choice(kind, MAP_KINDS, "restriction-map kind")
    return {"diag": d, "orthogonal": num_orthogonal_params(d), "general": d * d}[kind]


def restriction_maps(params: Tensor, kind: str, d: int, orthogonal: str = "householder") -> Tensor:
    """Turn raw per-edge parameters into restriction maps.

    Args:
        params: ``(|E|, num_map_params(kind, d))``.
        kind: ``"diag"``, ``"orthogonal"`` or ``"general"``.
        d: stalk dimension.
        orthogonal: parameterisation of O(d) for ``kind="orthogonal"`` (:data:`~sheafgraph.sheaf.orthogonal.ORTHOGONAL_MAPS`).

    Shapes:
        returns ``(|E|, d)`` for ``"diag"``, else ``(|E|, d, d)``.
    """
    width = num_map_params(kind, positive_int(d, "d"))
    if not isinstance(params, Tensor) or params.dim() != 2 or params.size(1) != width:
        shape = tuple(params.shape) if isinstance(params, Tensor) else type(params).__name__
        raise ValueError(f"params for {kind!r} maps with d={d} must have shape (|E|, {width}), got {shape}")
    if kind == "diag":
        return params
    if kind == "orthogonal":
        return orthogonal_map(orthogonal)(params, d)
    return params.reshape(-1, d, d)


class _PairLinear(nn.Module):
    """``W [x_i ‖ x_j]`` for every directed edge (i, j), evaluated as ``(W_a x)_i + (W_b x)_j``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.in_channels = in_channels
        self.linear = nn.Linear(2 * in_channels, out_channels, bias=False)

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()

    def project(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """The per-node products ``(W_a x, W_b x)``."""
        w_a, w_b = self.linear.weight.split(self.in_channels, dim=1)
        return x @ w_a.t(), x @ w_b.t()

    @staticmethod
    def gather(projected: Tuple[Tensor, Tensor], row: Tensor, col: Tensor) -> Tensor:
        """``(W_a x)_i + (W_b x)_j`` for the edges (row, col) from :meth:`project`'s output."""
        # index_select (not advanced indexing): its backward is a plain index_add, several times faster on CPU
        return projected[0].index_select(0, row) + projected[1].index_select(0, col)


class SheafLearner(nn.Module):
    r"""Local-concatenation sheaf learner :math:`F_{i \trianglelefteq e} = \mathrm{map}(\sigma(W[x_i \Vert x_j]))`.

    Args:
        channels: feature channels per stalk dimension, C.
        stalk_dim: total stalk dimension of the input signal (learned plus fixed extra dimensions), D.
        d: dimension of the learned restriction maps.
        kind: ``"diag"``, ``"orthogonal"`` or ``"general"``.
        orthogonal: O(d) parameterisation for ``kind="orthogonal"``.
        act: ``"tanh"``, ``"elu"`` or ``"id"``.
        inputs: ``"concat"`` (:math:`x_i \in \mathbb{R}^{DC}`) or ``"stalk_sum"`` (:math:`\bar x_i \in \mathbb{R}^C`).

    Shapes:
        x: ``(|V|, D, C)``; returns maps ``(|E|, d)`` or ``(|E|, d, d)``.
    """

    def __init__(self, channels: int, stalk_dim: int, d: int, kind: str = "diag", *, orthogonal: str = "householder",
                 act: str = "tanh", inputs: str = "concat"):
        super().__init__()
        self.kind = check_choice(kind, MAP_KINDS, "restriction-map kind")
        self.act_name = check_choice(act, tuple(ACTIVATIONS), "sheaf activation")
        self.inputs = check_choice(inputs, LEARNER_INPUTS, "sheaf learner input")
        if kind == "orthogonal":
            if d < 2:
                raise ValueError(f"orthogonal maps need d >= 2 (O(1) is just ±1), got d = {d}; use kind='diag'")
            orthogonal_map(orthogonal)
            if orthogonal == "euler" and d not in (2, 3):
                raise ValueError(f"Euler angles parameterise d = 2 or 3 only, got d = {d}")
        self.d, self.orthogonal = d, orthogonal
        in_channels = channels * stalk_dim if inputs == "concat" else channels
        self.pair = _PairLinear(in_channels, num_map_params(kind, d))

    def reset_parameters(self) -> None:
        self.pair.reset_parameters()

    def node_terms(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """The per-node half of the learner, :math:`(W_a x_i, W_b x_i)`, from which :meth:`edge_maps` builds maps."""
        return self.pair.project(x.flatten(1) if self.inputs == "concat" else x.sum(1))

    def edge_maps(self, terms: Tuple[Tensor, Tensor], row: Tensor, col: Tensor) -> Tensor:
        """The maps :math:`F_{i \trianglelefteq e}` of the directed edges (i, j) = (row, col), any subset of them."""
        params = ACTIVATIONS[self.act_name](self.pair.gather(terms, row, col))
        return restriction_maps(params, self.kind, self.d, self.orthogonal)

    def forward(self, x: Tensor, structure: GraphStructure) -> Tensor:
        return self.edge_maps(self.node_terms(x), structure.row, structure.col)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, d={self.d}, act={self.act_name}, inputs={self.inputs}" + (
            f", orthogonal={self.orthogonal}" if self.kind == "orthogonal" else "")


class EdgeWeightLearner(nn.Module):
    r"""Symmetric edge weights :math:`w_{ij} = s_{ij} s_{ji}` with :math:`s_{ij} = \mathrm{sigmoid}(w^\top[x_i \Vert x_j])`
    (NSD's weighted O(d) bundle).

    The weights are folded into the orthogonal maps as :math:`F_{i \trianglelefteq e} = w_{ij} Q_{i \trianglelefteq e}`
    (see :func:`fold_edge_weights`), so the Laplacian blocks are :math:`L_{ij} = -w_{ij}^2 Q_i^\top Q_j` and
    :math:`L_{ii} = \sum_j w_{ij}^2 I`, NSD's convention.

    Shapes:
        x: ``(|V|, D, C)``; returns ``(|E|,)`` in (0, 1).
    """

    def __init__(self, channels: int, stalk_dim: int):
        super().__init__()
        self.pair = _PairLinear(channels * stalk_dim, 1)

    def reset_parameters(self) -> None:
        self.pair.reset_parameters()

    def node_terms(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """The per-node half, :math:`(w_a^\top x_i, w_b^\top x_i)`, from which :meth:`edge_weights` builds weights."""
        return self.pair.project(x.flatten(1))

    def edge_weights(self, terms: Tuple[Tensor, Tensor], row: Tensor, col: Tensor) -> Tensor:
        """:math:`w_{ij} = s_{ij} s_{ji}` for the directed edges (row, col), any subset of them."""
        gather = self.pair.gather
        return (torch.sigmoid(gather(terms, row, col)) * torch.sigmoid(gather(terms, col, row))).squeeze(1)

    def forward(self, x: Tensor, structure: GraphStructure) -> Tensor:
        return self.edge_weights(self.node_terms(x), structure.row, structure.col)


def fold_edge_weights(maps: Tensor, weights: Optional[Tensor]) -> Tensor:
    """``w_e F_e`` per edge (identity when ``weights`` is None). With symmetric w the products
    :math:`F_i^\\top F_j` scale by :math:`w^2` and orthogonal maps stay scaled-orthogonal.

    Shapes:
        maps: ``(|E|, d, d)`` or diagonal ``(|E|, d)``; weights: ``(|E|,)``; returns the shape of maps.
    """
    return maps if weights is None else maps * weights.reshape(-1, *([1] * (maps.dim() - 1)))
