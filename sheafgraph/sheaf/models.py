r"""Neural Sheaf Diffusion models for node classification (Bodnar et al., "Neural Sheaf Diffusion: A Topological
Perspective on Heterophily and Oversmoothing in GNNs", NeurIPS 2022).

Both models embed the input features into D stalk dimensions of C channels (D = d + number of fixed extra stalks),

.. math::
    X_0 = \mathrm{view}_{|V| \times D \times C}\big(\mathrm{drop}(\sigma(W_{in}\, \mathrm{drop}(X_{in})))\big),

diffuse, and classify :math:`\mathrm{logits} = W_{out}\, \mathrm{vec}(X_T)` per node:

* :class:`NSD` (discrete): L layers of :class:`~sheafgraph.sheaf.conv.SheafConv`, each learning its own sheaf from
  its current input (the paper's default: the sheaf is re-learned at every layer, never fixed after the first).
* :class:`ContinuousNSD`: :math:`\dot X(t) = -\Delta_{\mathcal{F}(X(t))} (I \otimes W_1) X(t) W_2` on [0, T],
  integrated by ``torchdiffeq.odeint`` (or ``odeint_adjoint``); the sheaf is re-learned at every evaluation.

The graph structure (validation, reverse edges, CSR pattern) is built once per forward (or reused with
``cached=True`` / by passing a :class:`~sheafgraph.ops.GraphStructure`) and shared by every layer.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchdiffeq import odeint, odeint_adjoint

from sheafgraph.ops import GraphStructure
from sheafgraph.ops.dropout import dropout
from sheafgraph.ops.structure import StructureLike
from sheafgraph.sheaf.cache import StructureCache
from sheafgraph.sheaf.conv import SheafConv, SheafDiffusionTerm
from sheafgraph.sheaf.history import HistoryView, detached
from sheafgraph.sheaf.stalks import check_fixed_stalks
from sheafgraph.utils.checks import positive_int


def _check_prob(name: str, p: float) -> float:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {p}")
    return p


class _NSDBase(nn.Module):
    """Input embedding, output layer, parameter groups and structure handling shared by both models."""

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int, d: int, extra_stalks: Sequence[str],
                 input_dropout: float, dropout: float, use_act: bool, second_linear: bool, cached: bool):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("hidden_channels", hidden_channels), ("d", d)):
            positive_int(value, name)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.hidden_channels, self.d = hidden_channels, d
        self.stalk_dim = d + len(check_fixed_stalks(extra_stalks))
        self.input_dropout = _check_prob("input_dropout", input_dropout)
        self.dropout = _check_prob("dropout", dropout)
        self.use_act = use_act
        width = hidden_channels * self.stalk_dim
        self.lin_in = nn.Linear(in_channels, width)
        self.lin_in2 = nn.Linear(width, width) if second_linear else None
        self.lin_out = nn.Linear(width, out_channels)
        self._structures = StructureCache(cached)

    def embed(self, x: Tensor) -> Tensor:
        """:math:`X_0`, shape ``(|V|, D, C)``; x may be dense or a sparse CSR tensor (bag-of-words features: the
        input layer then costs O(nnz) instead of O(|V| F), and input dropout acts on the stored entries, which is
        the same as dense dropout since dropped zeros stay zero)."""
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() != 2 or x.size(1) != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be a floating tensor of shape (|V|, {self.in_channels}), got {shape}")
        if x.layout == torch.sparse_csr:
            values = dropout(x.values(), self.input_dropout, self.training)
            x = torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(), values, x.shape, check_invariants=False)
            h = torch.sparse.mm(x, self.lin_in.weight.t()) + self.lin_in.bias
        elif x.layout == torch.strided:
            h = self.lin_in(dropout(x, self.input_dropout, self.training))
        else:
            raise TypeError(f"x must be dense or sparse CSR (x.to_sparse_csr()), got layout {x.layout}")
        if self.use_act:
            h = F.elu(h)
        h = dropout(h, self.dropout, self.training)
        if self.lin_in2 is not None:
            h = self.lin_in2(h)
        return h.view(-1, self.stalk_dim, self.hidden_channels)

    def structure(self, x: Tensor, edge_index: StructureLike) -> GraphStructure:
        return self._structures(edge_index, x.size(0))

    def sheaf_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of the sheaf and edge-weight learners (NSD gives them their own weight decay)."""
        for module in self.modules():
            if isinstance(module, SheafDiffusionTerm):
                yield from module.sheaf_parameters()

    def other_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter not in :meth:`sheaf_parameters`."""
        sheaf = {id(p) for p in self.sheaf_parameters()}
        return (p for p in self.parameters() if id(p) not in sheaf)


class NSD(_NSDBase):
    r"""Discrete Neural Sheaf Diffusion: input embedding, ``num_layers`` :class:`SheafConv` layers, linear output.

    Args:
        in_channels: input features per node.
        out_channels: number of classes.
        hidden_channels: C, channels per stalk dimension.
        d: learned stalk dimension.
        num_layers: diffusion layers (each learns its own sheaf).
        maps: ``"diag"``, ``"orthogonal"`` (O(d) bundle) or ``"general"``.
        input_dropout: dropout on the input features.
        dropout: dropout after the embedding, on each layer's diffused signal and (after the first layer) on the
            sheaf learners' inputs.
        use_act: ELU after the embedding and on each diffusion term.
        second_linear: a second (linear) embedding layer.
        extra_stalks: fixed stalk dimensions, ``"signless"`` (D + A) and/or ``"laplacian"`` (D - A).
        cached: reuse the graph structure across calls with the same ``edge_index`` tensor.
        **conv_kwargs: passed to every :class:`SheafConv` (``orthogonal``, ``edge_weights``, ``sheaf_act``,
            ``learner_inputs``, ``left_weights``, ``right_weights``, ``normalization``).

    Shapes:
        x: ``(|V|, in_channels)``, dense or sparse CSR; edge_index: ``(2, |E|)`` (both directions, no self-loops) or a
        :class:`~sheafgraph.ops.GraphStructure`; returns logits ``(|V|, out_channels)``.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int = 20, d: int = 2,
                 num_layers: int = 2, maps: str = "diag", *, input_dropout: float = 0.0, dropout: float = 0.0,
                 use_act: bool = True, second_linear: bool = False, extra_stalks: Sequence[str] = (),
                 cached: bool = False, **conv_kwargs):
        super().__init__(in_channels, out_channels, hidden_channels, d, extra_stalks, input_dropout, dropout,
                         use_act, second_linear, cached)
        positive_int(num_layers, "num_layers")
        width = self.stalk_dim * hidden_channels                   # the paper's layer: no projections
        self.convs = nn.ModuleList([
            SheafConv(width, width, d, maps, channels=hidden_channels, dropout=dropout,
                      learner_dropout=dropout if k > 0 else 0.0, act=use_act, extra_stalks=extra_stalks, **conv_kwargs)
            for k in range(num_layers)])

    def forward(self, x: Tensor, edge_index: StructureLike, *, edge_chunk: Optional[int] = None,
                history: Optional[HistoryView] = None) -> Tensor:
        """``edge_chunk``: compute each layer's sheaf that many edges at a time, never for the whole graph at once
        (for inference on large graphs; :meth:`SheafDiffusionTerm.forward`). ``history``: record every node's layer
        inputs, degrees and output (a whole-graph pass) or take the halo's from them (a history batch, whose halo
        logits carry the history's values and gradients into B only; :mod:`sheafgraph.sheaf.history`).

        Raises:
            ValueError: ``history`` with fixed extra stalks (their D ± A would need the halo's graph degrees too).
        """
        if history is not None and self.convs[0].term.extra_stalks:
            raise ValueError("history batches support NSD models without fixed extra stalks (extra_stalks=()); "
                             "use another sampler for this model")
        structure = self.structure(x, edge_index)
        h = self.embed(x)
        if history is None:
            for conv in self.convs:
                h = conv(h, structure, edge_chunk=edge_chunk)
            return self.lin_out(h.flatten(1))
        for k, conv in enumerate(self.convs):
            h_in, degrees = history.layer_input(k, h), history.degree_hook(k)
            h = conv(h_in, structure, edge_chunk=edge_chunk, degrees=degrees)
        recompute = lambda: detached(conv)(h_in, structure, edge_chunk=edge_chunk, degrees=degrees)  # noqa: E731
        return history.logits(len(self.convs), h, recompute, self.lin_out)


class _SheafVectorField(nn.Module):
    """``f(t, X) = -Δ_F(X) (I ⊗ W1) X W2`` on one graph (built per forward: it holds the structure)."""

    def __init__(self, term: SheafDiffusionTerm, structure: GraphStructure, edge_chunk: Optional[int] = None):
        super().__init__()
        self.term = term
        self.structure = structure
        self.edge_chunk = edge_chunk
        self.nfe = 0

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        self.nfe += 1
        return -self.term(x, self.structure, edge_chunk=self.edge_chunk)


class ContinuousNSD(_NSDBase):
    r"""Continuous Neural Sheaf Diffusion, :math:`\dot X = -\Delta_{\mathcal{F}(X)} (I \otimes W_1) X W_2` on [0, T].

    ``in_channels``, ``out_channels``, ``hidden_channels``, ``d``, ``maps``, ``input_dropout``, ``dropout``,
    ``use_act``, ``second_linear``, ``extra_stalks`` and ``cached`` are as for :class:`NSD` (``dropout`` acts on the
    embedding only).

    Args:
        time: integration time T.
        method: a ``torchdiffeq`` solver (``"dopri5"``, ``"rk4"``, ``"euler"``, ...).
        step_size: step of fixed-step solvers (default: one step over [0, T]).
        rtol, atol: tolerances of adaptive solvers.
        adjoint: back-propagate with ``odeint_adjoint`` (memory constant in the number of steps) in training.
        **term_kwargs: options of :class:`~sheafgraph.sheaf.conv.SheafDiffusionTerm`.

    Shapes:
        as :class:`NSD`. ``self.last_nfe`` holds the number of function evaluations of the last forward.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int = 20, d: int = 2,
                 maps: str = "diag", *, time: float = 1.0, method: str = "dopri5", step_size: Optional[float] = None,
                 rtol: float = 1e-5, atol: float = 1e-7, adjoint: bool = False, input_dropout: float = 0.0,
                 dropout: float = 0.0, use_act: bool = True, second_linear: bool = False,
                 extra_stalks: Sequence[str] = (), cached: bool = False, **term_kwargs):
        super().__init__(in_channels, out_channels, hidden_channels, d, extra_stalks, input_dropout, dropout,
                         use_act, second_linear, cached)
        if not time > 0:
            raise ValueError(f"time must be positive, got {time}")
        self.term = SheafDiffusionTerm(hidden_channels, d, maps, extra_stalks=extra_stalks, **term_kwargs)
        self.time, self.method, self.step_size = float(time), method, step_size
        self.rtol, self.atol, self.adjoint = rtol, atol, adjoint
        self.last_nfe = 0

    def forward(self, x: Tensor, edge_index: StructureLike, *, edge_chunk: Optional[int] = None) -> Tensor:
        """``edge_chunk`` as for :meth:`NSD.forward`."""
        structure = self.structure(x, edge_index)
        h0 = self.embed(x)
        field = _SheafVectorField(self.term, structure, edge_chunk)
        t = torch.tensor([0.0, self.time], dtype=h0.dtype, device=h0.device)
        options = {"step_size": self.step_size} if self.step_size is not None else None
        kwargs: Dict[str, Any] = dict(method=self.method, rtol=self.rtol, atol=self.atol, options=options)
        if self.adjoint and self.training:
            hT = odeint_adjoint(field, h0, t, adjoint_params=tuple(self.term.parameters()), **kwargs)[-1]
        else:
            hT = odeint(field, h0, t, **kwargs)[-1]
        self.last_nfe = field.nfe
        return self.lin_out(hT.flatten(1))


# name -> (class, fixed keyword arguments, default keyword arguments)
_MODELS: Dict[str, Tuple[type, Dict[str, Any], Dict[str, Any]]] = {
    "diag": (NSD, {"maps": "diag"}, {}),
    "bundle": (NSD, {"maps": "orthogonal"}, {"edge_weights": True}),
    "general": (NSD, {"maps": "general"}, {}),
    "diag_ode": (ContinuousNSD, {"maps": "diag"}, {}),
    "bundle_ode": (ContinuousNSD, {"maps": "orthogonal"}, {"edge_weights": True}),
    "general_ode": (ContinuousNSD, {"maps": "general"}, {}),
}
NSD_MODELS = tuple(_MODELS)


def build_nsd(name: str, in_channels: int, out_channels: int, **kwargs) -> nn.Module:
    """An NSD model by name: ``"diag"``, ``"bundle"`` (O(d), learned edge weights by default), ``"general"`` and their
    continuous ``"*_ode"`` versions.

    Raises:
        ValueError: unknown name (the message lists the valid ones) or an option the name fixes (``maps``).
    """
    if name not in _MODELS:
        raise ValueError(f"unknown NSD model {name!r}; valid names: {', '.join(NSD_MODELS)}")
    cls, fixed, defaults = _MODELS[name]
    clash = set(fixed) & set(kwargs)
    if clash:
        raise ValueError(f"model {name!r} fixes {sorted(clash)}; choose another model name instead")
    return cls(in_channels, out_channels, **fixed, **{**defaults, **kwargs})
