"""Graph structure at the boundary: validation, reverse edges, CSR order, degrees (no Python loops over edges).

A :class:`GraphStructure` is built once per graph and caches everything that depends only on the
structure, so that operators with values that change every step (learned restriction maps, learned
weights) reuse it. Caches are keyed on the structure object itself and never go stale, because a
structure is immutable.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple, Union

import torch
from torch import Tensor

from sheafgraph.utils.checks import positive_int


def check_edge_index(edge_index: Tensor, num_nodes: Optional[int] = None) -> int:
    """Validate a PyG ``edge_index`` and return the number of nodes.

    Args:
        edge_index: LongTensor of shape ``(2, |E|)``.
        num_nodes: number of nodes; inferred as ``max(edge_index) + 1`` (0 if there are no edges) when None.

    Raises:
        TypeError: ``edge_index`` is not an integer tensor.
        ValueError: wrong shape, negative indices, indices ``>= num_nodes`` or a bad ``num_nodes``.
    """
    if not isinstance(edge_index, Tensor):
        raise TypeError(f"edge_index must be a torch.Tensor of shape (2, E), got {type(edge_index).__name__}")
    if edge_index.dtype not in (torch.long, torch.int32, torch.int64):
        raise TypeError(f"edge_index must have an integer dtype (torch.long), got {edge_index.dtype}")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
    if num_nodes is not None:
        num_nodes = positive_int(num_nodes, "num_nodes", minimum=0)
    if edge_index.numel() == 0:
        return int(num_nodes or 0)
    lo, hi = int(edge_index.min()), int(edge_index.max())
    if lo < 0:
        raise ValueError(f"edge_index contains a negative node index ({lo})")
    if num_nodes is None:
        return hi + 1
    if hi >= num_nodes:
        raise ValueError(f"edge_index contains node index {hi}, out of range for num_nodes={num_nodes}")
    return num_nodes


def check_values(values: Tensor, name: str, shape: Tuple[Optional[int], ...], *, nonnegative: bool = False) -> None:
    """Validate a floating tensor of edge or node values: dtype, shape (None matches any size), finiteness, sign."""
    if not isinstance(values, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(values).__name__}")
    if not values.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor (float32 or float64), got {values.dtype}")
    ok = values.dim() == len(shape) and all(s is None or s == v for s, v in zip(shape, values.shape))
    if not ok:
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(values.shape)}")
    # One reduction instead of an elementwise mask: the sum is non-finite whenever an entry is (or on overflow,
    # which the exact check below then clears).
    if not bool(torch.isfinite(values.sum())) and not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    if nonnegative and bool((values < 0).any()):
        raise ValueError(f"{name} must be non-negative, found {float(values.min())}")


def _has_repeats(sorted_keys: Tensor) -> bool:
    return bool((sorted_keys[1:] == sorted_keys[:-1]).any())


class GraphStructure:
    """The structure of a directed graph ``edge_index (2, |E|)`` and everything derived from it alone.

    Cached, vectorised derivations: out-degrees, the index of each edge's reverse, the block-CSR pattern
    of ``edges ∪ self-loops`` used by operators, and its scalar expansions per block size.

    Build one with ``GraphStructure(edge_index, num_nodes)``; every operator in :mod:`sheafgraph.ops` accepts
    it in place of ``edge_index`` to skip re-validation and re-use the caches.
    """

    def __init__(self, edge_index: Tensor, num_nodes: Optional[int] = None, *, reverse: Optional[Tensor] = None):
        """``reverse``: the index of each edge's reverse when the caller knows it (e.g. a sampler that cut the edges
        from a graph whose reverses it knows): checked in O(|E|) and kept, so :meth:`reverse_index` sorts nothing.

        Raises:
            ValueError: a ``reverse`` that does not pair every edge (i, j) with an edge (j, i).
        """
        self.num_nodes = check_edge_index(edge_index, num_nodes)
        self.edge_index = edge_index.long()
        self._cache: Dict[object, object] = {}
        if reverse is not None:
            self._cache["rev"] = self._checked_reverse(reverse)

    def _checked_reverse(self, reverse: Tensor) -> Tensor:
        e = self.num_edges
        if not isinstance(reverse, Tensor) or reverse.shape != (e,) or reverse.dtype != torch.long:
            shape = tuple(reverse.shape) if isinstance(reverse, Tensor) else type(reverse).__name__
            raise ValueError(f"reverse must be a LongTensor of shape ({e},), one index per edge, got {shape}")
        if e and not (0 <= int(reverse.min()) and int(reverse.max()) < e
                      and torch.equal(self.edge_index.index_select(1, reverse), self.edge_index.flip(0))
                      and torch.equal(reverse.index_select(0, reverse), torch.arange(e, device=reverse.device))):
            raise ValueError("reverse must pair each edge with its reverse: edge_index[:, reverse] must equal "
                             "edge_index.flip(0) and reverse[reverse] the identity")
        return reverse

    # --- basic derived quantities -------------------------------------------------------------------
    @property
    def row(self) -> Tensor:
        return self.edge_index[0]

    @property
    def col(self) -> Tensor:
        return self.edge_index[1]

    @property
    def num_edges(self) -> int:
        return self.edge_index.size(1)

    @property
    def device(self) -> torch.device:
        return self.edge_index.device

    def cached(self, key, build):
        """``build()``, computed once per structure and ``key`` (for anything derived from the structure alone, e.g.
        a fixed operator; the structure is immutable, so the value never goes stale)."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def _keys(self) -> Tensor:
        return self.row * max(self.num_nodes, 1) + self.col

    def has_self_loops(self) -> bool:
        return self.cached("self_loops", lambda: bool((self.row == self.col).any()))

    def rows_sorted(self) -> bool:
        """Whether the edges are in row order (``row`` non-decreasing, as in CSR and coalesced PyG graphs)."""
        return self.cached("rows_sorted", lambda: bool((self.row[1:] >= self.row[:-1]).all()))

    def _sorted_keys(self) -> Tuple[Tensor, Optional[Tensor]]:
        """The keys ``row·|V| + col`` in increasing order and the permutation that sorts them, None when they already
        are (CSR lists, coalesced graphs: one O(|E|) comparison instead of a sort)."""
        keys = self._keys()
        if bool((keys[1:] >= keys[:-1]).all()):
            return keys, None
        return torch.sort(keys)

    def has_duplicates(self) -> bool:
        return self.cached("dup", lambda: _has_repeats(self._sorted_keys()[0]))

    def reverse_index(self) -> Tensor:
        """``rev`` with ``edge_index[:, rev[e]] == edge_index.flip(0)[:, e]``.

        Raises:
            ValueError: when some edge has no reverse, or the graph has duplicate edges (ambiguous).
        """
        def build():
            sorted_keys, order = self._sorted_keys()
            if self.cached("dup", lambda: _has_repeats(sorted_keys)):
                raise ValueError("edge_index has duplicate edges; coalesce it first "
                                 "(torch_geometric.utils.coalesce)")
            n = max(self.num_nodes, 1)
            rev_keys = self.col * n + self.row
            pos = torch.searchsorted(sorted_keys, rev_keys).clamp_(max=max(self.num_edges - 1, 0))
            found = sorted_keys[pos] == rev_keys if self.num_edges else torch.ones(0, dtype=torch.bool)
            if not bool(found.all()):
                e = int((~found).nonzero()[0])
                i, j = int(self.row[e]), int(self.col[e])
                missing = int((~found).sum())
                raise ValueError(f"edge_index is not symmetric: {missing} edge(s) lack their reverse, e.g. ({i}, {j}) "
                                 f"without ({j}, {i}); add both directions (torch_geometric.utils.to_undirected)")
            return pos if order is None else order.index_select(0, pos)
        return self.cached("rev", build)

    def out_degree(self, weight: Optional[Tensor] = None) -> Tensor:
        """Weighted out-degree ``deg_i = Σ_{(i,j)∈E} w_ij`` (count when ``weight`` is None), shape ``(|V|,)``."""
        if weight is None:
            return self.cached("deg", lambda: torch.zeros(self.num_nodes, device=self.device).index_add_(
                0, self.row, torch.ones(self.num_edges, device=self.device)))
        return weight.new_zeros((self.num_nodes,) + weight.shape[1:]).index_add_(0, self.row, weight)

    def transposed(self) -> "GraphStructure":
        """The structure of the reversed graph ``edge_index.flip(0)`` (cached)."""
        return self.cached("T", lambda: GraphStructure(self.edge_index.flip(0), self.num_nodes))

    # --- operator patterns --------------------------------------------------------------------------
    def block_pattern(self) -> "BlockPattern":
        """The coalesced block pattern of ``edges ∪ {(i, i)}`` in CSR (row-major) order."""
        return self.cached("pattern", lambda: BlockPattern(self))


class BlockPattern:
    """Sorted, coalesced positions of the blocks of an operator on ``edges ∪ self-loops``.

    Build one with :meth:`GraphStructure.block_pattern` or, for any list of block positions, :meth:`from_positions`.

    ``edge_slot[e]`` and ``self_slot[i]`` give the position of edge ``e`` and of the diagonal block of node ``i``
    in the block list (duplicates and self-loops share slots, so values assembled with ``index_add`` add up).
    ``scalar(d, diagonal)`` expands the pattern to scalar CSR of size ``(|V| d, |V| d)`` for blocks of size d
    (``diagonal=True``: only the d diagonal entries of each block are stored).
    """

    def __init__(self, structure: GraphStructure):
        n, dev = structure.num_nodes, structure.device
        nodes = torch.arange(n, device=dev)
        slots = self._init(torch.cat([structure.row, nodes]), torch.cat([structure.col, nodes]), n)
        self.edge_slot = slots[: structure.num_edges]
        self.self_slot = slots[structure.num_edges:]
        self._source: Optional[Tensor] = None

    def from_edges_and_nodes(self, edge_values: Tensor, node_values: Tensor) -> Tensor:
        """Block values in slot order from one value per edge and one per node (diagonal blocks).

        Requires a graph without self-loops or duplicate edges (every slot then has exactly one source), and
        costs one gather instead of zero-filling and scattering.
        """
        if self._source is None:
            slots = torch.cat([self.edge_slot, self.self_slot])
            assert slots.numel() == self.num_blocks, "slots must be unique: no self-loops, no duplicate edges"
            self._source = torch.empty_like(slots)
            self._source[slots] = torch.arange(slots.numel(), device=slots.device)
        return torch.cat([edge_values, node_values]).index_select(0, self._source)

    @classmethod
    def from_positions(cls, rows: Tensor, cols: Tensor, num_nodes: int) -> Tuple["BlockPattern", Tensor]:
        """The pattern of the given block positions and the slot of each position."""
        pattern = cls.__new__(cls)
        slots = pattern._init(rows, cols, num_nodes)
        return pattern, slots

    def _init(self, rows: Tensor, cols: Tensor, n: int) -> Tensor:
        self._keys, slots = torch.unique(rows * max(n, 1) + cols, sorted=True, return_inverse=True)
        self.num_nodes = n
        self.num_blocks = self._keys.numel()
        self.row = self._keys // max(n, 1)
        self.col = self._keys % max(n, 1)
        counts = torch.bincount(self.row, minlength=n)
        self.crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        self._scalar: Dict[Tuple[int, bool], "ScalarPattern"] = {}
        self._transposed: Optional[Tuple["BlockPattern", Tensor]] = None
        return slots

    def transposed(self) -> Tuple["BlockPattern", Tensor]:
        """``(pattern_t, perm)``: the mirrored pattern, whose slot k holds this pattern's block ``perm[k]``."""
        if self._transposed is None:
            pattern_t, slots = BlockPattern.from_positions(self.col, self.row, self.num_nodes)
            perm = torch.empty_like(slots)
            perm[slots] = torch.arange(slots.numel(), device=slots.device)
            self._transposed = (pattern_t, perm)
        return self._transposed

    def scalar(self, d: int, diagonal: bool) -> "ScalarPattern":
        key = (d, diagonal)
        if key not in self._scalar:
            self._scalar[key] = ScalarPattern(self, d, diagonal)
        return self._scalar[key]


class ScalarPattern:
    """Scalar CSR expansion of a :class:`BlockPattern` with blocks of size d.

    ``gather[k]`` is the index, into the flattened block values (``(B, d, d)`` or ``(B, d)`` when ``diagonal``),
    of the k-th scalar non-zero in CSR order. ``block_row/block_col`` of each scalar entry are kept for the
    sampled products of the backward pass.
    """

    def __init__(self, pattern: BlockPattern, d: int, diagonal: bool):
        n, dev = pattern.num_nodes, pattern.crow.device
        per_block = d if diagonal else d * d
        blocks_per_row = pattern.crow[1:] - pattern.crow[:-1]                     # (N,)
        # scalar row r = i*d + a holds, for every block of block-row i (in column order), its row a.
        nnz_per_scalar_row = (blocks_per_row * (1 if diagonal else d)).repeat_interleave(d)
        self.size = n * d
        self.nnz = pattern.num_blocks * per_block
        self.crow = torch.cat([nnz_per_scalar_row.new_zeros(1), nnz_per_scalar_row.cumsum(0)])
        # Enumerate (block, a, b) in CSR order: for each block-row i, for a in range(d), for each block, for b.
        srow = torch.arange(n * d, device=dev).repeat_interleave(nnz_per_scalar_row)   # scalar row of each nnz
        i, a = srow // d, srow % d
        offset = torch.arange(self.nnz, device=dev) - self.crow[:-1].repeat_interleave(nnz_per_scalar_row)
        width = 1 if diagonal else d
        block = pattern.crow[i] + offset // width
        b = a if diagonal else offset % width
        self.col = pattern.col[block] * d + b
        self.gather = block * per_block + (a if diagonal else a * d + b)
        self.row = srow
        self.inverse_gather = torch.empty_like(self.gather)
        self.inverse_gather[self.gather] = torch.arange(self.nnz, device=dev)
        self._transpose: Optional[Tuple[Tensor, Tensor, Tensor]] = None

    def transpose(self) -> Tuple[Tensor, Tensor, Tensor]:
        """``(crow_t, col_t, perm)``: CSR of the transpose, whose k-th value is this pattern's ``perm[k]``-th."""
        if self._transpose is None:
            perm = torch.argsort(self.col * self.size + self.row)
            counts = torch.bincount(self.col, minlength=self.size)
            crow_t = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
            self._transpose = (crow_t, self.row[perm], perm)
        return self._transpose


StructureLike = Union[Tensor, GraphStructure]


def as_structure(edge_index: StructureLike, num_nodes: Optional[int] = None) -> GraphStructure:
    """Return ``edge_index`` itself if it is a :class:`GraphStructure` (checking ``num_nodes``), else build one."""
    if isinstance(edge_index, GraphStructure):
        if num_nodes is not None and num_nodes != edge_index.num_nodes:
            raise ValueError(f"num_nodes={num_nodes} does not match the structure's {edge_index.num_nodes} nodes")
        return edge_index
    return GraphStructure(edge_index, num_nodes)
