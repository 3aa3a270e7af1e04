r"""Degree, clustering and 4-node orbit MMD between two sets of graphs, as GDSS evaluates generic graphs.

GDSS (Jo et al., ICML 2022; ``evaluation/stats.py``, ``evaluation/mmd.py`` and ``load_eval_settings`` in
``utils/loader.py``) follows GraphRNN (You et al., 2018) and GRAN (Liao et al., 2019). Each graph :math:`G` gets a
descriptor :math:`s(G)`, and two sets :math:`X, Y` are compared by the biased estimate of the squared MMD, diagonal
terms included,

.. math::
    \mathrm{MMD}^2(X, Y) = \frac{1}{|X|^2}\sum_{x, x'} k(x, x') + \frac{1}{|Y|^2}\sum_{y, y'} k(y, y')
                           - \frac{2}{|X||Y|}\sum_{x, y} k(x, y),

the number GDSS reports (no square root). Descriptors, kernels and :math:`\sigma` (GDSS's settings, our defaults):

=========== ======================================================== ============================== ==========
statistic   descriptor :math:`s(G)`                                  kernel                         σ
=========== ======================================================== ============================== ==========
degree      degree histogram (degrees 0 .. max), normalised to a pmf Gaussian-EMD, bin distance 1   1.0
clustering  histogram of the nodes' clustering coefficients in 100   Gaussian-EMD, bin distance     0.1
            equal bins of [0, 1], normalised to a pmf                1/100
orbit       counts of the 15 node orbits of 2-4-node graphlets       Gaussian on the Euclidean      30.0
            (ORCA's numbering), averaged over the nodes              distance
=========== ======================================================== ============================== ==========

Gaussian-EMD: :math:`k(p, q) = \exp(-W(p, q)^2 / 2\sigma^2)`, with :math:`W` the earth mover's distance between
the pmfs when bins :math:`i, j` lie :math:`|i - j| \cdot w` apart (:math:`w` = bin distance). In one dimension
it is the :math:`L^1` distance between the cumulative sums, :math:`W = w \sum_i |P_i - Q_i|`, the value GDSS
gets from ``pyemd``. Gaussian: :math:`k(u, v) = \exp(-\lVert u - v \rVert^2 / 2\sigma^2)`. Vectors of
different lengths are padded with zeros. The Gaussian-EMD kernel is not positive definite in general, so its
MMD can in principle dip below zero; it is returned unclipped, as GDSS does.

Orbit counts replace the ORCA binary (Hočevar & Demšar, 2014) GDSS calls: see :func:`orbit_counts`.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Sequence

import networkx as nx
import numpy as np
from scipy.spatial.distance import cdist

from sheafgraph.utils.checks import positive_int

DEGREE_SIGMA = 1.0
CLUSTERING_SIGMA = 0.1
CLUSTERING_BINS = 100
ORBIT_SIGMA = 30.0
Kernel = Callable[[np.ndarray, np.ndarray], np.ndarray]  # descriptor matrices (M, K), (L, K) -> kernel (M, L)

# Non-induced to induced 4-node orbit counts. Row o, column o': how many subgraphs of graphlet G_{o'} (the
# 4-node graphlet holding orbit o'), spanning its four nodes, are copies of G_o with the root node of orbit o'
# in orbit o. Orbits: 4/5 path end/inner, 6/7 star leaf/centre, 8 4-cycle, 9/10/11 paw (triangle with a
# pendant edge) tail / degree-2 / degree-3 node, 12/13 diamond degree-2/degree-3 node, 14 K4.
_SUBGRAPH_COPIES = np.array([
    # 4  5  6  7  8  9 10 11 12 13 14
    [1, 0, 0, 0, 2, 2, 1, 0, 4, 2, 6],  # 4: paths x-a-b-c
    [0, 1, 0, 0, 2, 0, 1, 2, 2, 4, 6],  # 5: paths a-x-b-c
    [0, 0, 1, 0, 0, 1, 1, 0, 2, 1, 3],  # 6: stars with x a leaf
    [0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1],  # 7: stars centred at x
    [0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 3],  # 8: 4-cycles through x
    [0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 3],  # 9: paws with x the tail
    [0, 0, 0, 0, 0, 0, 1, 0, 2, 2, 6],  # 10: paws with x a degree-2 node
    [0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 3],  # 11: paws centred at x
    [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 3],  # 12: diamonds with x a degree-2 node
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3],  # 13: diamonds with x a degree-3 node
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],  # 14: K4s through x
])
_INDUCED_FROM_COPIES = np.rint(np.linalg.inv(_SUBGRAPH_COPIES)).astype(np.int64)  # unit triangular: integer inverse


def _check_graph(graph: nx.Graph, where: str) -> None:
    if not isinstance(graph, nx.Graph) or graph.is_directed() or graph.is_multigraph():
        raise TypeError(f"{where} must be an undirected networkx.Graph, got {type(graph).__name__}")
    if graph.number_of_nodes() == 0:
        raise ValueError(f"{where} has no nodes; its statistics are undefined (GDSS drops empty graphs or adds a "
                         "node before evaluating)")
    if nx.number_of_selfloops(graph):
        raise ValueError(f"{where} has self-loops; remove them first, as GDSS's adjs_to_graphs does")


def degree_histogram(graph: nx.Graph) -> np.ndarray:
    """Number of nodes of each degree ``0 .. max degree`` (``networkx.degree_histogram``).

    Shapes:
        returns ``(max degree + 1,)`` int64.
    """
    _check_graph(graph, "graph")
    return np.bincount(np.fromiter((d for _, d in graph.degree), dtype=np.int64, count=len(graph)))


def clustering_histogram(graph: nx.Graph, bins: int = CLUSTERING_BINS) -> np.ndarray:
    """Number of nodes whose clustering coefficient falls in each of ``bins`` equal bins of [0, 1] (the last bin
    closed), coefficients from ``networkx.clustering``.

    Shapes:
        returns ``(bins,)`` int64.
    """
    _check_graph(graph, "graph")
    hist, _ = np.histogram(list(nx.clustering(graph).values()), bins=bins, range=(0.0, 1.0))
    return hist


def orbit_counts(graph: nx.Graph) -> np.ndarray:
    r"""Per node, how often it occupies each of the 15 orbits of the connected induced graphlets on 2-4 nodes
    (ORCA's ``node 4`` output, Hočevar & Demšar 2014, with Pržulj's orbit numbering).

    Orbits: 0 edge (the degree); 1/2 end/middle of a 3-path; 3 triangle; 4/5 end/inner of a 4-path; 6/7 leaf/centre
    of a 3-star; 8 4-cycle; 9/10/11 tail/degree-2/degree-3 node of a paw; 12/13 degree-2/degree-3 node of a
    diamond (K4 minus an edge); 14 K4.

    With :math:`A` the adjacency, :math:`d = A\mathbf 1`, :math:`A^2_{xy}` the common neighbours of :math:`x, y`
    (:math:`t_{xy} = A^2_{xy}` triangles on an edge) and :math:`T_x = \tfrac12 (A \circ A^2)_{x\cdot}\mathbf 1`
    the triangles at :math:`x`, the orbits on up to three nodes are
    :math:`O_0 = d`, :math:`O_1 = A(d - 1) - 2T`, :math:`O_2 = \binom{d}{2} - T`, :math:`O_3 = T`. For four
    nodes, the counts :math:`N_o(x)` of (not necessarily induced) copies of each rooted graphlet are closed forms:

    .. math::
        N_4 &= A(Ad - d) - d(d - 1) - 2T, &\quad N_5 &= (d - 1)(Ad - d) - 2T,\\
        N_6 &= A\tbinom{d - 1}{2}, & N_7 &= \tbinom{d}{3},\\
        N_8(x) &= \textstyle\sum_{y \ne x} \binom{A^2_{xy}}{2}, & N_9 &= AT - 2T,\\
        N_{10}(x) &= \textstyle\sum_{a} A_{xa} t_{xa} (d_a - 2), & N_{11} &= T(d - 2),\\
        N_{12}(x) &= \textstyle\sum_{\text{triangles } \{x, a, b\}} (t_{ab} - 1), &
        N_{13}(x) &= \textstyle\sum_{y} A_{xy} \binom{t_{xy}}{2},

    and :math:`N_{14}(x)` = K4s through :math:`x`, a third of the K4 count summed over :math:`x`'s edges (a K4 on
    edge :math:`\{x, y\}` is an edge among their common neighbours). Every induced graphlet holds a fixed number
    of copies of each smaller rooted pattern (``_SUBGRAPH_COPIES``), so :math:`N = C I` with :math:`C` unit upper
    triangular and the induced counts are :math:`I = C^{-1} N`. Dense :math:`O(|V|^3)` matrix products: a
    361-node grid takes a few milliseconds.

    Shapes:
        returns ``(|V|, 15)`` int64, rows in ``graph.nodes`` order.
    """
    _check_graph(graph, "graph")
    A = nx.to_numpy_array(graph, nodelist=list(graph.nodes), dtype=np.float64, weight=None)
    d = A.sum(1)
    A2 = A @ A                                   # common neighbours; exact in float64 for these sizes
    t = A * A2                                   # triangles on each edge (zero off the edges)
    T = t.sum(1) / 2                             # triangles at each node
    Ad = A @ d
    # K4s: only edges on two or more triangles can lie in one; a K4 on edge {a, b} is an edge among N(a) ∩ N(b)
    a, b = np.nonzero(np.triu(t >= 2))
    common = A[a] * A[b]                         # (E', |V|) common neighbours of those edges
    k4_on_edge = ((common @ A) * common).sum(1) / 2
    k4 = (np.bincount(a, k4_on_edge, len(d)) + np.bincount(b, k4_on_edge, len(d))) / 3
    # diamonds with x of degree 2: for each edge {a, b} on t_ab >= 2 triangles, each common neighbour x gains t_ab - 1
    diamond_side = common.T @ (t[a, b] - 1)
    pairs = A2 * (A2 - 1) / 2
    copies = np.stack([
        A @ (Ad - d) - d * (d - 1) - 2 * T,      # 4: paths x-a-b-c
        (d - 1) * (Ad - d) - 2 * T,              # 5: paths a-x-b-c
        A @ ((d - 1) * (d - 2) / 2),             # 6: stars with x a leaf
        d * (d - 1) * (d - 2) / 6,               # 7: stars centred at x
        pairs.sum(1) - np.diag(pairs),           # 8: 4-cycles through x (opposite node y != x)
        A @ T - 2 * T,                           # 9: triangle at a neighbour, away from x
        t @ (d - 2),                             # 10: triangle {x, a, b}, tail on a
        T * (d - 2),                             # 11: triangle at x, tail on x
        diamond_side,                            # 12
        (t * (t - 1) / 2).sum(1),                # 13: diagonal edge {x, y}, two common neighbours
        k4,                                      # 14
    ], axis=1)
    induced = np.rint(copies).astype(np.int64) @ _INDUCED_FROM_COPIES.T
    small = np.stack([d, Ad - d - 2 * T, d * (d - 1) / 2 - T, T], axis=1)
    return np.concatenate([np.rint(small).astype(np.int64), induced], axis=1)


def _stack(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """Vectors of different lengths as rows of one float64 matrix, zero-padded on the right."""
    out = np.zeros((len(vectors), max(len(v) for v in vectors)))
    for i, v in enumerate(vectors):
        out[i, :len(v)] = v
    return out


def gaussian_emd_kernel(p: np.ndarray, q: np.ndarray, sigma: float, bin_distance: float = 1.0) -> np.ndarray:
    r"""Gaussian-EMD kernel matrix :math:`K_{ij} = \exp(-W(p_i, q_j)^2 / 2\sigma^2)` between pmfs on the same bins,
    :math:`W(p, q) = w \sum_k |P_k - Q_k|` the 1-D earth mover's distance (:math:`P, Q` cumulative sums, bins
    :math:`w` apart).

    Shapes:
        p ``(M, K)``, q ``(L, K)`` rows summing to 1; returns ``(M, L)``.
    """
    emd = bin_distance * cdist(np.cumsum(p, 1)[:, :-1], np.cumsum(q, 1)[:, :-1], "cityblock")
    return np.exp(-emd ** 2 / (2 * sigma ** 2))


def gaussian_kernel(u: np.ndarray, v: np.ndarray, sigma: float) -> np.ndarray:
    r"""Gaussian kernel matrix :math:`K_{ij} = \exp(-\lVert u_i - v_j \rVert^2 / 2\sigma^2)`.

    Shapes:
        u ``(M, K)``, v ``(L, K)``; returns ``(M, L)``.
    """
    return np.exp(-cdist(u, v, "sqeuclidean") / (2 * sigma ** 2))


def mmd_squared(x: Sequence[np.ndarray], y: Sequence[np.ndarray], kernel: Kernel) -> float:
    r"""Biased :math:`\mathrm{MMD}^2 = \overline{K(X, X)} + \overline{K(Y, Y)} - 2\,\overline{K(X, Y)}` of two sets
    of descriptors (diagonal terms included, as GDSS), after zero-padding them to one length.

    Shapes:
        x: ``M`` vectors, y: ``L`` vectors (any lengths); ``kernel`` maps ``(M, K), (L, K)`` to ``(M, L)``.
    """
    both = _stack([*x, *y])
    u, v = both[:len(x)], both[len(x):]
    return float(kernel(u, u).mean() + kernel(v, v).mean() - 2 * kernel(u, v).mean())


def _check_sets(graphs_a: Sequence[nx.Graph], graphs_b: Sequence[nx.Graph]) -> None:
    for arg, graphs in (("graphs_a", graphs_a), ("graphs_b", graphs_b)):
        if isinstance(graphs, nx.Graph) or len(graphs) == 0:
            raise ValueError(f"{arg} must be a non-empty sequence of networkx graphs")
        for i, graph in enumerate(graphs):
            _check_graph(graph, f"{arg}[{i}]")


def _pmfs(histograms: Sequence[np.ndarray]) -> List[np.ndarray]:
    return [h / h.sum() for h in histograms]


def degree_mmd(graphs_a: Sequence[nx.Graph], graphs_b: Sequence[nx.Graph], *, sigma: float = DEGREE_SIGMA
               ) -> float:
    """Degree MMD²: pmfs of the degree histograms, Gaussian-EMD kernel with bins 1 apart (GDSS: sigma 1.0).

    Shapes:
        graphs_a, graphs_b: sequences of ``M`` and ``L`` graphs; returns a float.
    """
    _check_sets(graphs_a, graphs_b)
    return mmd_squared(_pmfs([degree_histogram(g) for g in graphs_a]), _pmfs([degree_histogram(g) for g in graphs_b]),
                       lambda p, q: gaussian_emd_kernel(p, q, sigma))


def clustering_mmd(graphs_a: Sequence[nx.Graph], graphs_b: Sequence[nx.Graph], *, sigma: float = CLUSTERING_SIGMA,
                   bins: int = CLUSTERING_BINS) -> float:
    """Clustering MMD²: pmfs of ``bins``-bin clustering-coefficient histograms, Gaussian-EMD kernel with bins
    ``1 / bins`` apart (GDSS: sigma 0.1, 100 bins).

    Shapes:
        graphs_a, graphs_b: sequences of ``M`` and ``L`` graphs; returns a float.
    """
    positive_int(bins, "bins")
    _check_sets(graphs_a, graphs_b)
    return mmd_squared(_pmfs([clustering_histogram(g, bins) for g in graphs_a]),
                       _pmfs([clustering_histogram(g, bins) for g in graphs_b]),
                       lambda p, q: gaussian_emd_kernel(p, q, sigma, 1.0 / bins))


def orbit_mmd(graphs_a: Sequence[nx.Graph], graphs_b: Sequence[nx.Graph], *, sigma: float = ORBIT_SIGMA) -> float:
    """Orbit MMD²: per graph the 15 orbit counts summed over nodes and divided by the node count, Gaussian kernel
    on the Euclidean distance (GDSS: sigma 30.0).

    Shapes:
        graphs_a, graphs_b: sequences of ``M`` and ``L`` graphs; returns a float.
    """
    _check_sets(graphs_a, graphs_b)
    return mmd_squared([orbit_counts(g).mean(0) for g in graphs_a], [orbit_counts(g).mean(0) for g in graphs_b],
                       lambda u, v: gaussian_kernel(u, v, sigma))


GRAPH_MMD: Dict[str, Callable[..., float]] = {"degree": degree_mmd, "clustering": clustering_mmd, "orbit": orbit_mmd}


def graph_mmd(graphs_a: Sequence[nx.Graph], graphs_b: Sequence[nx.Graph],
              statistics: Sequence[str] = tuple(GRAPH_MMD)) -> Dict[str, float]:
    """GDSS's generic-graph evaluation: ``{"degree": ..., "clustering": ..., "orbit": ...}`` MMD² with GDSS's
    kernels and sigmas (module docstring), for the names in ``statistics``.

    Shapes:
        graphs_a, graphs_b: sequences of ``M`` and ``L`` graphs; returns one float per statistic.
    """
    if isinstance(statistics, str):
        raise TypeError(f"statistics must be a sequence of names such as ('degree',), got the string {statistics!r}")
    unknown = [s for s in statistics if s not in GRAPH_MMD]
    if unknown:
        raise ValueError(f"unknown graph statistics {unknown}; valid names: {', '.join(GRAPH_MMD)}")
    return {s: GRAPH_MMD[s](graphs_a, graphs_b) for s in statistics}


__all__ = [
    "GRAPH_MMD", "clustering_histogram", "clustering_mmd", "degree_histogram", "degree_mmd", "gaussian_emd_kernel",
    "gaussian_kernel", "graph_mmd", "mmd_squared", "orbit_counts", "orbit_mmd",
]
