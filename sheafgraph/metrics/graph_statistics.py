r"""Plain summary statistics of a set of graphs, to read the degree / clustering / orbit MMD by.

An MMD says *that* two sets differ, not *how*. :func:`graph_statistics` gives the means over the graphs of a set:
node and edge counts, triangles :math:`\tfrac13 \sum_i t_i` (:math:`t_i` the triangles through node :math:`i`),
the mean local clustering coefficient :math:`c_i = 2 t_i / (d_i (d_i - 1))` (0 where :math:`d_i < 2`, self-loops
left out of :math:`d_i`, as networkx and the clustering MMD count it), the share of nodes in no triangle and the
number of connected components. ``sheafgraph graphgen evaluate`` prints them for the samples beside the reference split.
"""
from __future__ import annotations

from typing import Dict, Sequence

import networkx as nx
import numpy as np

#: the statistics :func:`graph_statistics` returns, in print order, with their column labels
STATISTICS: Dict[str, str] = {
    "nodes": "nodes", "edges": "edges", "triangles": "triangles", "clustering": "mean clustering",
    "no_triangle": "nodes in no triangle", "components": "components",
}


def graph_statistics(graphs: Sequence[nx.Graph]) -> Dict[str, float]:
    """Means over ``graphs`` of the :data:`STATISTICS` (node-level ones averaged within each graph first, so every
    graph weighs the same). Raises ``ValueError`` for an empty set or a graph without nodes."""
    if len(graphs) == 0:
        raise ValueError("graph_statistics needs at least one graph")
    rows = []
    for index, graph in enumerate(graphs):
        if graph.number_of_nodes() == 0:
            raise ValueError(f"graph {index} has no nodes")
        triangles_at = nx.triangles(graph)
        triangles = np.array([triangles_at[node] for node in graph], dtype=float)
        degrees = np.array([len(set(graph[node]) - {node}) for node in graph], dtype=float)  # self-loops aside
        pairs = degrees * (degrees - 1) / 2
        clustering = np.divide(triangles, pairs, out=np.zeros_like(triangles), where=pairs > 0)
        rows.append([graph.number_of_nodes(), graph.number_of_edges(), triangles.sum() / 3, clustering.mean(),
                     np.mean(triangles == 0), nx.number_connected_components(graph)])
    return dict(zip(STATISTICS, np.mean(rows, axis=0).tolist()))
