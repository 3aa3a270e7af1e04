import pytest
import torch
from torch_geometric.utils import coalesce

from sheafgraph.ops import GraphStructure, graph_laplacian, sheaf_laplacian
from tests.conftest import random_undirected_graph


def test_reverse_index_and_degrees():
    ei = random_undirected_graph(40, 100, seed=0)
    s = GraphStructure(ei)
    rev = s.reverse_index()
    torch.testing.assert_close(ei[:, rev], ei.flip(0))
    assert s.num_nodes == int(ei.max()) + 1
    torch.testing.assert_close(s.out_degree(), torch.bincount(ei[0], minlength=s.num_nodes).float())
    known = GraphStructure(ei, reverse=rev)                              # a reverse the caller knows is kept
    assert known.reverse_index() is rev
    with pytest.raises(ValueError, match="edge_index\\[:, reverse\\] must equal edge_index.flip\\(0\\)"):
        GraphStructure(ei, reverse=rev.roll(1))
    twice = torch.tensor([[0, 0, 1, 1], [1, 1, 0, 0]])                  # a duplicate edge: no pairing by reverse
    with pytest.raises(ValueError, match="reverse\\[reverse\\] the identity"):
        GraphStructure(twice, reverse=torch.tensor([2, 2, 0, 0]))
    with pytest.raises(ValueError, match=f"reverse must be a LongTensor of shape \\({ei.size(1)},\\)"):
        GraphStructure(ei, reverse=rev[:-1])


def test_reverse_index_and_duplicates_with_keys_sorted_or_not():
    ordered = coalesce(random_undirected_graph(40, 100, seed=5))          # keys already sorted: nothing is sorted
    shuffled = ordered[:, torch.randperm(ordered.size(1), generator=torch.Generator().manual_seed(0))]
    for edges, in_order in [(ordered, True), (shuffled, False)]:
        s = GraphStructure(edges)
        assert s.rows_sorted() is in_order and not s.has_duplicates()
        torch.testing.assert_close(edges[:, s.reverse_index()], edges.flip(0))
        doubled = edges.repeat_interleave(2, dim=1)                        # every edge twice, order kept
        assert GraphStructure(doubled).has_duplicates()
        with pytest.raises(ValueError, match="edge_index has duplicate edges; coalesce it first"):
            GraphStructure(doubled).reverse_index()


def test_block_pattern_is_csr_sorted_and_scalar_expansion_is_a_permutation():
    ei = random_undirected_graph(20, 30, seed=1)
    p = GraphStructure(ei, 20).block_pattern()
    keys = p.row * 20 + p.col
    assert bool((keys[1:] > keys[:-1]).all())
    assert p.num_blocks == ei.size(1) + 20
    for d, diagonal in [(3, False), (3, True), (1, True)]:
        sp = p.scalar(d, diagonal)
        assert sorted(sp.gather.tolist()) == list(range(sp.nnz))
        assert int(sp.crow[-1]) == sp.nnz


def test_pattern_caches_do_not_go_stale_across_graphs():
    a = random_undirected_graph(10, 12, seed=2)
    b = random_undirected_graph(10, 12, seed=3)
    maps_a, maps_b = torch.randn(a.size(1), 2), torch.randn(b.size(1), 2)
    la, lb = sheaf_laplacian(a, maps_a, 10), sheaf_laplacian(b, maps_b, 10)
    assert la.pattern is not lb.pattern
    torch.testing.assert_close(sheaf_laplacian(GraphStructure(a, 10), maps_a).to_dense(), la.to_dense())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    ei = random_undirected_graph(30, 60, seed=4)
    maps = torch.randn(ei.size(1), 3, 3, dtype=torch.float64)
    x = torch.randn(90, 4, dtype=torch.float64)
    cpu = sheaf_laplacian(ei, maps, 30, normalization="sym") @ x
    gpu = sheaf_laplacian(ei.cuda(), maps.cuda(), 30, normalization="sym") @ x.cuda()
    torch.testing.assert_close(gpu.cpu(), cpu)
    w = torch.rand(ei.size(1), device="cuda", requires_grad=True)
    (graph_laplacian(ei.cuda(), w, 30) @ torch.randn(30, 2, device="cuda")).sum().backward()
    assert torch.isfinite(w.grad).all()
