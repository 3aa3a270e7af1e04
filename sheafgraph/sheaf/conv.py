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

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sheafgraph.ops import GraphStructure, SparseOperator, check_values, sheaf_laplacian, streamed_sheaf_matmul
from sheafgraph.ops.dropout import dropout
from sheafgraph.ops.sheaf import DegreeHook
from sheafgraph.ops.structure import StructureLike
from sheafgraph.sheaf.cache import StructureCache
from sheafgraph.sheaf.learners import EdgeWeightLearner, SheafLearner, fold_edge_weights
from sheafgraph.sheaf.stalks import check_fixed_stalks, fixed_stalk_laplacian
from sheafgraph.utils.checks import check_choice, positive_int, probability

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

    def _node_terms(self, x: Tensor) -> Tuple[Tuple[Tensor, Tensor], Optional[Tuple[Tensor, Tensor]]]:
        """The per-node halves of the sheaf and edge-weight learners."""
        return self.learner.node_terms(x), None if self.weight_learner is None else self.weight_learner.node_terms(x)

    def _edge_maps(self, terms, row: Tensor, col: Tensor, edge_weight: Optional[Tensor]) -> Tensor:
        """The learned maps of the directed edges (row, col), learned weights and the given (trusted) weights of
        these edges folded in (:math:`\\sqrt{w}`)."""
        maps = self.learner.edge_maps(terms[0], row, col)
        if terms[1] is not None:
            maps = fold_edge_weights(maps, self.weight_learner.edge_weights(terms[1], row, col))
        if edge_weight is not None:
            maps = fold_edge_weights(maps, edge_weight.to(maps.dtype).sqrt())
        return maps

    def laplacian(self, x: Tensor, structure: GraphStructure, edge_weight: Optional[Tensor] = None,
                  degrees: Optional[DegreeHook] = None) -> SparseOperator:
        """The learned sheaf Laplacian :math:`\\Delta_{\\mathcal{F}(X)}` on the first d stalk dimensions; a given
        (trusted) ``edge_weight`` w scales each edge's coupling (maps times :math:`\\sqrt{w}`); ``degrees`` may
        replace the degree blocks (:func:`~sheafgraph.ops.sheaf_laplacian`)."""
        maps = self._edge_maps(self._node_terms(x), structure.row, structure.col, edge_weight)
        return sheaf_laplacian(structure, maps, normalization=self.normalization, augmented=True,
                               orthogonal=self.maps == "orthogonal", validate=False, degrees=degrees)

    def _streamed(self, x: Tensor, structure: GraphStructure, edge_weight: Optional[Tensor], h: Tensor,
                  chunk: int, degrees: Optional[DegreeHook]) -> Tensor:
        """:meth:`laplacian` of x times h, its maps computed ``chunk`` edges at a time
        (:func:`~sheafgraph.ops.streamed_sheaf_matmul`)."""
        terms = self._node_terms(x)
        rev = None if edge_weight is None else structure.reverse_index()

        def maps_of(start: int, stop: int, reverse: bool) -> Tensor:
            row, col = structure.row[start:stop], structure.col[start:stop]
            if reverse:
                weight = None if rev is None else edge_weight.index_select(0, rev[start:stop])
                return self._edge_maps(terms, col, row, weight)
            return self._edge_maps(terms, row, col, None if rev is None else edge_weight[start:stop])

        return streamed_sheaf_matmul(structure, maps_of, h, chunk, self.normalization, augmented=True,
                                     orthogonal=self.maps == "orthogonal", degrees=degrees)

    def mix(self, x: Tensor) -> Tensor:
        """:math:`(I \\otimes W_1) X W_2`, as one product with :math:`W_1 \\otimes W_2` per node."""
        if self.left is None and self.right is None:
            return x
        kw = dict(dtype=x.dtype, device=x.device)
        w1 = self.left.weight if self.left is not None else torch.eye(self.stalk_dim, **kw)
        w2 = self.right.weight if self.right is not None else torch.eye(self.channels, **kw)
        return (x.flatten(1) @ torch.kron(w1, w2).t()).view_as(x)

    def forward(self, x: Tensor, structure: GraphStructure, maps_input: Optional[Tensor] = None,
                edge_weight: Optional[Tensor] = None, edge_chunk: Optional[int] = None,
                degrees: Optional[DegreeHook] = None) -> Tensor:
        """``maps_input`` (default x) is what the sheaf is learned from, e.g. a dropout of x. With ``edge_chunk`` the
        sheaf is never held for the whole graph: its maps are computed that many edges at a time (three times; for
        inference on graphs whose sheaf does not fit in memory); a graph of at most ``edge_chunk`` edges is one chunk
        and takes the whole-graph path. ``degrees`` may replace the learned sheaf's degree blocks
        (:func:`~sheafgraph.ops.sheaf_laplacian`; historical mini-batches)."""
        source = x if maps_input is None else maps_input
        h = self.mix(x)
        d, channels = self.d, self.channels
        if edge_chunk is None or structure.num_edges <= edge_chunk:
            out = self.laplacian(source, structure, edge_weight, degrees).matmul(h[:, :d].reshape(-1, channels))
        else:
            out = self._streamed(source, structure, edge_weight, h[:, :d], edge_chunk, degrees)
        if self.extra_stalks:
            fixed = fixed_stalk_laplacian(structure, self.extra_stalks, self.normalization, h.dtype)
            out = torch.cat([out.view(-1, d, channels), fixed.matmul(h[:, d:].contiguous())], dim=1)
        return out.view_as(h)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, d={self.d}, maps={self.maps}, extra_stalks={list(self.extra_stalks)}, "
                f"normalization={self.normalization}")


class SheafConv(nn.Module):
    r"""Discrete sheaf diffusion layer, :math:`X \leftarrow (1 + \tanh\varepsilon) \odot X - \sigma(\Delta_{\mathcal{F}(X)}
    (I \otimes W_1) X W_2)` (Bodnar et al., NeurIPS 2022, Eq. 13), between optional input and output projections.

    The diffusion runs on D = d + len(extra_stalks) stalk dimensions of C channels (``channels``; default
    ``out_channels / D``). ``in_channels`` is projected to D·C and D·C to ``out_channels`` by linear layers where
    they differ; ``SheafConv(D * C, D * C, d)`` is the paper's layer with no projection.

    A plain :class:`torch.nn.Module` with the PyG calling convention ``conv(x, edge_index, edge_weight=None)`` (the
    sheaf Laplacian is one block-sparse product from :mod:`sheafgraph.ops`, not ``propagate``). Works in
    ``torch_geometric.nn.Sequential``, on ``Batch`` objects (a batch is one disconnected graph), on mini-batch
    subgraphs and under ``torch.compile`` (no graph break with a prebuilt structure after one eager call); nothing
    about a graph is stored unless ``cached=True``. A sheaf Laplacian needs both directions of every edge: induced
    subgraphs (``ClusterLoader``, GraphSAINT, ``subgraph``) qualify as they are, sampled neighbourhoods
    (``NeighborLoader``) after ``torch_geometric.utils.to_undirected``.

    Args:
        in_channels: input features per node.
        out_channels: output features per node.
        d: learned stalk dimension.
        maps: ``"diag"``, ``"orthogonal"`` or ``"general"``.
        channels: C, channels per stalk dimension (default ``out_channels // D``, which must then divide evenly).
        dropout: dropout on the diffused signal (training only).
        learner_dropout: dropout on the sheaf learner's input (training only).
        act: apply ELU (σ) to the diffusion term.
        cached: reuse the graph structure while the same ``edge_index`` tensor (same version) is passed.
        **term_kwargs: the options of :class:`SheafDiffusionTerm` (``extra_stalks``, ``orthogonal``,
            ``edge_weights``, ``sheaf_act``, ``learner_inputs``, ``left_weights``, ``right_weights``,
            ``normalization``).

    Shapes:
        x: ``(|V|, in_channels)`` (or ``(|V|, D, C)`` when ``in_channels == D·C``); edge_index: ``(2, |E|)`` with
        both directions of every edge and no self-loops, a :class:`~sheafgraph.ops.GraphStructure`, or a sparse
        ``(|V|, |V|)`` adjacency (torch COO/CSR or ``torch_sparse.SparseTensor``; its values are edge weights);
        edge_weight: ``(|E|,)`` non-negative, scaling the coupling of each edge (:math:`L_{ij} = -w_{ij}
        F_{i}^\top F_{j}`; folded into the maps as :math:`\sqrt{w}`); returns ``(|V|, out_channels)`` (or
        ``(|V|, D, C)`` for 3-D input without projections).
    """

    def __init__(self, in_channels: int, out_channels: int, d: int = 2, maps: str = "diag", *,
                 channels: Optional[int] = None, dropout: float = 0.0, learner_dropout: float = 0.0, act: bool = True,
                 cached: bool = False, **term_kwargs):
        super().__init__()
        self.in_channels = positive_int(in_channels, "in_channels")
        self.out_channels = positive_int(out_channels, "out_channels")
        stalk_dim = positive_int(d, "d") + len(check_fixed_stalks(term_kwargs.get("extra_stalks", ())))
        if channels is None:
            if out_channels % stalk_dim:
                raise ValueError(f"out_channels={out_channels} is not a multiple of the stalk dimension D={stalk_dim}; "
                                 f"pass channels=C (the diffusion then runs on D·C features)")
            channels = out_channels // stalk_dim
        self.term = SheafDiffusionTerm(positive_int(channels, "channels"), d, maps, **term_kwargs)
        width = self.term.stalk_dim * self.term.channels
        self.lin_in = nn.Linear(in_channels, width) if in_channels != width else None
        self.lin_out = nn.Linear(width, out_channels) if out_channels != width else None
        self.epsilon = nn.Parameter(torch.zeros(self.term.stalk_dim))
        self.dropout = probability(dropout, "dropout")
        self.learner_dropout = probability(learner_dropout, "learner_dropout")
        self.act = act
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
        for lin in (self.lin_in, self.lin_out):
            if lin is not None:
                lin.reset_parameters()

    def sheaf_parameters(self):
        return self.term.sheaf_parameters()

    def _as_stalks(self, x: Tensor) -> Tensor:
        D, C = self.stalk_dim, self.channels
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating tensor, got {getattr(x, 'dtype', type(x).__name__)}")
        if x.dim() == 3 and self.lin_in is None and x.shape[1:] == (D, C):
            return x
        if x.dim() != 2 or x.size(1) != self.in_channels:
            shape = f" or (|V|, {D}, {C})" if self.lin_in is None else ""
            raise ValueError(f"x must have shape (|V|, {self.in_channels}){shape}, got {tuple(x.shape)}")
        return (x if self.lin_in is None else self.lin_in(x)).view(-1, D, C)

    def structure(self, x: Tensor, edge_index: StructureLike) -> GraphStructure:
        """The (validated, possibly cached) structure of ``edge_index`` for the nodes of x."""
        return self._structures(edge_index, x.size(0))

    def _graph(self, x: Tensor, edge_index, edge_weight: Optional[Tensor]):
        """The structure of the graph given in any accepted form, and its checked edge weights."""
        edge_index, edge_weight = split_adjacency(edge_index, edge_weight)
        structure = self.structure(x, edge_index)
        return structure, checked_weight(edge_weight, structure)

    def laplacian(self, x: Tensor, edge_index, edge_weight: Optional[Tensor] = None) -> SparseOperator:
        """The learned sheaf Laplacian this layer diffuses x with (for diagnostics)."""
        structure, edge_weight = self._graph(x, edge_index, edge_weight)
        return self.term.laplacian(self._as_stalks(x), structure, edge_weight)

    def forward(self, x: Tensor, edge_index, edge_weight: Optional[Tensor] = None, *,
                edge_chunk: Optional[int] = None, degrees: Optional[DegreeHook] = None) -> Tensor:
        """``edge_chunk`` and ``degrees`` as for :meth:`SheafDiffusionTerm.forward`."""
        structure, edge_weight = self._graph(x, edge_index, edge_weight)
        h = self._as_stalks(x)
        maps_input = dropout(h, self.learner_dropout, self.training)
        y = self.term(dropout(h, self.dropout, self.training), structure, maps_input, edge_weight, edge_chunk,
                      degrees)
        if self.act:
            y = F.elu(y)
        out = (1 + torch.tanh(self.epsilon)).unsqueeze(-1) * h - y
        if self.lin_out is not None:
            return self.lin_out(out.flatten(1))
        return out if x.dim() == 3 else out.flatten(1)

    def __repr__(self) -> str:
        t = self.term
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, d={t.d}, maps={t.maps!r}, "
                f"channels={t.channels}, extra_stalks={list(t.extra_stalks)}, dropout={self.dropout})")


def split_adjacency(adjacency, edge_weight: Optional[Tensor] = None):
    """``(edge_index or structure, edge_weight)`` from what a layer was given: an ``edge_index``, a
    :class:`GraphStructure`, a torch sparse ``(|V|, |V|)`` adjacency (COO or CSR) or a ``torch_sparse.SparseTensor``
    (their stored values become the edge weights unless ``edge_weight`` is given)."""
    if isinstance(adjacency, Tensor) and adjacency.layout in (torch.sparse_coo, torch.sparse_csr):
        coo = adjacency.to_sparse_coo().coalesce()
        return coo.indices(), coo.values() if edge_weight is None else edge_weight
    if hasattr(adjacency, "coo") and not isinstance(adjacency, (Tensor, GraphStructure)):     # torch_sparse
        row, col, value = adjacency.coo()
        return torch.stack([row, col]), value if edge_weight is None else edge_weight
    return adjacency, edge_weight


def checked_weight(edge_weight: Optional[Tensor], structure: GraphStructure) -> Optional[Tensor]:
    """``edge_weight`` validated against the structure (finite, non-negative, one per edge); skipped under
    ``torch.compile``, whose graphs take trusted values."""
    if edge_weight is not None and not torch.compiler.is_compiling():
        check_values(edge_weight, "edge_weight", (structure.num_edges,), nonnegative=True)
    return edge_weight
