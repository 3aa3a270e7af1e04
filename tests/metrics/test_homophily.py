"""Edge and node homophily: hand-computed values, PyG's implementation as a reference, and bad inputs."""
import pytest
import torch
from torch_geometric.utils import homophily

from sheafgraph.metrics import edge_homophily, node_homophily
from tests.conftest import random_undirected_graph


def both_directions(pairs):
    ei = torch.tensor(pairs).t()
    return torch.cat([ei, ei.flip(0)], dim=1)


def test_hand_computed():
    # triangle 0-1-2, tail 2-3, isolated node 4; labels 0,0,0,1,1
    ei = both_directions([[0, 1], [0, 2], [1, 2], [2, 3]])
    y = torch.tensor([0, 0, 0, 1, 1])
    assert edge_homophily(ei, y) == pytest.approx(3 / 4)
    # nodes 0, 1: 1; node 2: 2/3; node 3: 0; node 4 has no neighbours and is left out
    assert node_homophily(ei, y) == pytest.approx((1 + 1 + 2 / 3 + 0) / 4)


def test_directed_uses_incoming_edges():
    ei = torch.tensor([[0, 0, 1], [1, 2, 2]])  # 0->1, 0->2, 1->2
    y = torch.tensor([0, 0, 1])
    assert edge_homophily(ei, y) == pytest.approx(1 / 3)
    assert node_homophily(ei, y) == pytest.approx((1 + 0) / 2)  # node 1: {0}, node 2: {0, 1}; node 0: none


def test_matches_pyg():
    ei = random_undirected_graph(60, 200, isolated=0, seed=3)
    y = torch.randint(0, 3, (60,), generator=torch.Generator().manual_seed(1))
    assert torch.bincount(ei[1], minlength=60).min() > 0  # PyG counts isolated nodes as 0; avoid them here
    assert edge_homophily(ei, y) == pytest.approx(homophily(ei, y, method="edge"), abs=1e-6)
    assert node_homophily(ei, y) == pytest.approx(homophily(ei, y, method="node"), abs=1e-6)


def test_bad_inputs():
    ei = both_directions([[0, 1]])
    with pytest.raises(TypeError, match="integer class labels"):
        edge_homophily(ei, torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="torch.Tensor"):
        node_homophily(ei, [0, 1])
    with pytest.raises(ValueError, match=r"shape \(num_nodes,\)"):
        edge_homophily(ei, torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="out of range"):
        node_homophily(ei, torch.tensor([0]))
    with pytest.raises(ValueError, match="without edges"):
        edge_homophily(torch.zeros(2, 0, dtype=torch.long), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"shape \(2, E\)"):
        edge_homophily(torch.zeros(3, 2, dtype=torch.long), torch.tensor([0, 1]))
