r"""Sheaf Laplacians from restriction maps (Hansen & Ghrist 2019; Bodnar et al., NeurIPS 2022, Sec. 2-4).

For the directed edge e = (i, j), ``maps[e]`` is :math:`F_{i \trianglelefteq e}`, the map from the stalk of i into the
stalk of the edge {i, j}; the reverse edge holds :math:`F_{j \trianglelefteq e}`. The sheaf Laplacian has blocks

.. math::
    L_{ij} = -F_{i \trianglelefteq e}^\top F_{j \trianglelefteq e}, \qquad
    L_{ii} = \sum_{e \ni i} F_{i \trianglelefteq e}^\top F_{i \trianglelefteq e},

so :math:`x^\top L x = \sum_{\{i,j\}} \lVert F_{i \trianglelefteq e} x_i - F_{j \trianglelefteq e} x_j \rVert^2 \ge 0`.
The normalised Laplacian is :math:`\hat L = D^{-1/2} L D^{-1/2}` with D the block diagonal of L, plus the identity
when ``augmented`` (NSD's choice, which keeps it well defined at isolated nodes).
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
from torch import Tensor

from sheafgraph.ops.kernels import LOW_PRECISION, csr_matmul
from sheafgraph.ops.laplacian import safe_pow
from sheafgraph.ops.operator import SparseOperator
from sheafgraph.ops.structure import GraphStructure, StructureLike, as_structure, check_values
from sheafgraph.utils.checks import positive_int


#: Largest batch handed to one ``torch.linalg.eigh`` call: batched cuSOLVER fails on 65,536 or more small blocks
#: (``CUSOLVER_STATUS_INTERNAL_ERROR`` on an H200, d = 2, 3, 5) and works up to 32,768.
EIGH_CHUNK = 32768


def _eigh(mats: Tensor, chunk: int) -> Tuple[Tensor, Tensor]:
    """Batched ``eigh`` in chunks of at most ``chunk`` matrices; half precision is solved in float32."""
    work = mats.float() if mats.dtype in LOW_PRECISION else mats
    flat = work.reshape(-1, *work.shape[-2:])
    if flat.size(0) <= chunk:
        lam, u = torch.linalg.eigh(flat)
    else:
        parts = [torch.linalg.eigh(block) for block in flat.split(chunk)]
        lam, u = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    return lam.reshape(work.shape[:-1]), u.reshape(work.shape)


class _SymMatrixPower(torch.autograd.Function):
    """``f(D) = D^p`` on the non-zero eigenvalues of symmetric PSD blocks, with a backward that is finite at
    repeated eigenvalues (Daleckii–Krein: divided differences of f, and f' where eigenvalues coincide)."""

    @staticmethod
    def forward(ctx, mats: Tensor, p: float, eps: float, chunk: int) -> Tensor:
        lam, u = _eigh(mats, chunk)
        f = safe_pow(torch.where(lam > eps, lam, torch.zeros_like(lam)), p)
        ctx.save_for_backward(lam, u, f)
        ctx.p, ctx.eps = p, eps
        return (u @ torch.diag_embed(f) @ u.transpose(-1, -2)).to(mats.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        lam, u, f = ctx.saved_tensors
        p, eps = ctx.p, ctx.eps
        li, lj = lam.unsqueeze(-1), lam.unsqueeze(-2)
        diff = li - lj
        close = diff.abs() <= 1e-9 * (li.abs() + lj.abs() + 1.0)
        mean = 0.5 * (li + lj)
        fprime = torch.where(mean > eps, p * safe_pow(mean.clamp_min(eps), p - 1.0), torch.zeros_like(mean))
        k = torch.where(close, fprime, (f.unsqueeze(-1) - f.unsqueeze(-2)) / torch.where(close, 1.0, diff))
        g = grad.to(u.dtype)
        g = u.transpose(-1, -2) @ (0.5 * (g + g.transpose(-1, -2))) @ u
        return (u @ (k * g) @ u.transpose(-1, -2)).to(grad.dtype), None, None, None


def sym_matrix_power(mats: Tensor, p: float, eps: float = 1e-10, *, chunk: Optional[int] = None) -> Tensor:
    r"""``D^p`` for a batch of symmetric positive semi-definite matrices (zero eigenvalues stay zero).

    With :math:`D = U \operatorname{diag}(\lambda) U^\top`, :math:`D^p = U \operatorname{diag}(\lambda^p) U^\top`
    (:math:`\lambda \le` ``eps`` maps to 0). Any batch size works on any device: the eigendecompositions run in
    chunks of at most ``chunk`` matrices (default :data:`EIGH_CHUNK`, read at call time; batched cuSOLVER fails above
    ~32k); float16/bfloat16 are solved in float32.

    Shapes:
        mats: ``(..., d, d)``; returns ``(..., d, d)``.
    """
    chunk = EIGH_CHUNK if chunk is None else chunk
    return _SymMatrixPower.apply(mats, p, eps, positive_int(chunk, "chunk"))


def check_scaled_orthogonal(maps: Tensor, rtol: float = 1e-4) -> None:
    r"""Raise a ValueError unless every map is a scaled orthogonal matrix, :math:`F^\top F = c I` (what
    ``orthogonal=True`` promises), up to ``rtol`` relative to :math:`c = \lVert F\rVert_F^2 / d`."""
    maps = maps.detach()
    gram = maps.transpose(-1, -2) @ maps
    c = gram.diagonal(dim1=-2, dim2=-1).mean(-1, keepdim=True).unsqueeze(-1)
    eye = torch.eye(maps.size(-1), dtype=maps.dtype, device=maps.device)
    error = (gram - c * eye).abs().amax((-2, -1)) / c.squeeze((-2, -1)).clamp_min(torch.finfo(maps.dtype).tiny)
    worst = int(error.argmax()) if error.numel() else 0
    if error.numel() and float(error[worst]) > rtol:
        raise ValueError(f"orthogonal=True but maps[{worst}] is not a scaled orthogonal matrix (max |FᵀF - cI| / c = "
                         f"{float(error[worst]):.2e}); pass orthogonal=False for general maps")


def sheaf_laplacian(edge_index: StructureLike, maps: Tensor, num_nodes: Optional[int] = None,
                    normalization: Optional[str] = None, augmented: bool = True,
                    orthogonal: bool = False, *, validate: bool = True,
                    degrees: Optional[DegreeHook] = None) -> SparseOperator:
    r"""The sheaf Laplacian :math:`L_\mathcal{F}` (or its normalised form) of restriction maps on a graph.

    Args:
        edge_index: ``(2, |E|)`` with every undirected edge in both directions, no self-loops, no duplicates;
            or a :class:`GraphStructure` of such a graph (reused across calls: a learned sheaf changes values,
            not structure).
        maps: ``(|E|, d)`` diagonal restriction maps or ``(|E|, d, d)`` orthogonal/general ones, one per directed
            edge (``maps[e]`` is :math:`F_{i \trianglelefteq e}` for e = (i, j)).
        num_nodes: number of nodes (default ``max(edge_index) + 1``).
        normalization: ``None`` or ``"sym"`` (:math:`D^{-1/2} L D^{-1/2}`).
        augmented: with ``"sym"``, normalise by :math:`D + I` instead of D.
        orthogonal: promise that every map is a scaled orthogonal matrix (:math:`F^\top F = c I`, NSD's O(d)
            bundles, with edge weights folded in). Then :math:`D_i = \sum_e \tfrac{1}{d}\lVert F_e\rVert_F^2 I`
            is scalar per node, and the normalisation needs no eigendecomposition (about 3× faster end to end).
        validate: check the dtype, shape and finiteness of ``maps`` and, with ``orthogonal``, that they are scaled
            orthogonal (:func:`check_scaled_orthogonal`; host synchronisations). Layers that compute the maps
            themselves pass False, so a forward pass on a GPU never waits for the host.
        degrees: called with the degree blocks :math:`D_i` summed over the given edges, returns those to use (the
            same shape): a mini-batch with historical degrees (:mod:`sheafgraph.sheaf.history`) puts back the
            degrees of nodes whose edges it lacks.

    Shapes:
        maps: ``(|E|, d)`` or ``(|E|, d, d)``; the operator: ``(|V| d, |V| d)``, symmetric.
    """
    if normalization not in (None, "sym"):
        raise ValueError(f"normalization must be None or 'sym', got {normalization!r}")
    s = as_structure(edge_index, num_nodes)
    if not isinstance(maps, Tensor) or maps.dim() not in (2, 3):
        shape = tuple(maps.shape) if isinstance(maps, Tensor) else type(maps).__name__
        raise ValueError(f"maps must have shape (|E|, d) (diagonal) or (|E|, d, d), got {shape}")
    d = maps.size(1)
    full = maps.dim() == 3
    if validate:
        check_values(maps, "maps", (s.num_edges, d, d) if full else (s.num_edges, d))
        if orthogonal and full:
            check_scaled_orthogonal(maps)
    if s.has_self_loops():
        raise ValueError("edge_index contains self-loops, which have no meaning for a sheaf Laplacian; "
                         "remove them (torch_geometric.utils.remove_self_loops)")
    kind = _map_kind(maps, orthogonal)
    deg = _replaced_degrees(_node_degrees(maps, s.row, s.num_nodes, kind), degrees)
    if normalization == "sym":  # -F_iᵀ F_j normalised on both sides is -G_iᵀ G_j with G_e = F_e D_i^{-1/2}
        dis = _degree_inverse_sqrt(deg, kind, augmented)
        maps = _scale_maps(maps, dis.index_select(0, s.row), kind)
        deg = _normalised_degrees(deg, dis, kind)
    off = _off_diagonal_blocks(maps, maps.index_select(0, s.reverse_index()), kind)
    if kind == "orthogonal":
        deg = deg[:, None, None] * torch.eye(d, dtype=maps.dtype, device=maps.device)
    p = s.block_pattern()
    return SparseOperator(p, p.from_edges_and_nodes(off, deg), d, symmetric=True)


#: a function ``(start, stop, reverse) -> F``: the restriction maps of the directed edges ``start:stop`` of a graph,
#: :math:`F_{i \trianglelefteq e}` for e = (i, j), or (``reverse=True``) those of their reverse edges,
#: :math:`F_{j \trianglelefteq e}`
MapsOf = Callable[[int, int, bool], Tensor]
#: a function from the degree blocks summed over a graph's edges to the degree blocks to use (same shape: ``(|V|, d)``
#: diagonal, ``(|V|,)`` scaled orthogonal, ``(|V|, d, d)`` general maps)
DegreeHook = Callable[[Tensor], Tensor]


def streamed_sheaf_matmul(structure: GraphStructure, maps_of: MapsOf, x: Tensor, chunk: int,
                          normalization: Optional[str] = None, augmented: bool = True,
                          orthogonal: bool = False, degrees: Optional[DegreeHook] = None) -> Tensor:
    r""":math:`L_\mathcal{F} x` (or :math:`\hat L x`, as :func:`sheaf_laplacian` normalises) with the maps computed
    ``chunk`` edges at a time by ``maps_of`` and never held for the whole graph: memory
    :math:`O(|V| d^2 + \mathrm{chunk}\, d^2)`.

    Two passes over the edges: the first sums the degree blocks :math:`D_i = \sum_{e \ni i} F_{i \trianglelefteq
    e}^\top F_{i \trianglelefteq e}`, the second adds :math:`-G_i^\top G_j x_j` to row i for every edge (i, j), with
    :math:`G = F D^{-1/2}` (F when not normalised); then the diagonal :math:`D^{-1/2} D D^{-1/2} x`. Equal to
    ``sheaf_laplacian(structure, maps, ...).matmul(x)`` up to rounding; for evaluation on graphs whose sheaf does not
    fit (it computes each edge's maps three times: F in both passes, F_rev in the second). ``degrees`` as for
    :func:`sheaf_laplacian`.

    Shapes:
        structure: a checked :class:`GraphStructure` (both directions of every edge, no self-loops); ``maps_of``
        returns ``(stop - start, d)`` diagonal or ``(stop - start, d, d)`` maps; x: ``(|V|, d, C)``; returns
        ``(|V|, d, C)``.
    """
    if normalization not in (None, "sym"):
        raise ValueError(f"normalization must be None or 'sym', got {normalization!r}")
    chunk, edges = positive_int(chunk, "chunk"), structure.num_edges
    spans = [(lo, min(lo + chunk, edges)) for lo in range(0, edges, chunk)]
    kind = deg = None
    for lo, hi in spans:
        maps = maps_of(lo, hi, False)
        kind = _map_kind(maps, orthogonal)
        deg = _node_degrees(maps, structure.row[lo:hi], structure.num_nodes, kind, out=deg)
    if deg is None:                                                    # no edges: L = 0, and so is L̂ (D = 0)
        return torch.zeros_like(x)
    deg = _replaced_degrees(deg, degrees)
    dis = _degree_inverse_sqrt(deg, kind, augmented) if normalization == "sym" else None
    diag = deg if dis is None else _normalised_degrees(deg, dis, kind)
    out = diag @ x if kind == "general" else diag.reshape(*diag.shape, *[1] * (x.dim() - diag.dim())) * x
    flat = x.reshape(-1, x.size(-1))                          # (|V| d, C): row j d + b is x_{j, b}
    for lo, hi in spans:
        row, col = structure.row[lo:hi], structure.col[lo:hi]
        maps, maps_rev = maps_of(lo, hi, False), maps_of(lo, hi, True)
        if dis is not None:
            maps, maps_rev = _scale_maps(maps, dis.index_select(0, row), kind), _scale_maps(
                maps_rev, dis.index_select(0, col), kind)
        _add_edge_products(out, row, col, _off_diagonal_blocks(maps, maps_rev, kind), flat,
                           structure.rows_sorted())
    return out


def _add_edge_products(out: Tensor, row: Tensor, col: Tensor, off: Tensor, flat: Tensor, rows_sorted: bool) -> None:
    r"""``out[i] += Σ_{e = (i, j)} off_e x_j`` over a non-empty chunk of edges as one CSR product: no ``(chunk, d, C)``
    gather and no scatter (a history record of 1M nodes and 10M edges on 2 CPU cores: 2.4 s, against 2.9-3.5 s by a
    gather and ``index_add_``; ``benchmarks/RESULTS.md``). Its rows are (a, i), stalk dimension a of the chunk's rows
    i; row (a, i) holds, for each edge (i, j) in turn, the entries :math:`(\mathrm{off}_e)_{ab}` at the columns
    j d + b of ``flat`` (x as ``(|V| d, C)``), b = a alone for diagonal blocks. Half precision is multiplied in
    float32 (no half-precision vendor kernels on CPU)."""
    if not rows_sorted:
        order = torch.argsort(row, stable=True)
        row, col, off = row[order], col[order], off[order]
    d, edges = out.size(1), row.numel()
    first, stop = int(row[0]), int(row[-1]) + 1
    stalk = torch.arange(d, device=row.device)
    if off.dim() == 2:                                                        # diagonal: (a, e) at column (j, a)
        cols, values, width = col * d + stalk.unsqueeze(1), off.t(), 1
    else:                                                                     # full: (a, e, b) at column (j, b)
        cols, values, width = (col.unsqueeze(1) * d + stalk).expand(d, edges, d), off.permute(1, 0, 2), d
    counts = torch.bincount(row - first, minlength=stop - first) * width
    starts = torch.cat([counts.new_zeros(1), counts.cumsum(0)[:-1]])
    crow = torch.cat([(starts + stalk.unsqueeze(1) * (edges * width)).reshape(-1),
                      counts.new_full((1,), values.numel())])
    work = torch.float32 if flat.dtype in LOW_PRECISION else flat.dtype
    y = csr_matmul(crow, cols.reshape(-1), values.reshape(-1).to(work), d * (stop - first), flat.to(work))
    out[first:stop] += y.view(d, stop - first, -1).transpose(0, 1).to(out.dtype)


def _map_kind(maps: Tensor, orthogonal: bool) -> str:
    """``"diag"`` for ``(|E|, d)`` maps, else ``"orthogonal"`` (promised scaled orthogonal) or ``"general"``."""
    return "diag" if maps.dim() == 2 else "orthogonal" if orthogonal else "general"


def _node_degrees(maps: Tensor, row: Tensor, num_nodes: int, kind: str, out: Optional[Tensor] = None) -> Tensor:
    r"""The degree blocks :math:`D_i = \sum_{e = (i, \cdot)} F_e^\top F_e`, added to ``out`` when given: ``(|V|, d)``
    for diagonal maps, the scalar ``(|V|,)`` of :math:`D_i = c_i I` for scaled orthogonal ones, else ``(|V|, d, d)``."""
    if kind == "diag":
        part = maps * maps
    elif kind == "orthogonal":
        part = maps.square().sum((1, 2)) / maps.size(-1)
    else:
        part = maps.transpose(-1, -2) @ maps
    out = maps.new_zeros(num_nodes, *part.shape[1:]) if out is None else out
    return out.index_add_(0, row, part)


def _replaced_degrees(deg: Tensor, degrees: Optional[DegreeHook]) -> Tensor:
    """``degrees(deg)`` (``deg`` itself without a hook), checked to keep the shape of ``deg``."""
    if degrees is None:
        return deg
    out = degrees(deg)
    if not isinstance(out, Tensor) or out.shape != deg.shape:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"the degrees hook must return degree blocks of shape {tuple(deg.shape)}, got {shape}")
    return out


def _degree_inverse_sqrt(deg: Tensor, kind: str, augmented: bool) -> Tensor:
    """:math:`(D + I)^{-1/2}` (``augmented``) or :math:`D^{-1/2}` (zero where D is singular) of degree blocks in the
    form :func:`_node_degrees` returns."""
    if kind == "general":
        eye = torch.eye(deg.size(-1), dtype=deg.dtype, device=deg.device)
        return sym_matrix_power(deg + eye if augmented else deg, -0.5)
    return safe_pow(deg + 1.0 if augmented else deg, -0.5)


def _normalised_degrees(deg: Tensor, dis: Tensor, kind: str) -> Tensor:
    """:math:`D^{-1/2} D D^{-1/2}` per node (``dis`` from :func:`_degree_inverse_sqrt`)."""
    return dis @ deg @ dis if kind == "general" else dis * deg * dis


def _scale_maps(maps: Tensor, dis: Tensor, kind: str) -> Tensor:
    """:math:`G_e = F_e D_i^{-1/2}` with ``dis`` the factor of each edge's source node."""
    if kind == "general":
        return maps @ dis
    return maps * (dis if kind == "diag" else dis[:, None, None])


def _off_diagonal_blocks(maps: Tensor, maps_rev: Tensor, kind: str) -> Tensor:
    """:math:`L_{ij} = -F_{i \trianglelefteq e}^\top F_{j \trianglelefteq e}` per directed edge."""
    if kind == "diag":
        return -maps * maps_rev
    return torch.baddbmm(maps.new_zeros(()).expand(maps.shape), maps.transpose(-1, -2), maps_rev, beta=0.0, alpha=-1.0)
