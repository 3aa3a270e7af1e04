"""GDSS for generic graphs: presets as GDSS's published configs, sampled graphs (symmetric, no self-loops, node
counts), seeding, export/load of both weight sets, graph files, GDSS's evaluation post-processing."""
import importlib
import json

import networkx as nx
import pytest
import torch

from sheafgraph.generative import GDSSNoiseModel, GraphSDE, Graphs
from sheafgraph.generative.graph_generation import (PRESETS, adjacency_to_graphs, build_model, dataset_key,
                                                    draw_graphs, export_graph_generator, get_preset,
                                                    load_graph_generator, load_graphs, sample_graphs, save_graphs,
                                                    train_graph_generator, without_isolated_nodes)
from sheafgraph.generative.sde import VESDE, VPSDE

generate_module = importlib.import_module("sheafgraph.generative.generate")  # the package exports the function

# Transcribed from GDSS's config/{ego_small,community_small,enzymes,grid}.yaml (harryjo97/GDSS):
# sde x / adj (type, beta_min, beta_max), model depth / num_layers, batch_size, sampler, use_ema
GDSS_CONFIGS = {
    "ego_small": (("VP", 0.1, 1.0), ("VP", 0.1, 1.0), 2, 5, 128, ("Euler", "None", 0.0, 0.0), False),
    "community_small": (("VP", 0.1, 1.0), ("VP", 0.1, 1.0), 3, 5, 128, ("Euler", "Langevin", 0.05, 0.7), False),
    "ENZYMES": (("VP", 0.1, 1.0), ("VE", 0.2, 1.0), 5, 7, 64, ("S4", "None", 0.15, 0.7), True),
    "grid": (("VP", 0.1, 1.0), ("VP", 0.2, 0.8), 5, 7, 8, ("Reverse", "Langevin", 0.1, 0.7), True),
}
PREDICTORS = {"Euler": "euler_maruyama", "Reverse": "reverse_diffusion"}


@pytest.mark.parametrize("name", list(GDSS_CONFIGS))
def test_presets_match_gdss_configs(name):
    sde_x, sde_adj, depth, layers, batch, (predictor, corrector, snr, scale_eps), use_ema = GDSS_CONFIGS[name]
    preset = PRESETS[name]
    sde = GraphSDE.from_config(preset.sde)
    for ours, (kind, lo, hi) in ((sde.x, sde_x), (sde.adj, sde_adj)):
        if kind == "VP":   # GDSS's load_sde passes beta_min/beta_max to VPSDE, and as sigma_min/sigma_max to VESDE
            assert type(ours) is VPSDE and (ours.beta_min, ours.beta_max) == (lo, hi)
        else:
            assert type(ours) is VESDE and (ours.sigma_min, ours.sigma_max) == (lo, hi)
    assert preset.x_params == {"depth": depth, "hidden": 32}
    assert preset.adj_params == {"hidden": 32, "num_layers": layers, "num_linears": 2, "c_init": 2, "c_hid": 8,
                                 "c_final": 4, "attn_dim": 32, "num_heads": 4}
    assert (preset.epochs, preset.batch_size, preset.lr, preset.weight_decay, preset.lr_decay, preset.ema_decay,
            preset.grad_clip, preset.eps) == (5000, batch, 0.01, 1e-4, 0.999, 0.999, 1.0, 1e-5)
    s = preset.sampler
    assert s["steps"] == 1000 and s["eps"] == 1e-4 and preset.weights == ("ema" if use_ema else "model")
    if predictor == "S4":
        assert s["sampler"] == "s4" and (s["snr"], s["scale_eps"]) == (snr, scale_eps)
    else:
        assert s["sampler"] == "pc" and s["predictor"] == PREDICTORS[predictor]
        assert s["corrector"] == corrector.lower()
        if corrector == "Langevin":
            assert (s["snr"], s["scale_eps"]) == (snr, scale_eps)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="unknown dataset 'cora'; valid names: ego_small, community_small, "
                                         "ENZYMES, grid"):
        get_preset("cora")
    assert dataset_key("enzymes") == "ENZYMES"


def test_build_model_has_gdss_sizes():
    model = build_model(17, PRESETS["ego_small"])
    assert len(model.net_x.convs) == 2 and len(model.net_adj.layers) == 5
    assert model.net_x.convs[0].out_channels == 32 and model.num_features == 17


def _tiny_data(num=6, n=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    sizes = torch.randint(3, n + 1, (num,), generator=g)
    mask = (torch.arange(n) < sizes[:, None]).float()
    upper = (torch.rand(num, n, n, generator=g) < 0.4).float().triu(1)
    adj = (upper + upper.transpose(1, 2)) * mask[:, :, None] * mask[:, None, :]
    x = torch.nn.functional.one_hot(adj.sum(-1).long(), n).float() * mask[..., None]
    return Graphs(x, adj, mask)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, monkeypatch_module):
    tiny = PRESETS["ego_small"]._replace(x_params={"depth": 1, "hidden": 4},
                                         adj_params={"hidden": 4, "num_layers": 2, "c_hid": 2, "attn_dim": 4})
    monkeypatch_module.setitem(PRESETS, "ego_small", tiny)
    folder = tmp_path_factory.mktemp("graphgen")
    state = train_graph_generator(_tiny_data(), "ego_small", folder / "last.pt", epochs=2, batch_size=4,
                                  extra={"num_test": 5}, log=lambda message: None)
    assert state["epoch"] == 2 and state["dataset"] == "ego_small"
    return export_graph_generator(folder / "last.pt", folder / "small.pt",
                                  sampling={"sampler": "pc", "steps": 3, "weights": "ema"})


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_export_keeps_both_weight_sets_and_sampling(tiny_checkpoint):
    ema = load_graph_generator(tiny_checkpoint)
    raw = load_graph_generator(tiny_checkpoint, weights="model")
    assert ema.sampling["weights"] == "ema" and ema.sampling["steps"] == 3 and raw.sampling["weights"] == "model"
    assert ema.dataset == "ego_small" and ema.max_nodes == 7 and ema.info["num_test"] == 5
    assert int(ema.node_counts.sum()) == 6
    differs = [not torch.equal(a, b) for a, b in zip(ema.model.state_dict().values(),
                                                      raw.model.state_dict().values())]
    assert any(differs)
    with pytest.raises(ValueError, match="weights must be one of"):
        load_graph_generator(tiny_checkpoint, weights="best")


def test_sampled_graphs_are_simple_with_the_drawn_node_counts(tiny_checkpoint):
    gen = load_graph_generator(tiny_checkpoint)
    out = sample_graphs(gen, 9, seed=1)
    assert len(out.graphs) == 9 and out.nfe == 6 and out.sampling["sampler"] == "pc"   # 3 steps x (P + C)
    possible = set(torch.nonzero(gen.node_counts).flatten().tolist())
    for graph in out.graphs:
        assert graph.number_of_nodes() in possible
        assert set(graph.nodes) == set(range(graph.number_of_nodes()))
        assert nx.number_of_selfloops(graph) == 0 and not graph.is_directed()


def test_sampling_is_seeded(tiny_checkpoint):
    gen = load_graph_generator(tiny_checkpoint)
    edges = [[sorted(g.edges) for g in sample_graphs(gen, 5, seed=s).graphs] for s in (3, 3, 4)]
    assert edges[0] == edges[1] and edges[0] != edges[2]


def test_sampler_options_override_and_other_samplers_start_from_their_defaults(tiny_checkpoint):
    gen = load_graph_generator(tiny_checkpoint)
    assert sample_graphs(gen, 2, options={"steps": 2}).nfe == 4
    out = sample_graphs(gen, 2, options={"sampler": "s4", "steps": 2})
    assert out.nfe == 2 and out.sampling == {"sampler": "s4", "steps": 2, "weights": "ema"}
    with pytest.raises(ValueError, match="num must be a positive int"):
        sample_graphs(gen, 0)


def test_adjacency_to_graphs_threshold_and_padding():
    # generate() quantises at floor(A + 1/2) >= 1, i.e. GDSS's A >= 0.5; here already 0/1, padding ignored
    adj = torch.zeros(1, 4, 4, dtype=torch.bool)
    adj[0, 0, 1] = adj[0, 1, 0] = adj[0, 1, 2] = adj[0, 2, 1] = True
    graph, = adjacency_to_graphs(adj, torch.tensor([3]))
    assert graph.number_of_nodes() == 3 and sorted(graph.edges) == [(0, 1), (1, 2)]


def test_without_isolated_nodes_as_gdss():
    g = nx.Graph([(0, 1)])
    g.add_nodes_from([2, 3])
    empty = nx.empty_graph(3)
    out = without_isolated_nodes([g, empty])
    assert sorted(out[0].nodes) == [0, 1] and out[1].number_of_nodes() == 1
    assert g.number_of_nodes() == 4                      # inputs untouched


def test_graph_file_round_trip_and_errors(tmp_path):
    graphs = [nx.path_graph(4), nx.relabel_nodes(nx.cycle_graph(3), {0: "a", 1: "b", 2: "c"})]
    path = save_graphs(graphs, tmp_path / "g.json", name="ego_small", seed=2)
    content = load_graphs(path)
    assert content["name"] == "ego_small" and content["seed"] == 2
    assert [sorted(g.edges) for g in content["graphs"]] == [[(0, 1), (1, 2), (2, 3)], [(0, 1), (0, 2), (1, 2)]]
    with pytest.raises(FileNotFoundError, match="graph file not found: .*none.json"):
        load_graphs(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text(json.dumps({"graphs": [{"num_nodes": 2, "edges": [[0, 5]]}]}))
    with pytest.raises(ValueError, match="is not a graph file"):
        load_graphs(tmp_path / "bad.json")


def test_draw_graphs_writes_a_png(tmp_path):
    path = draw_graphs([nx.path_graph(3), nx.star_graph(4)], tmp_path / "g.png", title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_noise_model_of_a_loaded_checkpoint_is_a_gdss_model(tiny_checkpoint):
    assert isinstance(load_graph_generator(tiny_checkpoint).model, GDSSNoiseModel)


def test_module_docstring_names_every_preset():
    import sheafgraph.generative.graph_generation as module

    assert all(name in module.__doc__ for name in PRESETS)


@pytest.mark.parametrize("sampler", ["pc", "ode"])
def test_sampling_progress_bar_counts_every_step_of_every_batch(tiny_checkpoint, monkeypatch, sampler):
    bars = []

    class Bar:
        def __init__(self, iterable, desc, total, enabled):
            self.desc, self.total, self.enabled, self.n, self.closed = desc, total, enabled, 0, False
            bars.append(self)

        def update(self):
            self.n += 1

        def close(self):
            self.closed = True

    monkeypatch.setattr(generate_module, "progress", Bar)
    gen = load_graph_generator(tiny_checkpoint)
    counts = torch.tensor([3, 5, 7, 4, 6])
    for show in (True, False):
        generate_module.generate(gen.model, gen.sde, counts, num_features=gen.model.num_features, sampler=sampler,
                                 batch_size=2, options={"steps": 3}, show_progress=show)
    assert [(b.desc, b.total, b.n, b.closed, b.enabled) for b in bars] == [
        (f"sampling 5 graphs ({sampler})", 9, 9, True, show) for show in (True, False)]    # 3 batches x 3 steps
