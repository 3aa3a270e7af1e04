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

from typing import Optional, Tuple

import torch
from torch import Tensor

from sheafgraph.ops.kernels import LOW_PRECISION
from sheafgraph.ops.laplacian import safe_pow
from sheafgraph.ops.operator import SparseOperator
from sheafgraph.ops.structure import StructureLike, as_structure, check_values
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
                    orthogonal: bool = False, *, validate: bool = True) -> SparseOperator:
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
    rev = s.reverse_index()
    # Normalising L_ij = -F_iᵀ F_j on both sides equals using the maps G_e = F_e D_i^{-1/2}: one product per edge.
    if full:
        eye = torch.eye(d, dtype=maps.dtype, device=maps.device)
        if orthogonal:
            deg = maps.new_zeros(s.num_nodes).index_add_(0, s.row, maps.square().sum((1, 2)) / d)
            if normalization == "sym":
                dis = safe_pow(deg + 1.0 if augmented else deg, -0.5)
                maps = maps * dis.index_select(0, s.row)[:, None, None]
                deg = dis * deg * dis
            diag = deg[:, None, None] * eye
        else:
            diag = maps.new_zeros(s.num_nodes, d, d).index_add_(0, s.row, maps.transpose(-1, -2) @ maps)
            if normalization == "sym":
                dis = sym_matrix_power(diag + eye if augmented else diag, -0.5)
                maps = maps @ dis.index_select(0, s.row)
                diag = dis @ diag @ dis
        maps_rev = maps.index_select(0, rev)
        off = torch.baddbmm(maps.new_zeros(()).expand(maps.shape), maps.transpose(-1, -2), maps_rev,
                            beta=0.0, alpha=-1.0)                              # L_ij = -F_iᵀ F_j
    else:
        diag = maps.new_zeros(s.num_nodes, d).index_add_(0, s.row, maps * maps)
        if normalization == "sym":
            dis = safe_pow(diag + 1.0 if augmented else diag, -0.5)
            maps = maps * dis.index_select(0, s.row)
            diag = dis * diag * dis
        off = -maps * maps.index_select(0, rev)
    p = s.block_pattern()
    return SparseOperator(p, p.from_edges_and_nodes(off, diag), d, symmetric=True)
