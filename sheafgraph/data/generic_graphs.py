r"""GDSS's generic-graph benchmarks (Jo et al., ICML 2022, Table 1): Ego-small, Community-small, ENZYMES and Grid.

Files, under the data root (``root``, else ``$SHEAFGRAPH_DATA``, else the project's ``datasets/``)::

    molecules/generic/{ego_small,community_small,ENZYMES,grid}.json
        {"name": ..., "graphs": [{"num_nodes": n, "edges": [[u, v], ...]}, ...]}

GDSS's networkx pickles converted to JSON in the same order; nodes are ``0 .. n-1`` and each undirected edge is
listed once. The split is GDSS's: with :math:`M` graphs, the first :math:`\lfloor 0.2 M \rfloor` are the test set
and the rest the training set, unshuffled (``test_size = int(0.2 * len(graphs))`` in GDSS's
``utils/data_loader.py``): 40/160 graphs for ego_small, 20/80 for community_small, 117/470 for ENZYMES and 20/80
for grid.

Graphs come back as :class:`networkx.Graph` (what the MMD metrics take, :mod:`sheafgraph.metrics.graph_mmd`);
:func:`graphs_to_dense` turns a list into the dense tensors of GDSS's score networks, padded to the dataset's
``max_nodes`` (GDSS's ``max_node_num``) with one-hot degree node features of width ``degree_classes`` (GDSS's
``init: deg`` and ``max_feat_num``), both from GDSS's ``config/*.yaml``:

    >>> splits = load_generic_graphs("community_small")
    >>> spec = generic_graph_spec("community_small")
    >>> dense = graphs_to_dense(splits.train, spec.max_nodes, spec.degree_classes)   # x (80, 20, 10), adj (80, 20, 20)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence

import networkx as nx
import torch
from torch import Tensor

from sheafgraph.data.paths import PathLike, data_root, require_file, verify_sha256
from sheafgraph.utils.checks import positive_int

TEST_FRACTION = 0.2
GENERIC_HINT = ("GDSS's generic-graph benchmarks (the networkx pickles in GDSS's data/ folder, converted to JSON "
                "{'name': ..., 'graphs': [{'num_nodes': n, 'edges': [[u, v], ...]}]}); put them in "
                "<root>/molecules/generic/")


class GenericGraphSpec(NamedTuple):
    """GDSS's padded size and node-feature width for a dataset (``max_node_num``, ``max_feat_num``)."""

    max_nodes: int
    degree_classes: int


# GDSS config/{ego_small,community_small,enzymes,grid}.yaml: data.max_node_num, data.max_feat_num
GENERIC_GRAPH_DATASETS: Dict[str, GenericGraphSpec] = {
    "ego_small": GenericGraphSpec(18, 17),
    "community_small": GenericGraphSpec(20, 10),
    "ENZYMES": GenericGraphSpec(125, 10),
    "grid": GenericGraphSpec(361, 5),
}
# First 16 hex digits of the sha256 of the released files (the data's MANIFEST.txt).
SHA256_PREFIX = {
    "ego_small": "54b7c089c571544d", "community_small": "e90d44fdb3e8b9ec", "ENZYMES": "670387dce1aafe0d",
    "grid": "cfbd9e37c07ba943",
}


class GraphSplits(NamedTuple):
    """Train and test graphs, in file order."""

    train: List[nx.Graph]
    test: List[nx.Graph]


class DenseGraphs(NamedTuple):
    """Graphs as GDSS's dense tensors: one-hot degree features, 0/1 adjacency and the mask of real nodes.

    Shapes:
        x ``(B, N, degree_classes)``, adj ``(B, N, N)`` float32; mask ``(B, N)`` bool, with ``N = max_nodes``.
    """

    x: Tensor
    adj: Tensor
    mask: Tensor


def _canonical_name(name: str) -> str:
    """The dataset's key in :data:`GENERIC_GRAPH_DATASETS`, matched without regard to case (``"enzymes"`` works)."""
    if isinstance(name, str):
        for key in GENERIC_GRAPH_DATASETS:
            if key.lower() == name.lower():
                return key
    raise ValueError(f"unknown generic graph dataset {name!r}; valid names: {', '.join(GENERIC_GRAPH_DATASETS)}")


def generic_graph_spec(name: str) -> GenericGraphSpec:
    """GDSS's ``max_nodes`` and ``degree_classes`` for ``"ego_small"``, ``"community_small"``, ``"ENZYMES"`` or
    ``"grid"`` (18/17, 20/10, 125/10, 361/5)."""
    return GENERIC_GRAPH_DATASETS[_canonical_name(name)]


def load_generic_graphs(name: str, root: Optional[PathLike] = None, *, verify: bool = True) -> GraphSplits:
    """One of GDSS's generic-graph datasets, split as GDSS does: the first 20% of the file's list is the test set.

    Args:
        name: ``"ego_small"`` (200 graphs, 4-17 nodes), ``"community_small"`` (100, 12-20), ``"ENZYMES"`` (587,
            10-125) or ``"grid"`` (100, 110-361); case does not matter.
        root: data directory (default ``$SHEAFGRAPH_DATA``, else the project's ``datasets/``).
        verify: check the file's sha256 against the released file.

    Returns:
        :class:`GraphSplits` of undirected :class:`networkx.Graph` with nodes ``0 .. n-1`` (isolated nodes kept).
    """
    key = _canonical_name(name)
    path = require_file(data_root(root) / "molecules" / "generic" / f"{key}.json", GENERIC_HINT)
    if verify:
        verify_sha256(path, SHA256_PREFIX[key])
    graphs = _read_graphs(path, key)
    test_size = int(TEST_FRACTION * len(graphs))
    return GraphSplits(train=graphs[test_size:], test=graphs[:test_size])


def _read_graphs(path: Path, name: str) -> List[nx.Graph]:
    """The graphs of one JSON file, each checked: a node count, and edges as pairs of distinct nodes in range."""
    try:
        with open(path) as f:
            content = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); expected {GENERIC_HINT}") from None
    if not isinstance(content, dict) or not isinstance(content.get("graphs"), list):
        raise ValueError(f"{path} must hold an object with a 'graphs' list; expected {GENERIC_HINT}")
    if content.get("name", name) != name:
        raise ValueError(f"{path} holds the dataset {content['name']!r}, not {name!r}")
    graphs = []
    for k, item in enumerate(content["graphs"]):
        n = item.get("num_nodes") if isinstance(item, dict) else None
        edges = item.get("edges") if isinstance(item, dict) else None
        if isinstance(n, bool) or not isinstance(n, int) or n < 0 or not isinstance(edges, list):
            raise ValueError(f"{path}: graph {k} must be {{'num_nodes': int >= 0, 'edges': [[u, v], ...]}}")
        for e in edges:
            if (not isinstance(e, list) or len(e) != 2 or not all(type(v) is int and 0 <= v < n for v in e)
                    or e[0] == e[1]):
                raise ValueError(f"{path}: graph {k} has the edge {e!r}; edges must be pairs of distinct node "
                                 f"ids in 0..{n - 1}")
        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        graph.add_edges_from(edges)
        graphs.append(graph)
    return graphs


def graphs_to_dense(graphs: Sequence[nx.Graph], max_nodes: int, degree_classes: int) -> DenseGraphs:
    r"""GDSS's dense encoding: adjacency padded to ``max_nodes``, node mask, one-hot degree features.

    Node :math:`i` of graph :math:`b` (in ``graph.nodes`` order) is row :math:`i`; rows past the graph's size are
    padding (``mask`` False, zero features and adjacency). The features are GDSS's ``init: deg``:
    :math:`x_{bi} = \mathrm{onehot}(\deg_b(i))` over ``degree_classes`` classes, zero on padding. GDSS derives
    its node flags from the degree (:math:`\deg > 0`); ``mask`` marks every real node, which is the same on these
    datasets (none has an isolated node).

    Args:
        graphs: undirected graphs without self-loops.
        max_nodes: padded size :math:`N` (GDSS's ``max_node_num``, :func:`generic_graph_spec`).
        degree_classes: feature width (GDSS's ``max_feat_num``); every degree must be below it.

    Shapes:
        returns x ``(B, N, degree_classes)``, adj ``(B, N, N)`` and mask ``(B, N)``, with ``B = len(graphs)``.
    """
    positive_int(max_nodes, "max_nodes"), positive_int(degree_classes, "degree_classes")
    adj = torch.zeros(len(graphs), max_nodes, max_nodes)
    mask = torch.zeros(len(graphs), max_nodes, dtype=torch.bool)
    for b, graph in enumerate(graphs):
        if not isinstance(graph, nx.Graph) or graph.is_directed() or graph.is_multigraph():
            raise TypeError(f"graphs[{b}] must be an undirected networkx.Graph, got {type(graph).__name__}")
        n = graph.number_of_nodes()
        if n > max_nodes:
            raise ValueError(f"graphs[{b}] has {n} nodes, more than max_nodes={max_nodes}")
        if nx.number_of_selfloops(graph):
            raise ValueError(f"graphs[{b}] has self-loops; GDSS's graphs have none (remove them first)")
        position = {v: i for i, v in enumerate(graph.nodes)}
        if graph.number_of_edges():
            index = torch.tensor([(position[u], position[v]) for u, v in graph.edges]).t()
            adj[b, index[0], index[1]] = 1.0
            adj[b, index[1], index[0]] = 1.0
        mask[b, :n] = True
    degree = adj.sum(-1).long()
    if len(graphs) and int(degree.max()) >= degree_classes:
        raise ValueError(f"a node has degree {int(degree.max())}, beyond degree_classes={degree_classes} one-hot "
                         "classes (0..degree_classes-1)")
    x = torch.nn.functional.one_hot(degree, degree_classes).float() * mask[..., None]
    return DenseGraphs(x, adj, mask)


__all__ = [
    "DenseGraphs", "GENERIC_GRAPH_DATASETS", "GenericGraphSpec", "GraphSplits", "generic_graph_spec",
    "graphs_to_dense", "load_generic_graphs",
]
