"""Graph statistics on graphs whose answers are known by hand, the per-graph averaging, and named errors."""
import networkx as nx
import pytest

from sheafgraph.metrics import graph_statistics


def test_hand_computed_graphs():
    # K4: 4 triangles, every node clustered 1; a 4-node path: none, clustering 0
    k4, path = graph_statistics([nx.complete_graph(4)]), graph_statistics([nx.path_graph(4)])
    assert k4 == {"nodes": 4, "edges": 6, "triangles": 4, "clustering": 1, "no_triangle": 0, "components": 1}
    assert path == {"nodes": 4, "edges": 3, "triangles": 0, "clustering": 0, "no_triangle": 1, "components": 1}
    # a paw (triangle 0-1-2 with the pendant 2-3): clustering 1, 1, 1/3, 0; one node in no triangle
    paw = graph_statistics([nx.Graph([(0, 1), (1, 2), (0, 2), (2, 3)])])
    assert paw["triangles"] == 1 and paw["clustering"] == pytest.approx((1 + 1 + 1 / 3 + 0) / 4)
    assert paw["no_triangle"] == pytest.approx(0.25)
    # a self-loop on node 2 neither adds a triangle nor counts in its degree: clustering as networkx gives it
    looped = nx.Graph([(0, 1), (1, 2), (0, 2), (2, 3), (2, 2)])
    assert graph_statistics([looped]) == {**paw, "edges": 5}
    assert graph_statistics([looped])["clustering"] == pytest.approx(sum(nx.clustering(looped).values()) / 4)


def test_every_graph_weighs_the_same():
    # a triangle plus a separate edge (2 components), and a 6-node path: node shares are averaged per graph
    two = nx.Graph([(0, 1), (1, 2), (0, 2), (3, 4)])
    both = graph_statistics([two, nx.path_graph(6)])
    assert both["nodes"] == pytest.approx(5.5) and both["components"] == pytest.approx(1.5)
    assert both["no_triangle"] == pytest.approx((2 / 5 + 1) / 2)
    assert both["clustering"] == pytest.approx((3 / 5 + 0) / 2)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="at least one graph"):
        graph_statistics([])
    with pytest.raises(ValueError, match="graph 1 has no nodes"):
        graph_statistics([nx.path_graph(2), nx.Graph()])
