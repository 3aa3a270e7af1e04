r"""One step of Neural Sheaf Diffusion as a PyG-style layer (Bodnar et al., NeurIPS 2022, Eq. 13).

With node signals :math:`X \in \mathbb{R}^{|V| D \times C}` (D stalk dimensions of C channels each),

.. math::
    X \leftarrow (1 + \tanh\varepsilon) \odot X
        - \sigma\big(\Delta_{\mathcal{F}(X)} (I_{|V|} \otimes W_1) X W_2\big),

where :math:`\Delta_{\mathcal{F}(X)}` is the normalised augmented sheaf Laplacian of maps learned from X itself,
:math:`W_1 \in \mathbb{R}^{D \times D}` mixes stalk dimensions, :math:`W_2 \in \mathbb{R}^{C \times C}` mixes
channels, ε ∈ R^D and σ = ELU. The first d stalk dimensions carry the learned sheaf; the optional fixed ones
(:mod:`sheafgraph.sheaf.stalks`) diffuse with D ± A.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sheafgraph.ops import GraphStructure, SparseOperator, sheaf_laplacian
from sheafgraph.ops.structure import StructureLike
from sheafgraph.sheaf.cache import StructureCache
from sheafgraph.sheaf.learners import EdgeWeightLearner, SheafLearner, fold_edge_weights
from sheafgraph.sheaf.stalks import check_fixed_stalks, fixed_stalk_laplacian
from sheafgraph.utils.checks import check_choice, positive_int

NORMALIZATIONS = ("sym", None)


class SheafDiffusionTerm(nn.Module):
    r"""The diffusion term :math:`\Delta_{\mathcal{F}(X)} (I \otimes W_1) X W_2` with a learned sheaf.

    Shared by the discrete layer (:class:`SheafConv`) and the continuous model's vector field.

    Args:
        channels: C, channels per stalk dimension.
        d: dimension of the learned stalks.
        maps: ``"diag"``, ``"orthogonal"`` (O(d) bundle) or ``"general"``.
        extra_stalks: fixed stalk dimensions appended after the learned ones (``"signless"``, ``"laplacian"``).
        orthogonal: O(d) parameterisation (``"householder"``, ``"cayley"``, ``"matrix_exp"``, ``"euler"``).
        edge_weights: learn symmetric edge weights (``maps="orthogonal"`` only), folded into the maps.
        sheaf_act: activation of the sheaf learner (``"tanh"``, ``"elu"``, ``"id"``).
        learner_inputs: ``"concat"`` or ``"stalk_sum"`` (:class:`SheafLearner`).
        left_weights, right_weights: learn W1 (identity init) / W2 (orthogonal init); else the identity.
        normalization: ``"sym"`` (normalised augmented Laplacian, NSD) or None.

    Shapes:
        x: ``(|V|, D, C)`` with D = d + len(extra_stalks); returns ``(|V|, D, C)``.
    """

    def __init__(self, channels: int, d: int, maps: str = "diag", *, extra_stalks: Sequence[str] = (),
                 orthogonal: str = "householder", edge_weights: bool = False, sheaf_act: str = "tanh",
                 learner_inputs: str = "concat", left_weights: bool = True, right_weights: bool = True,
                 normalization: Optional[str] = "sym"):
        super().__init__()
        positive_int(channels, "channels"), positive_int(d, "d")
        self.extra_stalks = check_fixed_stalks(extra_stalks)
        self.normalization = check_choice(normalization, NORMALIZATIONS, "normalization")
        self.channels, self.d = channels, d
        self.stalk_dim = d + len(self.extra_stalks)
        self.learner = SheafLearner(channels, self.stalk_dim, d, maps, orthogonal=orthogonal, act=sheaf_act,
                                    inputs=learner_inputs)
        if edge_weights and maps != "orthogonal":
            raise ValueError(f"edge_weights are learned for maps='orthogonal' only (diagonal and general maps "
                             f"already scale freely), got maps={maps!r}")
        self.weight_learner = EdgeWeightLearner(channels, self.stalk_dim) if edge_weights else None
        self.left = nn.Linear(self.stalk_dim, self.stalk_dim, bias=False) if left_weights else None
        self.right = nn.Linear(channels, channels, bias=False) if right_weights else None
        self.reset_parameters()

    @property
    def maps(self) -> str:
        return self.learner.kind

    def reset_parameters(self) -> None:
        self.learner.reset_parameters()
        if self.weight_learner is not None:
            self.weight_learner.reset_parameters()
        if self.left is not None:
            nn.init.eye_(self.left.weight)
        if self.right is not None:
            nn.init.orthogonal_(self.right.weight)

    def sheaf_parameters(self):
        """Parameters of the sheaf (and edge-weight) learners, for their own weight decay."""
        yield from self.learner.parameters()
        if self.weight_learner is not None:
            yield from self.weight_learner.parameters()

    def laplacian(self, x: Tensor, structure: GraphStructure) -> SparseOperator:
        """The learned sheaf Laplacian :math:`\\Delta_{\\mathcal{F}(X)}` on the first d stalk dimensions."""
        maps = self.learner(x, structure)
        orthogonal = self.maps == "orthogonal"
        if orthogonal and self.weight_learner is not None:
            maps = fold_edge_weights(maps, self.weight_learner(x, structure))
        return sheaf_laplacian(structure, maps, normalization=self.normalization, augmented=True,
                               orthogonal=orthogonal, validate=False)

    def mix(self, x: Tensor) -> Tensor:
        """:math:`(I \\otimes W_1) X W_2`, as one product with :math:`W_1 \\otimes W_2` per node."""
        if self.left is None and self.right is None:
            return x
        kw = dict(dtype=x.dtype, device=x.device)
        w1 = self.left.weight if self.left is not None else torch.eye(self.stalk_dim, **kw)
        w2 = self.right.weight if self.right is not None else torch.eye(self.channels, **kw)
        return (x.flatten(1) @ torch.kron(w1, w2).t()).view_as(x)

    def forward(self, x: Tensor, structure: GraphStructure, maps_input: Optional[Tensor] = None) -> Tensor:
        """``maps_input`` (default x) is what the sheaf is learned from, e.g. a dropout of x."""
        lap = self.laplacian(x if maps_input is None else maps_input, structure)
        h = self.mix(x)
        d = self.d
        out = lap.matmul(h[:, :d].reshape(-1, self.channels))
        if self.extra_stalks:
            fixed = fixed_stalk_laplacian(structure, self.extra_stalks, self.normalization, h.dtype)
            out = torch.cat([out.view(-1, d, self.channels), fixed.matmul(h[:, d:].contiguous())], dim=1)
        return out.view_as(h)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, d={self.d}, maps={self.maps}, extra_stalks={list(self.extra_stalks)}, "
                f"normalization={self.normalization}")


class SheafConv(nn.Module):
    r"""Discrete sheaf diffusion layer, :math:`X \leftarrow (1 + \tanh\varepsilon) \odot X - \sigma(\Delta_{\mathcal{F}(X)}
    (I \otimes W_1) X W_2)` (Bodnar et al., NeurIPS 2022, Eq. 13).

    A plain :class:`torch.nn.Module` with the PyG calling convention ``conv(x, edge_index)`` (it does not message-pass
    through ``propagate``: the sheaf Laplacian is one block-sparse product from :mod:`sheafgraph.ops`). Works in
    ``torch_geometric.nn.Sequential``, on ``Batch`` objects (a batch is one disconnected graph) and on mini-batch
    subgraphs; nothing about a graph is stored unless ``cached=True``. A sheaf Laplacian needs both directions of
    every edge: induced subgraphs (``ClusterLoader``, GraphSAINT, ``subgraph``) qualify as they are, sampled
    neighbourhoods (``NeighborLoader``) after ``torch_geometric.utils.to_undirected``.

    Args:
        channels: C, channels per stalk dimension; the layer maps ``(|V|, D·C)`` to ``(|V|, D·C)``.
        d: learned stalk dimension.
        maps: ``"diag"``, ``"orthogonal"`` or ``"general"``.
        dropout: dropout on the diffused signal (training only).
        learner_dropout: dropout on the sheaf learner's input (training only).
        act: apply ELU (σ) to the diffusion term.
        cached: reuse the graph structure while the same ``edge_index`` tensor (same version) is passed.
        **term_kwargs: the options of :class:`SheafDiffusionTerm` (``extra_stalks``, ``orthogonal``,
            ``edge_weights``, ``sheaf_act``, ``learner_inputs``, ``left_weights``, ``right_weights``,
            ``normalization``).

    Shapes:
        x: ``(|V|, D·C)`` (or ``(|V|, D, C)``, returned in the same shape); edge_index: ``(2, |E|)`` with both
        directions of every edge and no self-loops, or a :class:`~sheafgraph.ops.GraphStructure`.
    """

    def __init__(self, channels: int, d: int, maps: str = "diag", *, dropout: float = 0.0,
                 learner_dropout: float = 0.0, act: bool = True, cached: bool = False, **term_kwargs):
        super().__init__()
        self.term = SheafDiffusionTerm(channels, d, maps, **term_kwargs)
        self.epsilon = nn.Parameter(torch.zeros(self.term.stalk_dim))
        self.dropout, self.learner_dropout, self.act = dropout, learner_dropout, act
        self._structures = StructureCache(cached)

    @property
    def stalk_dim(self) -> int:
        return self.term.stalk_dim

    @property
    def channels(self) -> int:
        return self.term.channels

    def reset_parameters(self) -> None:
        self.term.reset_parameters()
        nn.init.zeros_(self.epsilon)

    def sheaf_parameters(self):
        return self.term.sheaf_parameters()

    def _as_stalks(self, x: Tensor) -> Tensor:
        D, C = self.stalk_dim, self.channels
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating tensor, got {getattr(x, 'dtype', type(x).__name__)}")
        if x.dim() == 2 and x.size(1) == D * C:
            return x.view(-1, D, C)
        if x.dim() == 3 and x.shape[1:] == (D, C):
            return x
        raise ValueError(f"x must have shape (|V|, {D * C}) or (|V|, {D}, {C}) (stalk dimension {D}, {C} channels), "
                         f"got {tuple(x.shape)}")

    def structure(self, x: Tensor, edge_index: StructureLike) -> GraphStructure:
        """The (validated, possibly cached) structure of ``edge_index`` for the nodes of x."""
        return self._structures(edge_index, x.size(0))

    def laplacian(self, x: Tensor, edge_index: StructureLike) -> SparseOperator:
        """The learned sheaf Laplacian this layer diffuses x with (for diagnostics)."""
        return self.term.laplacian(self._as_stalks(x), self.structure(x, edge_index))

    def forward(self, x: Tensor, edge_index: StructureLike) -> Tensor:
        h = self._as_stalks(x)
        structure = self.structure(x, edge_index)
        maps_input = F.dropout(h, self.learner_dropout, self.training)
        y = self.term(F.dropout(h, self.dropout, self.training), structure, maps_input)
        if self.act:
            y = F.elu(y)
        out = (1 + torch.tanh(self.epsilon)).unsqueeze(-1) * h - y
        return out.view_as(x)

    def __repr__(self) -> str:
        t = self.term
        return (f"{self.__class__.__name__}({t.channels}, d={t.d}, maps={t.maps}, "
                f"extra_stalks={list(t.extra_stalks)}, dropout={self.dropout})")
