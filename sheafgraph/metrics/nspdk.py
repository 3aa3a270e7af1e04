r"""NSPDK MMD: the neighbourhood subgraph pairwise distance kernel (Costa & De Grave, ICML 2010) as GDSS uses it.

GDSS (Jo et al., ICML 2022) reports :math:`\mathrm{MMD}^2` between generated and test molecules under the linear
kernel on the feature vectors of EDeN's ``vectorize(graphs, complexity=4, discrete=True)``. This module computes
the same features without EDeN, deterministically and without hashing collisions:

* **Graphs.** Node label = atom symbol, edge label = ``int(bond.GetBondTypeAsDouble())`` -- exactly GDSS's
  ``mols_to_nx`` (so an aromatic bond, 1.5, is labelled 1 like a single bond); networkx graphs use their
  ``"label"`` node/edge attributes. EDeN works on the graph with every edge turned into a labelled vertex, so a
  radius-:math:`r` neighbourhood holds the nodes within :math:`r` bonds of the root and the edges with an endpoint
  within :math:`r - 1`.
* **Rooted neighbourhood label** :math:`L_r(v)` (EDeN's approximate canonical label): the sequence, over rings
  :math:`k = 0, \dots, 2r` of the edge-expanded graph, of the multiset of (label, degree) of the vertices at
  distance :math:`k` from :math:`v`. Defined only if some node lies at exactly :math:`r` bonds from :math:`v`.
* **Features.** For every ordered pair :math:`(v, u)` at shortest-path distance :math:`d \le D` and every radius
  :math:`r \le R` with both labels defined: one count of the pair feature
  :math:`(r, d, \{L_r(v), L_r(u)\})` and one of the context feature :math:`(r, d, L_r(u))`.
* **Normalisation.** Counts are scaled to unit norm within each :math:`(r, d)` block, then the whole vector to
  unit norm, so :math:`k(G, G) = 1`.
* **MMD.** With :math:`\phi` the feature map,
  :math:`\mathrm{MMD}^2 = \overline{k(X, X)} + \overline{k(Y, Y)} - 2\,\overline{k(X, Y)}
  = \lVert \bar\phi_X - \bar\phi_Y \rVert^2` (linear kernel, biased estimate with the diagonal, as GDSS).

``complexity=4`` in EDeN sets :math:`R = D = 4` (radii and distances 0..4 bonds), our defaults. EDeN hashes
features into :math:`2^{16}` buckets with Python's ``hash`` (seeded by ``PYTHONHASHSEED``), so its values carry
small, run-dependent collision noise; here every label and feature is an exact key (interned by equality), so the
value is reproducible and equals EDeN's up to those collisions.
"""
from __future__ import annotations

from typing import Dict, Hashable, Iterator, List, Sequence, Tuple, Union

import networkx as nx
import numpy as np
import scipy.sparse as sp
from rdkit import Chem

from sheafgraph.utils.checks import positive_int

DEFAULT_RADIUS = 4
DEFAULT_DISTANCE = 4
_LABEL_BITS = 24  # label ids per radius must stay below 2**24 for the packed feature codes
_CHUNK_ENTRIES = 1 << 21  # graphs per chunk x N^2 of the padded batch

GraphLike = Union[Chem.Mol, nx.Graph]


class _Graph:
    """Labelled graph as arrays: node label ids ``(n,)``, edges ``(E, 2)`` and edge label ids ``(E,)``."""

    __slots__ = ("labels", "edges", "edge_labels")

    def __init__(self, labels: np.ndarray, edges: np.ndarray, edge_labels: np.ndarray):
        self.labels, self.edges, self.edge_labels = labels, edges, edge_labels


def _intern(table: Dict[Hashable, int], key: Hashable) -> int:
    return table.setdefault(key, len(table))


def _as_graph(g: GraphLike, node_table: Dict, edge_table: Dict) -> _Graph:
    if isinstance(g, Chem.Mol):
        labels = [a.GetSymbol() for a in g.GetAtoms()]
        triples = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), int(b.GetBondTypeAsDouble())) for b in g.GetBonds()]
    elif isinstance(g, nx.Graph):
        position = {v: k for k, v in enumerate(g.nodes)}
        labels = [data.get("label") for _, data in g.nodes(data=True)]
        triples = [(position[u], position[v], data.get("label")) for u, v, data in g.edges(data=True) if u != v]
    else:
        raise TypeError(f"NSPDK takes rdkit Chem.Mol or networkx.Graph items, got {type(g).__name__}")
    if not labels:
        raise ValueError("NSPDK is undefined for a graph without nodes (an empty molecule)")
    edges = np.array([(u, v) for u, v, _ in triples], dtype=np.int64).reshape(-1, 2)
    return _Graph(np.array([_intern(node_table, lab) for lab in labels], dtype=np.int64), edges,
                  np.array([_intern(edge_table, lab) for _, _, lab in triples], dtype=np.int64))


def _chunks(graphs: List[_Graph]) -> Iterator[np.ndarray]:
    """Index arrays of graphs batched by similar size, each batch within the memory budget."""
    sizes = np.array([len(g.labels) for g in graphs])
    order = np.argsort(sizes, kind="stable")
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and (stop + 1 - start) * sizes[order[stop]] ** 2 <= _CHUNK_ENTRIES:
            stop += 1
        yield order[start:stop]
        start = stop


class _Featurizer:
    """NSPDK features of graphs that share one label space (see the module docstring)."""

    def __init__(self, graphs: List[_Graph], num_edge_labels: int, radius: int, distance: int):
        self.graphs, self.radius, self.distance = graphs, radius, distance
        self.num_edge_labels = num_edge_labels
        # node category = (label, degree), interned over all graphs so histograms have fixed width
        self.categories: Dict[Tuple[int, int], int] = {}
        self.node_category = []
        for g in graphs:
            degree = np.bincount(g.edges.ravel(), minlength=len(g.labels))
            self.node_category.append(np.array([_intern(self.categories, (int(a), int(b)))
                                                for a, b in zip(g.labels, degree)], dtype=np.int64))
        self.neighbourhoods: List[Dict[bytes, int]] = [{} for _ in range(radius + 1)]

    def rows(self) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per batch: (graph index, feature code, normalised value) of every non-zero feature."""
        for idx in _chunks(self.graphs):
            yield self._batch(idx)

    def _batch(self, idx: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        R, D, K = self.radius, self.distance, max(self.radius, self.distance)
        B, N = len(idx), max(len(self.graphs[i].labels) for i in idx)
        C, T = len(self.categories), self.num_edge_labels
        category = np.full((B, N), -1, dtype=np.int64)
        typed = np.zeros((T, B, N, N), dtype=np.float32)  # adjacency per edge label
        for b, i in enumerate(idx):
            g = self.graphs[i]
            category[b, :len(g.labels)] = self.node_category[i]
            typed[g.edge_labels, b, g.edges[:, 0], g.edges[:, 1]] = 1.0
            typed[g.edge_labels, b, g.edges[:, 1], g.edges[:, 0]] = 1.0
        real = category >= 0
        adjacency = typed.sum(0)
        # shortest-path distances up to K by breadth-first expansion; K + 1 = farther, unreachable or padding
        dist = np.full((B, N, N), K + 1, dtype=np.int64)
        reached = np.zeros((B, N, N), dtype=bool)
        frontier = np.zeros((B, N, N), dtype=np.float32)
        diag = np.arange(N)
        frontier[:, diag, diag] = real
        for k in range(K + 1):
            new = (frontier > 0) & ~reached
            dist[new] = k
            reached |= new
            frontier = (new.astype(np.float32) @ adjacency)
        # ring histograms of the edge-expanded graph: ring 2j = nodes at distance j (by category),
        # ring 2j+1 = edges whose nearer endpoint is at distance j (by label), from q_j = #edges with both ends >= j
        onehot = np.zeros((B, N, C), dtype=np.float32)
        onehot[real, category[real]] = 1.0
        node_rings = [(dist == j).astype(np.float32) @ onehot for j in range(R + 1)]
        q = []
        for j in range(R + 1):
            s = (dist >= j).astype(np.float32)
            q.append(np.stack([0.5 * ((s @ typed[t]) * s).sum(-1) for t in range(T)], -1) if T
                     else np.zeros((B, N, 0), dtype=np.float32))
        edge_rings = [q[j] - q[j + 1] for j in range(R)]
        # neighbourhood labels L_r(v): interned (L_{r-1}(v), ring 2r-1, ring 2r)
        label = np.full((R + 1, B, N), -1, dtype=np.int64)
        for r in range(R + 1):
            parts = [node_rings[0]] if r == 0 else [label[r - 1][..., None], edge_rings[r - 1], node_rings[r]]
            keys = np.concatenate([p.astype(np.int64) for p in parts], -1)[real]
            unique, inverse = np.unique(keys, axis=0, return_inverse=True)
            table = self.neighbourhoods[r]
            ids = np.array([_intern(table, row.tobytes()) for row in unique], dtype=np.int64)
            label[r][real] = ids[inverse.ravel()]
        if max(len(t) for t in self.neighbourhoods) >= 1 << _LABEL_BITS:
            raise RuntimeError("too many distinct neighbourhoods for the packed NSPDK feature codes")
        defined = np.stack([(dist == r).any(-1) for r in range(R + 1)])  # (R+1, B, N): L_r(v) exists
        # features of ordered pairs (v, u) at distance d <= D, for every radius r where both labels exist
        gb, v, u = np.nonzero(dist <= D)
        d = dist[gb, v, u]
        codes, graph_of = [], []
        for r in range(R + 1):
            ok = defined[r, gb, v] & defined[r, gb, u]
            lv, lu = label[r, gb[ok], v[ok]], label[r, gb[ok], u[ok]]
            block = (r * (D + 1) + d[ok]) * 2
            lo, hi = np.minimum(lv, lu), np.maximum(lv, lu)
            codes += [(block << (2 * _LABEL_BITS)) | (lo << _LABEL_BITS) | hi,
                      ((block + 1) << (2 * _LABEL_BITS)) | (lu << _LABEL_BITS)]
            graph_of += [gb[ok], gb[ok]]
        codes, graph_of = np.concatenate(codes), np.concatenate(graph_of)
        # counts per (graph, feature), unit norm per (r, d) block, then per graph
        feature, feature_index = np.unique(codes, return_inverse=True)
        pair, count = np.unique(graph_of * len(feature) + feature_index.ravel(), return_counts=True)
        g, f = pair // len(feature), pair % len(feature)
        blocks = (R + 1) * (D + 1)
        cell = g * blocks + (feature[f] >> (2 * _LABEL_BITS + 1))
        block_norm = np.bincount(cell, weights=count.astype(np.float64) ** 2, minlength=B * blocks)
        value = count / np.sqrt(block_norm[cell])
        value /= np.sqrt(np.bincount(g, weights=value ** 2, minlength=B))[g]
        return idx[g], feature[f], value


def _featurizer(graphs: Sequence[GraphLike], radius: int, distance: int) -> _Featurizer:
    positive_int(radius, "radius", minimum=0), positive_int(distance, "distance", minimum=0)
    if len(graphs) == 0:
        raise ValueError("NSPDK needs at least one graph")
    node_table, edge_table = {}, {}
    converted = [_as_graph(g, node_table, edge_table) for g in graphs]
    return _Featurizer(converted, len(edge_table), radius, distance)


def nspdk_features(graphs: Sequence[GraphLike], radius: int = DEFAULT_RADIUS, distance: int = DEFAULT_DISTANCE
                   ) -> sp.csr_matrix:
    """Unit-norm NSPDK feature vectors (module docstring), one row per graph; columns are the features present.

    Shapes:
        returns a sparse ``(len(graphs), F)`` float64 matrix; ``features @ features.T`` is the kernel matrix.
    """
    rows, cols, vals = zip(*_featurizer(graphs, radius, distance).rows())
    codes, col = np.unique(np.concatenate(cols), return_inverse=True)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), col.ravel())),
                         shape=(len(graphs), len(codes)))


def nspdk_mmd(graphs_a: Sequence[GraphLike], graphs_b: Sequence[GraphLike], radius: int = DEFAULT_RADIUS,
              distance: int = DEFAULT_DISTANCE) -> float:
    r"""Squared NSPDK MMD :math:`\lVert \bar\phi_A - \bar\phi_B \rVert^2` between two sets of graphs (GDSS's metric).

    Args:
        graphs_a, graphs_b: RDKit molecules or networkx graphs with ``"label"`` attributes (none may be empty).
        radius, distance: :math:`R` and :math:`D` (EDeN's ``complexity=4`` gives 4 and 4).
    """
    n_a, n_b = len(graphs_a), len(graphs_b)
    if n_a == 0 or n_b == 0:
        raise ValueError(f"nspdk_mmd needs two non-empty sets of graphs, got {n_a} and {n_b}")
    codes, weights = [], []
    for g, code, value in _featurizer(list(graphs_a) + list(graphs_b), radius, distance).rows():
        codes.append(code)
        weights.append(np.where(g < n_a, value / n_a, -value / n_b))
    _, index = np.unique(np.concatenate(codes), return_inverse=True)
    difference = np.bincount(index.ravel(), weights=np.concatenate(weights))
    return float(difference @ difference)
