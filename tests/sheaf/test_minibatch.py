"""Mini-batch node classification: METIS partition, subgraph batches (cover, symmetry, ranks, determinism) and
training that equals full-batch training when one batch holds the whole graph."""
import json

import pytest
import torch
import torch_geometric.typing as pyg_typing
from torch_geometric.data import Data

from sheafgraph.cli import main
from sheafgraph.data import load_node_dataset
from sheafgraph.ops import GraphStructure
from sheafgraph.sheaf.minibatch import (CLUSTERS_PER_BATCH, SubgraphBatches, fanout, metis_partition,
                                        num_cluster_parts)
from sheafgraph.sheaf.recipes import NodeClsConfig, build_model
from sheafgraph.sheaf.training import train_fold
from sheafgraph.utils import seed_everything
from sheafgraph.utils.checks import MissingExtraError
from tests.conftest import random_undirected_graph

pytest.importorskip("pymetis")


def graph(n=300, pairs=900, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = random_undirected_graph(n, pairs, isolated=3, seed=seed)
    train = torch.rand(n, 2, generator=g) < 0.5
    return Data(x=torch.randn(n, 5, generator=g), y=torch.randint(0, 3, (n,), generator=g), edge_index=ei,
                train_mask=train, val_mask=~train, test_mask=~train, node_id=torch.arange(n), num_nodes=n)


def edge_set(ei):
    return set(map(tuple, ei.t().tolist()))


def test_metis_partition_assigns_every_node_once_and_cuts_few_edges():
    data = graph()
    parts = metis_partition(data.edge_index, data.num_nodes, 6)
    assert parts.shape == (data.num_nodes,) and parts.dtype == torch.long
    assert set(parts.tolist()) == set(range(6))
    cut = (parts[data.edge_index[0]] != parts[data.edge_index[1]]).float().mean()
    random = (torch.randint(0, 6, (data.num_nodes,))[data.edge_index]).diff(dim=0).ne(0).float().mean()
    assert cut < random                                  # METIS beats a random assignment


def test_cluster_batches_cover_every_node_once_with_induced_symmetric_subgraphs():
    data = graph()
    batches = SubgraphBatches(data, "cluster", batch_size=80)
    full = edge_set(data.edge_index)
    seen = []
    for batch in batches.epoch_batches(fold=1, epoch=0):
        ids = batch.node_id
        seen.append(ids)
        sub = edge_set(ids[batch.edge_index])
        assert sub <= full                               # real edges only ...
        inside = set(ids.tolist())
        assert sub == {(i, j) for i, j in full if i in inside and j in inside}       # ... and all of them
        assert torch.equal(batch.seed_mask, data.train_mask[ids, 1])
        GraphStructure(batch.edge_index, batch.num_nodes)                          # both directions present
    seen = torch.cat(seen)
    assert len(seen) == data.num_nodes and torch.equal(seen.sort().values, torch.arange(data.num_nodes))
    assert len(batches) == len(list(batches.epoch_batches(1, 1)))


@pytest.mark.parametrize("hops", [1, 2])
def test_ego_batches_give_every_training_node_once_with_its_whole_neighbourhood(hops):
    data = graph()
    full = edge_set(data.edge_index)
    seeds, sizes = [], []
    for batch in SubgraphBatches(data, "ego", batch_size=25, hops=hops).epoch_batches(fold=0, epoch=3):
        ids = torch.nonzero((data.x.unsqueeze(0) == batch.x.unsqueeze(1)).all(-1))[:, 1]      # rows of data.x
        assert len(ids) == batch.num_nodes
        inside = set(ids.tolist())
        sub = edge_set(ids[batch.edge_index])
        assert sub == {(i, j) for i, j in full if i in inside and j in inside}       # induced
        center = ids[batch.seed_mask]
        assert data.train_mask[center, 0].all() and len(center) <= 25
        ball = set(center.tolist())
        for _ in range(hops):                              # each seed keeps everything within `hops` hops
            ball |= {j for j, k in full if k in ball}
        assert ball == inside
        seeds.append(center)
        sizes.append(batch.num_nodes)
    seeds = torch.cat(seeds).sort().values
    assert torch.equal(seeds, data.train_mask[:, 0].nonzero().view(-1))
    assert hops == 2 or max(sizes) < data.num_nodes       # one hop does not already cover the test graph


def test_batches_are_deterministic_per_epoch_and_split_between_ranks():
    data = graph()

    def ids(rank=0, world=1, epoch=0):
        b = SubgraphBatches(data, "cluster", batch_size=40, seed=5, rank=rank, world_size=world)
        return [batch.node_id.tolist() for batch in b.epoch_batches(0, epoch)]

    assert ids() == ids() and ids() != ids(epoch=1)
    r0, r1 = ids(0, 2), ids(1, 2)
    assert len(r0) == len(r1) == len(ids()) // 2          # lock-step: equal counts, the remainder dropped
    assert sorted(r0 + r1) == sorted(ids(world=1)[:2 * len(r0)])
    # seeded samplers count the batches of the split they seed: 141 training nodes of split 1 in 5 batches of 32
    # (not the 224 nodes that train in either split: 7), so 2 ranks get 2 batches each, in lock-step
    ego = [SubgraphBatches(data, "ego", batch_size=32, rank=r, world_size=2) for r in (0, 1)]
    assert int(data.train_mask[:, 1].sum()) == 141 and ego[0].num_batches(1) == 2
    assert [len(list(b.epoch_batches(1, 0))) for b in ego] == [2, 2]
    splits = data.train_mask.shape[1]
    for sampler in ("cluster", "ego"):                    # a split the graph lacks is named, for both calls
        b = SubgraphBatches(data, sampler, batch_size=32)
        message = rf"fold must be an int in 0\.\.{splits - 1} \(a split index.*got {splits}"
        with pytest.raises(ValueError, match=message):
            b.num_batches(splits)
        with pytest.raises(ValueError, match="split index"):
            next(b.epoch_batches(-1, 0))


def test_a_saved_partition_gives_the_same_batches():
    data = graph()
    parts = metis_partition(data.edge_index, data.num_nodes, num_cluster_parts(data.num_nodes, 80))

    def ids(**kw):
        return [b.node_id.tolist() for b in SubgraphBatches(data, "cluster", 80, **kw).epoch_batches(0, 0)]
    assert ids() == ids(partition=parts)
    with pytest.raises(ValueError, match="partition"):
        SubgraphBatches(data, "cluster", 80, partition=parts[:-1])


@pytest.mark.parametrize("sampler", ["cluster", "ego"])
def test_one_batch_of_the_whole_graph_trains_like_full_batch(sampler):
    """One cluster batch of every node, or one ego batch of every training seed with more hops than the graph is
    wide (every seed's receptive field and every degree whole), must train exactly as full batch does."""
    data = load_node_dataset("texas") if sampler == "cluster" else graph(pairs=400)
    config = NodeClsConfig(model="diag", layers=2, hidden=4, d=2, dropout=0.0, epochs=6, patience=10, lr=0.05)
    whole = (SubgraphBatches(data, "cluster", batch_size=CLUSTERS_PER_BATCH * data.num_nodes) if sampler == "cluster"
             else SubgraphBatches(data, "ego", batch_size=data.num_nodes, hops=data.num_nodes))
    results, weights = [], []
    for batches in (None, whole):
        seed_everything(0)
        model = build_model(config, data.num_features, int(data.y.max()) + 1)
        results.append(train_fold(model, data, 0, config, graph=GraphStructure(data.edge_index, data.num_nodes),
                                  batches=batches))
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert results[0].val_loss == pytest.approx(results[1].val_loss, rel=1e-4)
    assert results[0].best_epoch == results[1].best_epoch
    torch.testing.assert_close(weights[1], weights[0], rtol=0, atol=1e-5)     # one hop fewer: about 0.1 apart


@pytest.mark.skipif(pyg_typing.WITH_TORCH_SPARSE, reason="torch-sparse present")
def test_neighbor_sampler_without_torch_sparse_says_what_to_install():
    with pytest.raises(MissingExtraError, match="needs torch-sparse"):
        SubgraphBatches(graph(), "neighbor", batch_size=32)


needs_torch_sparse = pytest.mark.skipif(not pyg_typing.WITH_TORCH_SPARSE,
                                        reason="the neighbor sampler needs torch-sparse (a source build)")


@needs_torch_sparse
def test_neighbor_batches_seed_every_training_node_once_in_induced_symmetric_subgraphs():
    data = graph()
    full = edge_set(data.edge_index)
    batches = SubgraphBatches(data, "neighbor", batch_size=32, hops=2, num_neighbors=3, seed=1)
    seeds, sizes = [], []
    for batch in batches.epoch_batches(fold=1, epoch=0):
        ids = batch.node_id
        inside = set(ids.tolist())
        sub = edge_set(ids[batch.edge_index])
        assert sub == {(i, j) for i, j in full if i in inside and j in inside}       # induced: both directions
        center = ids[batch.seed_mask]
        assert torch.equal(ids[:len(center)], center) and data.train_mask[center, 1].all() and len(center) <= 32
        seeds.append(center)
        sizes.append(batch.num_nodes)
    assert torch.equal(torch.cat(seeds).sort().values, data.train_mask[:, 1].nonzero().view(-1))
    assert max(sizes) <= 32 * (1 + 3 + 9)            # at most 3 sampled per node and hop
    assert batches.num_batches(1) == len(seeds) == 5
    per_hop = SubgraphBatches(data, "neighbor", batch_size=32, hops=2, num_neighbors=(3, 1), seed=1)
    assert per_hop.fanout == (3, 1)
    assert max(b.num_nodes for b in per_hop.epoch_batches(1, 0)) <= 32 * (1 + 3 + 3)    # 3 of each seed's, 1 of theirs

    def node_ids(epoch, rank=0, world=1):
        b = SubgraphBatches(data, "neighbor", batch_size=32, num_neighbors=3, seed=1, rank=rank, world_size=world)
        return [batch.node_id.tolist() for batch in b.epoch_batches(1, epoch)]

    before = torch.get_rng_state()
    assert node_ids(0) == node_ids(0) and node_ids(0) != node_ids(1)      # sampled from the seed, not the global RNG
    assert torch.equal(torch.get_rng_state(), before)                      # which stays as it was (dropout's)
    r0, r1 = node_ids(0, 0, 2), node_ids(0, 1, 2)
    assert len(r0) == len(r1) == len(node_ids(0)) // 2 and sorted(r0 + r1) == sorted(node_ids(0)[:2 * len(r0)])


@needs_torch_sparse
def test_nodecls_cli_trains_on_neighbor_batches(tmp_path):
    out = tmp_path / "texas.json"
    assert main(["nodecls", "--dataset", "texas", "--model", "diag", "--folds", "1", "--epochs", "2",
                 "--batch-size", "32", "--sampler", "neighbor", "--num-neighbors", "5", "2", "--no-progress",
                 "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert (record["config"]["sampler"], record["config"]["num_neighbors"]) == ("neighbor", [5, 2])


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="sampler"):
        SubgraphBatches(graph(), "random", batch_size=32)
    with pytest.raises(ValueError, match="batch_size"):
        NodeClsConfig(batch_size=0)
    with pytest.raises(ValueError, match="hops"):
        NodeClsConfig(hops=0)
    with pytest.raises(ValueError, match="num_parts"):
        metis_partition(graph().edge_index, 300, 0)
    with pytest.raises(ValueError, match="3 counts for 2 hops"):
        NodeClsConfig(num_neighbors=(10, 3, 2))
    with pytest.raises(ValueError, match="num_neighbors"):
        NodeClsConfig(num_neighbors=(10, 0))
    with pytest.raises(ValueError, match="num_neighbors"):
        SubgraphBatches(graph(), "cluster", batch_size=32, num_neighbors=0)


def test_neighbor_counts_are_one_for_every_hop_or_one_per_hop():
    assert fanout(4, 3) == (4, 4, 4) and fanout([4], 2) == (4, 4) and fanout((10, 3), 2) == (10, 3)
    assert NodeClsConfig(num_neighbors=[5]).num_neighbors == 5                  # one count is stored as an int
    assert NodeClsConfig(num_neighbors=(4, 4)).num_neighbors == 4
    assert NodeClsConfig(num_neighbors=(10, 3)).num_neighbors == (10, 3)
    assert NodeClsConfig(num_neighbors=(10, 3, 2), layers=3).num_neighbors == (10, 3, 2)
    assert NodeClsConfig(num_neighbors=(10, 3, 2), hops=3).num_neighbors == (10, 3, 2)   # hops, not layers, count


def test_nodecls_cli_trains_on_cluster_batches(tmp_path, capsys):
    out = tmp_path / "texas.json"
    assert main(["nodecls", "--dataset", "texas", "--model", "diag", "--folds", "1", "--epochs", "3",
                 "--batch-size", "64", "--no-progress", "--json", str(out)]) == 0
    assert "batch_size" in out.read_text()


def test_nodecls_cli_trains_on_ego_batches_of_chosen_hops(tmp_path):
    out = tmp_path / "texas.json"
    assert main(["nodecls", "--dataset", "texas", "--model", "diag", "--folds", "1", "--epochs", "2",
                 "--batch-size", "32", "--sampler", "ego", "--hops", "1", "--no-progress", "--json", str(out)]) == 0
    config = json.loads(out.read_text())["config"]
    assert (config["sampler"], config["hops"], config["batch_size"]) == ("ego", 1, 32)
