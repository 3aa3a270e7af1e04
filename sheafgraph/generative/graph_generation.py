r"""GDSS for generic graphs (Jo, Lee, Hwang, ICML 2022, Sec. 4.1, Table 1): presets, training, sampling, sample files.

GDSS generates plain graphs (no atom or bond types) with the same system of SDEs as molecules: the node features
:math:`X` are the one-hot *node degrees* of the clean graph (GDSS's ``init: deg``, width ``max_feat_num``) and the
adjacency :math:`A \in \{0, 1\}^{N \times N}`; both are diffused and denoised jointly by
:class:`~sheafgraph.generative.GDSSNoiseModel`, and only the adjacency is kept: a sample is quantised by GDSS's
``quantize(adj, thr=0.5)``, :math:`\hat A_{ij} = [A_{ij} \ge 0.5]`, with self-loops dropped.

:data:`PRESETS` holds GDSS's published configurations (``config/{ego_small,community_small,enzymes,grid}.yaml``):

===============  =========================  ==================  ===================  ===================
dataset          SDE X / SDE A              ScoreNetworkX / A   train                GDSS sampler
===============  =========================  ==================  ===================  ===================
ego_small        VP β∈[0.1,1] / VP [0.1,1]  depth 2 / 5 layers  5000 ep., batch 128  Euler, no corrector
community_small  VP [0.1,1] / VP [0.1,1]    depth 3 / 5 layers  5000 ep., batch 128  Euler + Langevin
ENZYMES          VP [0.1,1] / VE σ∈[0.2,1]  depth 5 / 7 layers  5000 ep., batch 64   S4
grid             VP [0.1,1] / VP [0.2,0.8]  depth 5 / 7 layers  5000 ep., batch 8    Reverse + Langevin
===============  =========================  ==================  ===================  ===================

All four: 32 hidden GCN channels, attention width 32 (``adim``), 4 heads, 2-layer edge MLPs, adjacency channels
2 / 8 / 4 (``c_init`` / ``c_hid`` / ``c_final``); Adam lr 0.01, weight decay 1e-4, ExponentialLR 0.999 per epoch,
gradient-norm clip 1, EMA 0.999, eps 1e-5; sampling with 1000 steps down to t = 1e-4, returning the last step's
mean (``noise_removal``). GDSS samples ego_small and community_small with the raw weights (``use_ema: False``)
and ENZYMES and grid with the EMA weights; checkpoints written here keep both.

Differences from GDSS, kept from the molecule model: the networks predict the noise and the score is
:math:`-\hat\epsilon/\sigma_t` for every SDE (GDSS uses the raw output as the score for VE), and the loss is a mean
over real entries instead of half a sum over all entries (:mod:`sheafgraph.generative.losses`).

Evaluation (GDSS's ``sampler.py``): as many graphs as the test split, node counts drawn from the training graphs,
isolated nodes removed before the degree / clustering / orbit MMD (:mod:`sheafgraph.metrics.graph_mmd`).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import networkx as nx
import torch
from torch import Tensor

from sheafgraph.generative.generate import generate, sample_node_counts
from sheafgraph.generative.noise import Graphs
from sheafgraph.generative.samplers import get_sampler
from sheafgraph.generative.score_networks import GDSSNoiseModel
from sheafgraph.generative.sde import GraphSDE
from sheafgraph.generative.training import fit
from sheafgraph.utils import load_checkpoint, save_checkpoint


class GraphGenPreset(NamedTuple):
    """One dataset's GDSS configuration.

    ``sde``: a :meth:`GraphSDE.from_config` dict; ``x_params`` / ``adj_params``: keyword arguments of
    :class:`~sheafgraph.generative.ScoreNetworkX` / :class:`~sheafgraph.generative.ScoreNetworkA`; ``epochs`` ...
    ``eps``: GDSS's ``train`` section; ``sampler``: GDSS's sampler as ``{"sampler": name, **options}`` of
    :data:`~sheafgraph.generative.SAMPLERS`; ``weights``: ``"ema"`` or ``"model"`` (GDSS's ``use_ema``);
    ``sample_seed``: GDSS's ``sample.seed``.
    """

    sde: Dict[str, Dict[str, Any]]
    x_params: Dict[str, Any]
    adj_params: Dict[str, Any]
    epochs: int = 5000
    batch_size: int = 128
    lr: float = 0.01
    weight_decay: float = 1e-4
    lr_decay: float = 0.999
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    eps: float = 1e-5
    sampler: Dict[str, Any] = {}
    weights: str = "ema"
    sample_seed: int = 0


def _vp(beta_min: float, beta_max: float) -> Dict[str, Any]:
    return {"name": "vp", "beta_min": beta_min, "beta_max": beta_max}


def _adj_net(num_layers: int) -> Dict[str, Any]:
    """GDSS's ScoreNetworkA sizes for generic graphs (nhid 32, adim 32, 4 heads, num_linears 2, c 2/8/4)."""
    return {"hidden": 32, "num_layers": num_layers, "num_linears": 2, "c_init": 2, "c_hid": 8, "c_final": 4,
            "attn_dim": 32, "num_heads": 4}


_STEPS = {"steps": 1000, "eps": 1e-4}
#: GDSS's published configurations, by dataset name (GDSS ``config/*.yaml``; see the module docstring)
PRESETS: Dict[str, GraphGenPreset] = {
    "ego_small": GraphGenPreset(
        sde={"x": _vp(0.1, 1.0), "adj": _vp(0.1, 1.0)}, x_params={"depth": 2, "hidden": 32}, adj_params=_adj_net(5),
        sampler={"sampler": "pc", "predictor": "euler_maruyama", "corrector": "none", **_STEPS},
        weights="model", sample_seed=12),
    "community_small": GraphGenPreset(
        sde={"x": _vp(0.1, 1.0), "adj": _vp(0.1, 1.0)}, x_params={"depth": 3, "hidden": 32}, adj_params=_adj_net(5),
        sampler={"sampler": "pc", "predictor": "euler_maruyama", "corrector": "langevin", "snr": 0.05,
                 "scale_eps": 0.7, **_STEPS},
        weights="model", sample_seed=11),
    "ENZYMES": GraphGenPreset(
        sde={"x": _vp(0.1, 1.0), "adj": {"name": "ve", "sigma_min": 0.2, "sigma_max": 1.0}},
        x_params={"depth": 5, "hidden": 32}, adj_params=_adj_net(7), batch_size=64,
        sampler={"sampler": "s4", "snr": 0.15, "scale_eps": 0.7, **_STEPS}, weights="ema", sample_seed=12),
    "grid": GraphGenPreset(
        sde={"x": _vp(0.1, 1.0), "adj": _vp(0.2, 0.8)}, x_params={"depth": 5, "hidden": 32}, adj_params=_adj_net(7),
        batch_size=8,
        sampler={"sampler": "pc", "predictor": "reverse_diffusion", "corrector": "langevin", "snr": 0.1,
                 "scale_eps": 0.7, **_STEPS},
        weights="ema", sample_seed=13),
}
WEIGHTS = ("ema", "model")


def dataset_key(name: str) -> str:
    """The key of ``name`` in :data:`PRESETS`, matched without regard to case; a ``ValueError`` lists the valid
    names."""
    for key in PRESETS:
        if isinstance(name, str) and key.lower() == name.lower():
            return key
    raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(PRESETS)}")


def get_preset(name: str) -> GraphGenPreset:
    """GDSS's configuration for ``"ego_small"``, ``"community_small"``, ``"ENZYMES"`` or ``"grid"``."""
    return PRESETS[dataset_key(name)]


def build_model(num_features: int, preset: GraphGenPreset) -> GDSSNoiseModel:
    """GDSS's score networks for a preset, with ``num_features`` degree classes (GDSS's ``max_feat_num``)."""
    return GDSSNoiseModel(num_features, x_params=preset.x_params, adj_params=preset.adj_params)


def node_count_histogram(mask: Tensor) -> Tensor:
    """``counts[n]`` = number of graphs with ``n`` real nodes, for a node mask ``(B, N)``; length ``N + 1``."""
    return torch.bincount(mask.sum(-1).long(), minlength=mask.shape[1] + 1).float()


def train_graph_generator(data: Graphs, dataset: str, checkpoint, *, epochs: Optional[int] = None,
                          batch_size: Optional[int] = None, lr: Optional[float] = None, seed: int = 0,
                          resume: bool = True, device="cpu", extra: Optional[Dict[str, Any]] = None, log=print,
                          progress=None) -> Dict[str, Any]:
    """Train GDSS on the dense training graphs ``data`` with ``dataset``'s preset (None: the preset's epochs,
    batch size and learning rate), checkpointing every epoch to ``checkpoint`` and resuming from it when it exists
    (with the model and SDE stored there). The checkpoint also keeps the node-count histogram of ``data`` (for
    drawing node counts), the dataset name and ``extra``.

    Shapes:
        data.x: ``(M, N, F)`` one-hot degrees; data.adj: ``(M, N, N)``; data.mask: ``(M, N)``.
    """
    key = dataset_key(dataset)
    preset = PRESETS[key]
    if resume and Path(checkpoint).is_file():
        stored = load_checkpoint(checkpoint)
        model, sde = GDSSNoiseModel.from_config(stored["model_config"]), GraphSDE.from_config(stored["sde_config"])
    else:
        torch.manual_seed(seed)
        model, sde = build_model(data.x.shape[-1], preset), GraphSDE.from_config(preset.sde)
    info = {**(extra or {}), "dataset": key, "node_counts": node_count_histogram(data.mask)}
    return fit(model, sde, data, str(checkpoint), epochs=preset.epochs if epochs is None else epochs,
               batch_size=batch_size or preset.batch_size, lr=lr or preset.lr, weight_decay=preset.weight_decay,
               lr_decay=preset.lr_decay, ema_decay=preset.ema_decay, grad_clip=preset.grad_clip, eps=preset.eps,
               seed=seed, resume=resume, device=device, extra=info, log=log, progress=progress)


EXPORT_KEYS = ("model_config", "sde_config", "ema", "model", "node_counts", "dataset", "num_test", "epoch",
               "history", "train_config", "sampling")


def export_graph_generator(src, dst, sampling: Optional[Dict[str, Any]] = None) -> Path:
    """Write a small sampling-only copy of a training checkpoint: configurations, EMA *and* raw weights, node-count
    histogram, history, and ``sampling``: this checkpoint's default sampler, all its options and the weights, e.g.
    ``{"sampler": "pc", "steps": 1000, "snr": 0.05, "weights": "model"}`` (options left out take the sampler
    function's defaults)."""
    state = load_checkpoint(src)
    if sampling is not None:
        state["sampling"] = _check_sampling(sampling)
    return save_checkpoint({k: state[k] for k in EXPORT_KEYS if k in state}, dst)


def _check_sampling(sampling: Dict[str, Any]) -> Dict[str, Any]:
    sampling = dict(sampling)
    get_sampler(sampling.get("sampler", ""))
    if sampling.get("weights", "ema") not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, got {sampling['weights']!r}")
    return sampling


class GraphGenerator(NamedTuple):
    """A trained GDSS model ready to sample: noise model (chosen weights), SDEs, node-count histogram, dataset, the
    checkpoint's default sampling (``{"sampler": ..., options..., "weights": ...}``) and training info."""

    model: GDSSNoiseModel
    sde: GraphSDE
    node_counts: Tensor
    dataset: str
    sampling: Dict[str, Any]
    info: Dict[str, Any]

    @property
    def max_nodes(self) -> int:
        return self.node_counts.numel() - 1


def load_graph_generator(checkpoint, device="cpu", weights: Optional[str] = None) -> GraphGenerator:
    """Load a training or exported checkpoint onto ``device`` with its ``weights`` (``"ema"`` or ``"model"``).

    The default sampling is the checkpoint's ``sampling`` (a complete specification written by
    :func:`export_graph_generator`), else the preset's: GDSS's sampler and ``use_ema``.
    """
    state = load_checkpoint(checkpoint)
    missing = [k for k in ("model_config", "sde_config", "ema", "node_counts", "dataset") if k not in state]
    if missing:
        raise ValueError(f"{checkpoint} is not a graph-generation checkpoint: missing {missing}")
    key = dataset_key(state["dataset"])
    preset = PRESETS[key]
    sampling = dict(state.get("sampling") or {**preset.sampler, "weights": preset.weights})
    if weights is not None:
        sampling["weights"] = weights
    chosen = _check_sampling(sampling)["weights"]
    if chosen not in state:
        raise ValueError(f"{checkpoint} holds no {chosen!r} weights; use weights='ema'")
    model = GDSSNoiseModel.from_config(state["model_config"])
    model.load_state_dict(state[chosen])
    model.to(device).eval()
    info = {k: state[k] for k in ("epoch", "history", "train_config", "num_test") if k in state}
    return GraphGenerator(model, GraphSDE.from_config(state["sde_config"]), state["node_counts"].float(), key,
                          sampling, info)


class SampledGraphs(NamedTuple):
    """Sampled graphs (all sampled nodes kept, isolated ones included), the NFE per graph, the wall time and the
    sampler settings used."""

    graphs: List[nx.Graph]
    nfe: int
    seconds: float
    sampling: Dict[str, Any]


def adjacency_to_graphs(adj: Tensor, num_nodes: Tensor) -> List[nx.Graph]:
    """networkx graphs on nodes ``0 .. n_b - 1`` from 0/1 symmetric adjacencies ``(B, N, N)`` (upper triangle)."""
    graphs = []
    for a, n in zip(adj, num_nodes.tolist()):
        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        graph.add_edges_from(torch.nonzero(torch.triu(a[:n, :n], 1)).tolist())
        graphs.append(graph)
    return graphs


def sample_graphs(gen: GraphGenerator, num: int, *, seed: int = 0, batch_size: int = 1000,
                  options: Optional[Dict[str, Any]] = None) -> SampledGraphs:
    """Sample ``num`` graphs, node counts drawn from the training histogram (as GDSS's ``init_flags``).

    ``options`` override the checkpoint's sampling defaults (``sampler`` and its keyword options); the sampled
    adjacency is quantised at 0.5: :func:`~sheafgraph.generative.generate` rounds it to bond orders
    ``floor(A + 1/2)``, and an edge is an order >= 1, i.e. :math:`A_{ij} \\ge 0.5` (GDSS's ``quantize``).
    """
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise ValueError(f"num must be a positive int, got {num!r}")
    sampling = {k: v for k, v in gen.sampling.items() if k != "weights"}
    if options and "sampler" in options and options["sampler"] != sampling.get("sampler"):
        sampling = {}                                   # another sampler: its own defaults
    sampling.update(options or {})
    name = sampling.pop("sampler")
    generator = torch.Generator().manual_seed(seed)
    counts = sample_node_counts(gen.node_counts, num, generator)
    device = next(gen.model.parameters()).device
    noise = generator if device.type == "cpu" else torch.Generator(device).manual_seed(seed)
    start = time.perf_counter()
    out = generate(gen.model, gen.sde, counts, num_features=gen.model.num_features, sampler=name,
                   batch_size=batch_size, generator=noise, options=sampling, max_nodes=gen.max_nodes)
    seconds = time.perf_counter() - start
    used = {"sampler": name, **sampling, "weights": gen.sampling["weights"]}
    return SampledGraphs(adjacency_to_graphs(out.bond_orders > 0, counts), out.nfe, seconds, used)


def without_isolated_nodes(graphs: Sequence[nx.Graph]) -> List[nx.Graph]:
    """GDSS's post-processing before evaluation (``adjs_to_graphs``): self-loops and isolated nodes removed, and a
    graph left empty keeps one node."""
    out = []
    for graph in graphs:
        graph = nx.Graph(graph)
        graph.remove_edges_from(list(nx.selfloop_edges(graph)))
        graph.remove_nodes_from(list(nx.isolates(graph)))
        if graph.number_of_nodes() == 0:
            graph.add_node(0)
        out.append(graph)
    return out


def save_graphs(graphs: Sequence[nx.Graph], path, **meta: Any) -> Path:
    """Write graphs as JSON ``{**meta, "graphs": [{"num_nodes": n, "edges": [[u, v], ...]}, ...]}`` (the format of
    the generic-graph data files; nodes relabelled ``0 .. n-1`` in node order)."""
    items = []
    for graph in graphs:
        index = {v: i for i, v in enumerate(graph.nodes)}
        items.append({"num_nodes": graph.number_of_nodes(),
                      "edges": sorted(sorted((index[u], index[v])) for u, v in graph.edges)})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**meta, "graphs": items}))
    return path


def load_graphs(path) -> Dict[str, Any]:
    """Read a file of :func:`save_graphs`: its metadata with ``"graphs"`` as a list of networkx graphs."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"graph file not found: {path}")
    try:
        content = json.loads(path.read_text())
        graphs = []
        for item in content["graphs"]:
            graph = nx.Graph()
            graph.add_nodes_from(range(int(item["num_nodes"])))
            graph.add_edges_from((int(u), int(v)) for u, v in item["edges"])
            if graph.number_of_nodes() != int(item["num_nodes"]):
                raise ValueError("an edge names a node beyond num_nodes")
            graphs.append(graph)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a graph file {{'graphs': [{{'num_nodes': n, 'edges': [[u, v], ...]}}]}}: "
                         f"{err}") from None
    if not graphs:
        raise ValueError(f"{path} holds no graphs")
    return {**content, "graphs": graphs}


def draw_graphs(graphs: Sequence[nx.Graph], path, num: int = 16, per_row: int = 4, title: str = "") -> Path:
    """Save a PNG grid of the first ``num`` graphs (networkx spring layout, matplotlib's Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = list(graphs)[:num]
    if not chosen:
        raise ValueError("no graph to draw")
    rows = -(-len(chosen) // per_row)
    fig, axes = plt.subplots(rows, per_row, figsize=(2.5 * per_row, 2.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k, (ax, graph) in enumerate(zip(axes.flat, chosen)):
        nx.draw(graph, pos=nx.spring_layout(graph, seed=k), ax=ax, node_size=25, width=0.8, node_color="#1f77b4")
        ax.set_title(f"{graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
