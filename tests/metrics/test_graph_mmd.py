"""Graph MMD: orbit counts against brute-force enumeration, hand-computed MMD values, the kernels against scipy's
1-D Wasserstein distance, MMD properties, and named errors."""
import itertools
import math

import networkx as nx
import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from sheafgraph.metrics.graph_mmd import (GRAPH_MMD, clustering_histogram, clustering_mmd, degree_histogram,
                                          degree_mmd, gaussian_emd_kernel, graph_mmd, orbit_counts, orbit_mmd)

# the connected induced graphlets on 2-4 nodes by (edge count, sorted degrees), and the orbit of a node of each degree
GRAPHLET_ORBITS = {
    (1, (1, 1)): {1: 0},
    (2, (1, 1, 2)): {1: 1, 2: 2}, (3, (2, 2, 2)): {2: 3},
    (3, (1, 1, 2, 2)): {1: 4, 2: 5}, (3, (1, 1, 1, 3)): {1: 6, 3: 7}, (4, (2, 2, 2, 2)): {2: 8},
    (4, (1, 2, 2, 3)): {1: 9, 2: 10, 3: 11}, (5, (2, 2, 3, 3)): {2: 12, 3: 13}, (6, (3, 3, 3, 3)): {3: 14},
}


def brute_force_orbits(graph: nx.Graph) -> np.ndarray:
    """ORCA's node orbits by enumerating every 2-, 3- and 4-node subset and naming its induced subgraph."""
    nodes = list(graph.nodes)
    counts = np.zeros((len(nodes), 15), dtype=np.int64)
    for k in (2, 3, 4):
        for subset in itertools.combinations(range(len(nodes)), k):
            sub = graph.subgraph([nodes[i] for i in subset])
            degrees = [sub.degree(nodes[i]) for i in subset]
            orbits = GRAPHLET_ORBITS.get((sub.number_of_edges(), tuple(sorted(degrees))))
            if orbits is not None and nx.is_connected(sub):
                for i, deg in zip(subset, degrees):
                    counts[i, orbits[deg]] += 1
    return counts


def test_orbit_counts_of_small_graphs_by_hand():
    k4 = orbit_counts(nx.complete_graph(4))
    assert (k4 == np.array([3, 0, 0, 3] + [0] * 10 + [1])).all()
    c4 = orbit_counts(nx.cycle_graph(4))
    assert (c4 == np.array([2, 2, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0])).all()
    star = orbit_counts(nx.star_graph(3))  # node 0 is the centre
    assert star[0].tolist() == [3, 0, 3, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert (star[1:] == np.array([1, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])).all()
    paw = nx.Graph([(0, 1), (1, 2), (1, 3), (2, 3)])  # tail 0, centre 1
    assert orbit_counts(paw)[:, 9:12].tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 0]]
    assert orbit_counts(nx.empty_graph(3)).sum() == 0


@pytest.mark.parametrize("n, p, seed", [(6, 0.5, 0), (8, 0.3, 1), (8, 0.6, 2), (9, 0.8, 3), (10, 0.45, 4)])
def test_orbit_counts_match_brute_force_on_random_graphs(n, p, seed):
    graph = nx.gnp_random_graph(n, p, seed=seed)
    assert (orbit_counts(graph) == brute_force_orbits(graph)).all()


def test_orbit_counts_follow_node_order_and_labels():
    graph = nx.relabel_nodes(nx.gnp_random_graph(9, 0.5, seed=7), {i: f"v{8 - i}" for i in range(9)})
    assert (orbit_counts(graph) == brute_force_orbits(graph)).all()


@pytest.mark.slow
def test_orbit_counts_on_a_grid_and_its_graphlets():
    grid = nx.grid_2d_graph(5, 6)
    counts = orbit_counts(grid)
    assert (counts == brute_force_orbits(grid)).all()
    assert counts[:, [3, 9, 10, 11, 12, 13, 14]].sum() == 0  # no triangles in a grid
    assert counts[:, 8].sum() == 4 * 4 * 5  # each of the 20 squares counted at its 4 corners


def test_degree_and_clustering_histograms():
    graph = nx.Graph([(0, 1), (1, 2), (0, 2), (2, 3)])
    graph.add_node(4)
    assert degree_histogram(graph).tolist() == [1, 1, 2, 1]
    hist = clustering_histogram(graph, bins=3)  # coefficients 1, 1, 1/3, 0, 0
    assert hist.tolist() == [2, 1, 2]


def test_hand_computed_mmd_of_an_edge_against_a_path():
    edge, path = [nx.path_graph(2)], [nx.path_graph(3)]
    # degree pmfs (0, 1) and (0, 2/3, 1/3): EMD 1/3
    assert degree_mmd(edge, path) == pytest.approx(2 - 2 * math.exp(-(1 / 3) ** 2 / 2), rel=1e-12)
    # orbit vectors per node: (1, 0, 0, ...) and (4/3, 2/3, 1/3, 0, ...): squared distance 2/3
    assert orbit_mmd(edge, path) == pytest.approx(2 - 2 * math.exp(-(2 / 3) / (2 * 30.0 ** 2)), rel=1e-12)
    assert orbit_mmd(edge, path, sigma=1.0) == pytest.approx(2 - 2 * math.exp(-1 / 3), rel=1e-12)
    # all clustering coefficients 1 (bin 99) against all 0 (bin 0): EMD 0.99
    triangle = [nx.complete_graph(3)]
    assert clustering_mmd(triangle, path) == pytest.approx(2 - 2 * math.exp(-0.99 ** 2 / (2 * 0.1 ** 2)))
    assert clustering_mmd(edge, path) == 0.0  # both all-zero coefficients


def test_hand_computed_mmd_of_two_sets():
    a = [nx.path_graph(2), nx.path_graph(3)]
    b = [nx.path_graph(3)]
    k = math.exp(-(1 / 3) ** 2 / 2)  # kernel between the edge's and the path's degree pmfs
    expected = (1 + k + k + 1) / 4 + 1 - 2 * (k + 1) / 2
    assert degree_mmd(a, b) == pytest.approx(expected, rel=1e-12)


def test_gaussian_emd_kernel_matches_scipy_wasserstein():
    rng = np.random.default_rng(0)
    p, q = rng.random((4, 7)), rng.random((3, 7))
    p, q = p / p.sum(1, keepdims=True), q / q.sum(1, keepdims=True)
    support = np.arange(7) / 7
    emd = np.array([[wasserstein_distance(support, support, pi, qj) for qj in q] for pi in p])
    assert np.allclose(gaussian_emd_kernel(p, q, sigma=0.3, bin_distance=1 / 7), np.exp(-emd ** 2 / (2 * 0.09)))


def random_graphs(count, seed):
    rng = np.random.default_rng(seed)
    return [nx.gnp_random_graph(int(rng.integers(5, 16)), float(rng.uniform(0.1, 0.7)), seed=int(rng.integers(1e6)))
            for _ in range(count)]


def test_identical_sets_give_zero_and_mmd_is_symmetric_and_nonnegative():
    a, b = random_graphs(12, 0), random_graphs(9, 1)
    for name, mmd in GRAPH_MMD.items():
        assert mmd(a, a) == pytest.approx(0.0, abs=1e-12), name
        assert mmd(a, list(reversed(a))) == pytest.approx(0.0, abs=1e-12), name
        ab, ba = mmd(a, b), mmd(b, a)
        assert ab == pytest.approx(ba, rel=1e-12, abs=1e-15) and ab > 0, name
    assert graph_mmd(a, b) == {name: mmd(a, b) for name, mmd in GRAPH_MMD.items()}


def test_mmd_grows_with_the_difference():
    sparse = [nx.gnp_random_graph(12, 0.15, seed=s) for s in range(10)]
    medium = [nx.gnp_random_graph(12, 0.3, seed=s) for s in range(10, 20)]
    dense = [nx.gnp_random_graph(12, 0.7, seed=s) for s in range(20, 30)]
    for name, mmd in GRAPH_MMD.items():
        assert mmd(sparse, medium) < mmd(sparse, dense), name


def test_bad_inputs_give_named_errors():
    good = [nx.path_graph(3)]
    with pytest.raises(ValueError, match="graphs_a must be a non-empty"):
        degree_mmd([], good)
    with pytest.raises(ValueError, match="graphs_b must be a non-empty"):
        orbit_mmd(good, nx.path_graph(3))
    with pytest.raises(TypeError, match=r"graphs_b\[1\] must be an undirected networkx.Graph, got DiGraph"):
        clustering_mmd(good, [nx.path_graph(2), nx.DiGraph([(0, 1)])])
    with pytest.raises(TypeError, match=r"graphs_a\[0\] .* got ndarray"):
        degree_mmd([np.ones((2, 2))], good)
    with pytest.raises(ValueError, match=r"graphs_b\[0\] has no nodes"):
        orbit_mmd(good, [nx.Graph()])
    with pytest.raises(ValueError, match=r"graphs_a\[0\] has self-loops"):
        degree_mmd([nx.Graph([(0, 0), (0, 1)])], good)
    with pytest.raises(ValueError, match="bins must be a positive int"):
        clustering_mmd(good, good, bins=0)
    with pytest.raises(ValueError, match="valid names: degree, clustering, orbit"):
        graph_mmd(good, good, ["degree", "spectral"])
    with pytest.raises(TypeError, match="statistics must be a sequence of names"):
        graph_mmd(good, good, "degree")
