"""History batches (GNNAutoScale-style historical layer inputs and sheaf degrees): the degree hook against a dense
float64 reference, batches exact against the whole graph when the history is fresh, the batches themselves, training
(determinism, a whole-graph batch equal to full batch) and the errors."""
import importlib.util
import json

import pytest
import torch
from torch_geometric.data import Data

from sheafgraph.cli import main
from sheafgraph.ops import GraphStructure, sheaf_laplacian, streamed_sheaf_matmul
from sheafgraph.sheaf import build_nsd
from sheafgraph.sheaf.history import NodeHistory, detached, where_rows
from sheafgraph.sheaf.minibatch import CLUSTERS_PER_BATCH, SubgraphBatches, num_cluster_parts, uses_partition
from sheafgraph.sheaf.recipes import NodeClsConfig, build_model
from sheafgraph.sheaf.training import minibatch_epoch, train_fold
from sheafgraph.utils import seed_everything
from tests.conftest import random_undirected_graph


needs_metis = pytest.mark.skipif(importlib.util.find_spec("pymetis") is None,
                                 reason="METIS-ordered history batches need pymetis (pip install -e .[scale])")


def graph(n=80, pairs=240, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = random_undirected_graph(n, pairs, isolated=2, seed=seed)
    train = torch.rand(n, generator=g) < 0.5
    return Data(x=torch.randn(n, 5, generator=g, dtype=torch.float64), y=torch.randint(0, 3, (n,), generator=g),
                edge_index=ei, train_mask=train, val_mask=~train, test_mask=~train, num_nodes=n)


def dense_normalised_laplacian(ei, maps, n, deg):
    """(D + I)^{-1/2} L (D + I)^{-1/2} of diagonal maps with the given degree blocks D, entry by entry."""
    d = maps.size(1)
    L = torch.zeros(n * d, n * d, dtype=torch.float64)
    for e, (i, j) in enumerate(ei.t().tolist()):
        rev = [k for k, (a, b) in enumerate(ei.t().tolist()) if (a, b) == (j, i)][0]
        for a in range(d):
            L[i * d + a, j * d + a] = -maps[e, a] * maps[rev, a]
    for i in range(n):
        for a in range(d):
            L[i * d + a, i * d + a] = deg[i, a]
    s = (deg.reshape(-1) + 1).rsqrt()
    return s[:, None] * L * s[None, :]


def test_degree_hook_replaces_the_degree_blocks_against_a_dense_reference():
    data = graph(n=12, pairs=20)
    ei = data.edge_index
    maps = torch.randn(ei.size(1), 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    given = torch.rand(12, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 5
    seen = []

    def hook(deg):
        seen.append(deg.clone())
        return given
    op = sheaf_laplacian(ei, maps, 12, normalization="sym", degrees=hook)
    x = torch.randn(24, 3, dtype=torch.float64)
    expected = dense_normalised_laplacian(ei, maps, 12, given)
    torch.testing.assert_close(op.matmul(x), expected @ x)
    summed = torch.zeros(12, 2, dtype=torch.float64).index_add_(0, ei[0], maps * maps)
    torch.testing.assert_close(seen[0], summed)                  # the hook is given the degrees of the edges
    streamed = streamed_sheaf_matmul(GraphStructure(ei, 12), lambda lo, hi, rev: maps[lo:hi] if not rev else
                                     maps[GraphStructure(ei, 12).reverse_index()[lo:hi]], x.view(12, 2, 3), 7,
                                     "sym", degrees=lambda deg: given)
    torch.testing.assert_close(streamed.reshape(24, 3), expected @ x)
    with pytest.raises(ValueError, match=r"degrees hook must return degree blocks of shape \(12, 2\), got \(12,\)"):
        sheaf_laplacian(ei, maps, 12, normalization="sym", degrees=lambda deg: deg[:, 0])


@pytest.mark.parametrize("maps", ["diag", "bundle", "general"])
def test_a_batch_with_a_fresh_history_gives_the_whole_graphs_outputs(maps):
    """Recorded from the same model, the history makes every batch node's output the whole graph's, although the
    batch lacks most of its halo's edges (without the history's degrees it does not)."""
    data = graph()
    model = build_nsd(maps, 5, 3, hidden_channels=4, d=2, num_layers=3).double().eval()
    history = NodeHistory(data.num_nodes)
    full = model(data.x, data.edge_index, history=history.record())
    torch.testing.assert_close(full, model(data.x, data.edge_index), rtol=0, atol=0)   # recording changes nothing
    streamed = NodeHistory(data.num_nodes)
    model(data.x, data.edge_index, edge_chunk=7, history=streamed.record())
    for k in history.degrees:
        torch.testing.assert_close(streamed.degrees[k], history.degrees[k])
    batches = list(SubgraphBatches(data, "history", 10).epoch_batches(0, 0))
    for batch in batches:
        out = model(batch.x, batch.edge_index, history=history.batch(batch.n_id, batch.batch_mask))
        torch.testing.assert_close(out[batch.batch_mask], full[batch.n_id[batch.batch_mask]], rtol=1e-12, atol=1e-12)
    plain = model(batches[0].x, batches[0].edge_index)
    assert not torch.allclose(plain[batches[0].batch_mask], full[batches[0].n_id[batches[0].batch_mask]])


@pytest.mark.parametrize("order", [pytest.param("metis", marks=needs_metis), "random"])
def test_history_batches_hold_every_node_once_with_its_halo_and_the_edges_it_touches(order):
    data = graph()
    sampler = SubgraphBatches(data, "history", 16, order=order)
    batches = list(sampler.epoch_batches(0, 0))
    assert len(batches) == sampler.num_batches(0) == 5
    owned = torch.cat([b.n_id[b.batch_mask] for b in batches])
    assert sorted(owned.tolist()) == list(range(data.num_nodes))
    full = set(map(tuple, data.edge_index.t().tolist()))
    for b in batches:
        edges = {(int(b.n_id[i]), int(b.n_id[j])) for i, j in b.edge_index.t().tolist()}
        mine = set(b.n_id[b.batch_mask].tolist())
        assert edges == {(i, j) for i, j in full if i in mine or j in mine}              # both directions
        assert set(b.n_id.tolist()) == mine | {j for i, j in full if i in mine}          # B and its halo
        assert torch.equal(b.seed_mask, b.batch_mask & b.train_mask)
        assert torch.equal(b.edge_index[:, b.edge_rev], b.edge_index.flip(0))             # each edge's reverse
    assert [b.n_id.tolist() for b in sampler.epoch_batches(0, 0)] == [b.n_id.tolist() for b in batches]
    assert [b.n_id.tolist() for b in sampler.epoch_batches(0, 1)] != [b.n_id.tolist() for b in batches]


def leaving_share(sampler, epoch=0):
    """The share of B's edges that leave B, over one epoch's batches."""
    out = total = 0
    for b in sampler.epoch_batches(0, epoch):
        src_in_b = b.batch_mask[b.edge_index[0]]
        out += int((src_in_b & ~b.batch_mask[b.edge_index[1]]).sum())
        total += int(src_in_b.sum())
    return out / total


@needs_metis
def test_metis_ordered_history_batches_take_whole_parts_and_cut_fewer_edges():
    data = graph(n=400, pairs=1200)
    metis = SubgraphBatches(data, "history", 80, order="metis", seed=3)
    parts = metis.partition
    assert parts.shape == (400,) and int(parts.max()) + 1 == num_cluster_parts(400, 80) == 20
    for epoch in (0, 1):
        for b in metis.epoch_batches(0, epoch):          # 4 parts of ~20 nodes, or 5 where a part is cut in two
            assert len(set(parts[b.n_id[b.batch_mask]].tolist())) <= CLUSTERS_PER_BATCH + 1
    shuffled = SubgraphBatches(data, "history", 80, seed=3)                         # the default: one by one
    assert shuffled.order == "random" and shuffled.partition is None
    assert leaving_share(metis) < 0.8 * leaving_share(shuffled)
    assert [b.n_id.tolist() for b in metis.epoch_batches(0, 0)] != [b.n_id.tolist() for b in metis.epoch_batches(0, 1)]
    again = SubgraphBatches(data, "history", 80, order="metis", seed=3, partition=parts)
    assert [b.n_id.tolist() for b in again.epoch_batches(0, 1)] == [b.n_id.tolist() for b in metis.epoch_batches(0, 1)]
    with pytest.raises(ValueError, match=r"partition must give each of the 400 nodes a part in \[0, 20\)"):
        SubgraphBatches(data, "history", 80, order="metis", partition=parts + 1)
    with pytest.raises(ValueError, match="unknown history order 'bfs'; valid names: random, metis"):
        SubgraphBatches(data, "history", 80, order="bfs")
    assert [uses_partition(s, o) for s, o in [("cluster", "random"), ("history", "metis"), ("history", "random"),
                                               ("ego", "metis")]] == [True, True, False, False]
    with pytest.raises(ValueError, match="unknown sampler 'metis'; valid names: cluster, ego, neighbor, history"):
        uses_partition("metis")


def four_runs(writes):
    """Full batch, one history batch of the whole graph, and twice batches of 16 nodes: (val loss, parameters)."""
    data = graph()
    data.x = data.x.float()
    config = NodeClsConfig(model="diag", layers=2, hidden=4, d=2, dropout=0.0, epochs=5, patience=10, lr=0.05,
                           batch_size=data.num_nodes, sampler="history", history_writes=writes)
    structure = GraphStructure(data.edge_index, data.num_nodes)
    runs = []
    for batches in (None, SubgraphBatches(data, "history", data.num_nodes),
                    SubgraphBatches(data, "history", 16), SubgraphBatches(data, "history", 16)):
        seed_everything(0)
        model = build_model(config, 5, 3)
        result = train_fold(model, data, 0, config, graph=structure, batches=batches)
        runs.append((result.val_loss, torch.cat([p.detach().flatten() for p in model.parameters()])))
    return runs


@pytest.mark.parametrize("writes", ["batches", "evaluation"])
def test_training_on_one_batch_of_the_whole_graph_equals_full_batch_and_is_deterministic(writes):
    runs = four_runs(writes)
    assert runs[0][0] == pytest.approx(runs[1][0], rel=1e-5)
    torch.testing.assert_close(runs[1][1], runs[0][1], rtol=0, atol=1e-5)
    assert runs[2][0] == runs[3][0] and torch.equal(runs[2][1], runs[3][1])
    assert not torch.allclose(runs[2][1], runs[0][1])


def test_batches_that_do_not_write_the_history_train_differently():
    assert not torch.allclose(four_runs("batches")[2][1], four_runs("evaluation")[2][1])


def stale_reads(monkeypatch, refresh):
    """Train 2 epochs on history batches of 16 of 80 nodes (evaluation writes, refreshed before every ``refresh``-th
    batch) and say, batch by batch, whether the history it reads differs from a whole-graph record of the model it
    trains."""
    data = graph()
    config = NodeClsConfig(model="diag", layers=2, hidden=4, d=2, dropout=0.0, epochs=2, patience=10, lr=0.05,
                           batch_size=16, sampler="history", history_writes="evaluation", history_refresh=refresh)
    seed_everything(0)
    model = build_model(config, 5, 3).double()
    read, stale = NodeHistory.batch, []

    def checked_read(history, n_id, in_batch, write=True):
        fresh = NodeHistory(history.num_nodes)
        model.eval()
        with torch.no_grad():
            model(data.x, data.edge_index, history=fresh.record())
        model.train()
        stale.append(any(not torch.allclose(mine[k], theirs[k], rtol=0, atol=1e-12)
                         for mine, theirs in ((history.inputs, fresh.inputs), (history.degrees, fresh.degrees),
                                              (history.outputs, fresh.outputs)) for k in theirs))
        return read(history, n_id, in_batch, write)

    with monkeypatch.context() as patch:
        patch.setattr(NodeHistory, "batch", checked_read)
        train_fold(model, data, 0, config, graph=GraphStructure(data.edge_index, data.num_nodes),
                   batches=SubgraphBatches(data, "history", 16))
    return stale


def test_history_refresh_gives_every_batch_the_current_models_history(monkeypatch):
    assert stale_reads(monkeypatch, 1) == [False] * 10                  # 2 epochs of 5 batches, each after a refresh
    assert stale_reads(monkeypatch, 2) == [False, True, False, True, False] * 2     # refreshed before batches 2, 4
    assert stale_reads(monkeypatch, 0) == [False, True, True, True, True] * 2       # the evaluation's record only


def test_history_errors_name_the_problem():
    data = graph()
    with pytest.raises(ValueError, match="discrete NSD model"):
        NodeClsConfig(model="diag_ode", sampler="history")
    with pytest.raises(ValueError, match="extra stalks"):
        NodeClsConfig(model="diag", sampler="history", extra_stalks=("signless",))
    model = build_nsd("diag", 5, 3, hidden_channels=4, d=2, extra_stalks=("signless",)).double()
    with pytest.raises(ValueError, match="extra stalks"):
        model(data.x, data.edge_index, history=NodeHistory(data.num_nodes).record())
    history = NodeHistory(data.num_nodes)
    with pytest.raises(RuntimeError, match="record a whole-graph pass first"):
        history.batch(torch.arange(3), torch.ones(3, dtype=torch.bool))
    build_nsd("diag", 5, 3, hidden_channels=4, d=2).double()(data.x, data.edge_index, history=history.record())
    with pytest.raises(ValueError, match="outside"):
        history.batch(torch.tensor([0, 80]), torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool mask"):
        history.batch(torch.arange(3), torch.ones(2, dtype=torch.bool))
    with pytest.raises(TypeError, match="detached needs a torch.nn.Module, got builtin_function_or_method"):
        detached(torch.relu)
    with pytest.raises(ValueError, match="history writes"):
        NodeClsConfig(sampler="history", history_writes="sometimes")
    with pytest.raises(ValueError, match="history_refresh must be a non-negative int, got -1"):
        NodeClsConfig(sampler="history", history_refresh=-1)
    with pytest.raises(ValueError, match="history_refresh rewrites the history of --sampler history, got sampler "
                                         "'cluster'"):
        NodeClsConfig(sampler="cluster", history_refresh=2)
    one_way = Data(x=data.x, y=data.y, edge_index=torch.tensor([[0, 1], [1, 2]]), train_mask=data.train_mask)
    with pytest.raises(ValueError, match=r"history batches need each edge once, with its reverse: edge_index is not "
                                         r"symmetric: 2 edge\(s\) lack their reverse, e.g. \(0, 1\)"):
        SubgraphBatches(one_way, "history", 16)
    with pytest.raises(ValueError, match="refresh_every must be a non-negative int, got -1"):
        minibatch_epoch(build_nsd("diag", 5, 3), None, SubgraphBatches(data, "history", 16), 0, 0, "cpu", "diag",
                        refresh_every=-1)


@needs_metis
def test_nodecls_cli_trains_on_history_batches(tmp_path):
    out = tmp_path / "texas.json"
    assert main(["nodecls", "--dataset", "texas", "--model", "diag", "--folds", "1", "--epochs", "2",
                 "--batch-size", "32", "--sampler", "history", "--history-order", "metis", "--no-progress", "--json",
                 str(out)]) == 0
    config = json.loads(out.read_text())["config"]
    assert config["sampler"] == "history" and config["history_order"] == "metis"


def test_halo_inputs_take_their_values_from_the_history_without_gradients():
    history = NodeHistory(6)
    past = torch.arange(6 * 2, dtype=torch.float64).view(6, 2)
    history.record().layer_input(1, past)
    h = torch.full((3, 2), -1.0, dtype=torch.float64, requires_grad=True)
    n_id, in_batch = torch.tensor([4, 0, 2]), torch.tensor([True, False, False])
    out = history.batch(n_id, in_batch).layer_input(1, h)
    torch.testing.assert_close(out.detach(), torch.stack([h[0].detach(), past[0], past[2]]))
    (out * torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)).sum().backward()
    torch.testing.assert_close(h.grad, torch.tensor([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(history.inputs[1][4], torch.tensor([-1.0, -1.0], dtype=torch.float64))   # pushed


def test_a_view_without_writes_reads_the_history_and_leaves_it_unchanged():
    data = graph()
    model = build_nsd("diag", 5, 3, hidden_channels=4, d=2, num_layers=2).double().eval()
    history = NodeHistory(data.num_nodes)
    model(data.x, data.edge_index, history=history.record())
    stores = (history.inputs, history.degrees, history.outputs)
    before = [{k: v.clone() for k, v in store.items()} for store in stores]
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)                 # the batches' values now differ from the recorded ones
    batch = next(iter(SubgraphBatches(data, "history", 10).epoch_batches(0, 0)))
    read_only = model(batch.x, batch.edge_index, history=history.batch(batch.n_id, batch.batch_mask, write=False))
    for store, old in zip(stores, before):
        for k in store:
            assert torch.equal(store[k], old[k])
    written = model(batch.x, batch.edge_index, history=history.batch(batch.n_id, batch.batch_mask))
    torch.testing.assert_close(written, read_only, rtol=0, atol=0)     # the same values read either way
    mine = batch.n_id[batch.batch_mask]
    assert not torch.equal(history.outputs[2][mine], before[2][2][mine])
    others = torch.ones(data.num_nodes, dtype=torch.bool)
    others[mine] = False
    assert torch.equal(history.outputs[2][others], before[2][2][others])
    where = [{k: v.data_ptr() for k, v in store.items()} for store in stores]
    with torch.no_grad():
        model(data.x, data.edge_index, history=history.record())       # a new record, into the same storage
    assert [{k: v.data_ptr() for k, v in store.items()} for store in stores] == where
    with torch.no_grad():
        torch.testing.assert_close(model.lin_out(history.outputs[2].flatten(1)), model(data.x, data.edge_index),
                                   rtol=0, atol=0)


def last_layer_input(model, store):
    """Keep the last layer's input (with its gradient) in ``store`` on every call."""
    def keep(module, args):
        args[0].retain_grad()
        store.append(args[0])
    return model.convs[-1].register_forward_pre_hook(keep)


@pytest.mark.parametrize("maps", ["diag", "general"])
def test_halo_losses_give_b_the_whole_graphs_gradient_at_the_last_layer_input(maps):
    """LMC's backward compensation: with a fresh history (no activation, no dropout) the batch loss over B's and the
    halo's training nodes has the gradient at B's last-layer inputs of the whole graph's loss, the paths through
    the halo's degree blocks (constants of the history) aside; without the halo's losses it does not. The halo's
    losses train no parameter of the last layer or the readout."""
    data = graph()
    model = build_nsd(maps, 5, 3, hidden_channels=4, d=2, num_layers=2, use_act=False).double()
    history = NodeHistory(data.num_nodes)
    with torch.no_grad():
        model(data.x, data.edge_index, history=history.record())
    batch = list(SubgraphBatches(data, "history", 10).epoch_batches(0, 0))[0]
    mine = torch.zeros(data.num_nodes, dtype=torch.bool)
    mine[batch.n_id[batch.batch_mask]] = True
    ei = data.edge_index
    h1 = model.convs[0](model.embed(data.x), ei)
    h1.retain_grad()
    out = model.convs[1](h1, ei, degrees=lambda deg: where_rows(mine, deg, deg.detach()))
    logits = model.lin_out(out.flatten(1))
    torch.nn.functional.cross_entropy(logits[data.train_mask], data.y[data.train_mask], reduction="sum").backward()
    expected = h1.grad[batch.n_id[batch.batch_mask]]
    grads = {}
    for counted in ("seeds", "loss"):
        kept = []
        hook = last_layer_input(model, kept)
        logits = model(batch.x, batch.edge_index, history=history.batch(batch.n_id, batch.batch_mask))
        hook.remove()
        mask = batch.seed_mask if counted == "seeds" else batch.loss_mask
        torch.nn.functional.cross_entropy(logits[mask], batch.y[mask], reduction="sum").backward()
        grads[counted] = kept[0].grad[batch.batch_mask]
    torch.testing.assert_close(grads["loss"], expected, rtol=1e-10, atol=1e-12)
    assert not torch.allclose(grads["seeds"], expected, rtol=1e-3, atol=1e-6)
    model.zero_grad()
    logits = model(batch.x, batch.edge_index, history=history.batch(batch.n_id, batch.batch_mask))
    halo = batch.loss_mask & ~batch.batch_mask
    assert halo.any()
    torch.nn.functional.cross_entropy(logits[halo], batch.y[halo], reduction="sum").backward()
    for p in [*model.convs[-1].parameters(), *model.lin_out.parameters()]:
        assert p.grad is None or not p.grad.any()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.convs[0].parameters())
    torch.testing.assert_close(logits[halo].detach(), model(data.x, ei)[batch.n_id[halo]].detach())    # values
