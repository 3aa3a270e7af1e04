"""Generic-graph loader: GDSS's four datasets from the shared data (split sizes, order, sizes, dense tensors), and
named errors for unknown names, missing, altered and malformed files."""
import json
import shutil

import networkx as nx
import pytest
import torch

from sheafgraph.data.generic_graphs import (GENERIC_GRAPH_DATASETS, generic_graph_spec, graphs_to_dense,
                                            load_generic_graphs)

# name: (train, test, largest graph, first test graph's (nodes, edges))
EXPECTED = {
    "ego_small": (160, 40, 17, (6, 10)),
    "community_small": (80, 20, 20, None),
    "ENZYMES": (470, 117, 125, None),
    "grid": (80, 20, 361, None),
}


@pytest.fixture
def generic_root(shared_data):
    folder = shared_data / "molecules" / "generic"
    missing = [name for name in GENERIC_GRAPH_DATASETS if not (folder / f"{name}.json").is_file()]
    if missing:
        pytest.skip(f"{folder} lacks {', '.join(missing)}.json")
    return shared_data


@pytest.mark.parametrize("name", list(GENERIC_GRAPH_DATASETS))
def test_real_files_split_as_gdss(generic_root, name):
    train, test, largest, first = EXPECTED[name]
    splits = load_generic_graphs(name, generic_root)
    assert len(splits.train) == train and len(splits.test) == test
    graphs = splits.test + splits.train
    with open(generic_root / "molecules" / "generic" / f"{name}.json") as f:
        raw = json.load(f)["graphs"]
    assert [g.number_of_nodes() for g in graphs] == [g["num_nodes"] for g in raw]  # file order, test first
    assert [g.number_of_edges() for g in graphs] == [len(g["edges"]) for g in raw]
    assert max(g.number_of_nodes() for g in graphs) == largest <= generic_graph_spec(name).max_nodes
    if first is not None:
        assert (splits.test[0].number_of_nodes(), splits.test[0].number_of_edges()) == first
    spec = generic_graph_spec(name)
    dense = graphs_to_dense(splits.test, spec.max_nodes, spec.degree_classes)
    assert dense.adj.shape == (test, spec.max_nodes, spec.max_nodes)
    assert dense.x.shape == (test, spec.max_nodes, spec.degree_classes)
    assert torch.equal(dense.adj, dense.adj.transpose(1, 2)) and dense.adj.diagonal(dim1=1, dim2=2).sum() == 0
    assert dense.mask.sum(1).tolist() == [g.number_of_nodes() for g in splits.test]
    assert torch.equal(dense.mask, dense.adj.sum(-1) > 0)  # no isolated nodes: GDSS's degree flags agree
    assert torch.equal(dense.x.argmax(-1)[dense.mask], dense.adj.sum(-1)[dense.mask].long())


def test_grid_graphs_are_grids(generic_root):
    for graph in load_generic_graphs("grid", generic_root).test:
        degrees = sorted(d for _, d in graph.degree)
        assert degrees[:4] == [2, 2, 2, 2] and degrees[-1] <= 4 and nx.is_connected(graph)


def test_names_and_specs():
    assert generic_graph_spec("ego_small") == (18, 17)
    assert generic_graph_spec("community_small") == (20, 10)
    assert generic_graph_spec("enzymes") == generic_graph_spec("ENZYMES") == (125, 10)
    assert generic_graph_spec("grid") == (361, 5)
    with pytest.raises(ValueError, match="valid names: ego_small, community_small, ENZYMES, grid"):
        generic_graph_spec("lobster")
    with pytest.raises(ValueError, match="unknown generic graph dataset 'qm9'"):
        load_generic_graphs("qm9")


def write(root, name, content):
    folder = root / "molecules" / "generic"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_small_file_without_checksum_and_split(tmp_path):
    graphs = [{"num_nodes": n, "edges": [[i, i + 1] for i in range(n - 1)]} for n in range(2, 12)]
    write(tmp_path, "grid", {"name": "grid", "graphs": graphs})
    splits = load_generic_graphs("grid", tmp_path, verify=False)
    assert [g.number_of_nodes() for g in splits.test] == [2, 3]  # int(0.2 * 10) = 2 first graphs
    assert [g.number_of_nodes() for g in splits.train] == list(range(4, 12))
    with pytest.raises(ValueError, match="sha256 .* differs from the released file"):
        load_generic_graphs("grid", tmp_path)


def test_shipped_file_altered_is_caught(generic_root, tmp_path):
    path = tmp_path / "molecules" / "generic" / "ego_small.json"
    path.parent.mkdir(parents=True)
    shutil.copy(generic_root / "molecules" / "generic" / "ego_small.json", path)
    assert len(load_generic_graphs("ego_small", tmp_path).train) == 160
    path.write_text(path.read_text().replace("[0,1]", "[1,0]", 1))
    with pytest.raises(ValueError, match="ego_small.json has sha256"):
        load_generic_graphs("ego_small", tmp_path)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"community_small.json not found; GDSS's generic-graph"):
        load_generic_graphs("community_small", tmp_path)
    cases = [
        ("{not json", "is not valid JSON"),
        ([1, 2], "must hold an object with a 'graphs' list"),
        ({"name": "grid", "graphs": []}, "holds the dataset 'grid', not 'ego_small'"),
        ({"graphs": [{"num_nodes": -1, "edges": []}]}, r"graph 0 must be \{'num_nodes'"),
        ({"graphs": [{"num_nodes": 3}]}, r"graph 0 must be \{'num_nodes'"),
        ({"graphs": [{"num_nodes": 3, "edges": []}, {"num_nodes": 3, "edges": [[0, 3]]}]},
         r"graph 1 has the edge \[0, 3\]; edges must be pairs of distinct node ids in 0..2"),
        ({"graphs": [{"num_nodes": 3, "edges": [[1, 1]]}]}, r"graph 0 has the edge \[1, 1\]"),
        ({"graphs": [{"num_nodes": 3, "edges": [[0, 1, 2]]}]}, r"graph 0 has the edge \[0, 1, 2\]"),
    ]
    for content, message in cases:
        path = write(tmp_path, "ego_small", content)
        with pytest.raises(ValueError, match=message) as info:
            load_generic_graphs("ego_small", tmp_path, verify=False)
        assert str(path) in str(info.value)


def test_graphs_to_dense_on_a_small_set_and_its_errors():
    graphs = [nx.path_graph(3), nx.relabel_nodes(nx.star_graph(2), {0: "c", 1: "a", 2: "b"})]
    dense = graphs_to_dense(graphs, 4, 3)
    path = torch.tensor([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.float32)
    assert torch.equal(dense.adj[0], path)
    assert torch.equal(dense.adj[1, 0], torch.tensor([0.0, 1.0, 1.0, 0.0]))  # centre "c" is the first node
    assert dense.mask.tolist() == [[True, True, True, False]] * 2
    assert dense.x[0].tolist() == [[0, 1, 0], [0, 0, 1], [0, 1, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match=r"graphs\[0\] has 3 nodes, more than max_nodes=2"):
        graphs_to_dense(graphs, 2, 3)
    with pytest.raises(ValueError, match="degree 2, beyond degree_classes=2"):
        graphs_to_dense(graphs, 4, 2)
    with pytest.raises(ValueError, match="max_nodes must be a positive int"):
        graphs_to_dense(graphs, 0, 3)
    with pytest.raises(TypeError, match=r"graphs\[1\] must be an undirected networkx.Graph, got DiGraph"):
        graphs_to_dense([nx.path_graph(2), nx.DiGraph([(0, 1)])], 4, 3)
    with pytest.raises(ValueError, match=r"graphs\[0\] has self-loops"):
        graphs_to_dense([nx.Graph([(0, 0)])], 4, 3)
