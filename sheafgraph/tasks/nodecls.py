r"""Node classification on the fixed splits: NSD models and MLP / GCN baselines, side by side.

Protocol (NSD's, Bodnar et al., NeurIPS 2022): for each of the dataset's 10 splits (or the first K), a fresh model
(seeded with ``seed + fold``) is trained full-batch with Adam (the sheaf learners may have their own weight decay)
on the cross-entropy of the training nodes; after every epoch the validation loss and metric are computed and the
test metric is taken at the best validation epoch (lowest validation loss, or highest validation metric with
``stop="metric"``); training stops after ``patience`` epochs without improvement. Results are reported as
mean ± standard deviation over the folds (population std, as NSD's code). Metric: accuracy, or ROC AUC for
minesweeper and tolokers (taken from the dataset).

Command line: ``sheafgraph nodecls --dataset texas --model diag --folds 2 --epochs 100``;
``--preset paper`` uses the published NSD hyperparameters of the dataset (:data:`PAPER_PRESETS`), or for datasets
without a published recipe our own (:data:`OWN_PRESETS`, marked as such in the output).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv

from sheafgraph.data import load_node_dataset
from sheafgraph.metrics.classification import score
from sheafgraph.metrics.homophily import edge_homophily, node_homophily
from sheafgraph.ops import GraphStructure
from sheafgraph.ops.structure import StructureLike
from sheafgraph.sheaf import FIXED_STALKS, NSD_MODELS, ORTHOGONAL_MAPS, build_nsd
from sheafgraph.sheaf.learners import ACTIVATIONS, LEARNER_INPUTS
from sheafgraph.tasks import TASKS
from sheafgraph.utils import progress, resolve_device, seed_everything

BASELINES = ("mlp", "gcn")
MODELS = NSD_MODELS + BASELINES
STOP_STRATEGIES = ("loss", "metric")

# Published NSD recipes: the hyperparameters of the scripts exp/scripts/run_<dataset>.sh in the authors' repository
# (github.com/twitter-research/neural-sheaf-diffusion), with the defaults of its exp/parser.py for flags a script
# does not set (epochs 1500, early stopping 200, tanh sheaf activation, Householder maps, edge weights on, stop on
# the validation loss). Mapping of their flags: add_lp -> extra stalk "signless" (D + A), add_hp -> "laplacian"
# (D - A), sparse_learner -> learner_inputs "stalk_sum", stop_strategy acc -> stop "metric".
PAPER_PRESETS: Dict[str, Dict[str, Any]] = {
    "texas": dict(model="bundle", d=3, layers=4, hidden=20, lr=0.02, weight_decay=5e-3, input_dropout=0.0,
                  dropout=0.7, learner_inputs="stalk_sum", epochs=1500, patience=200),
    "wisconsin": dict(model="bundle", d=3, layers=2, hidden=32, lr=0.02, weight_decay=0.0006685729356079199,
                      input_dropout=0.0, dropout=0.7276458263736642, extra_stalks=("signless", "laplacian"),
                      epochs=500, patience=200),
    "cornell": dict(model="diag", d=4, layers=2, hidden=16, lr=0.02, weight_decay=0.0006914841722570725,
                    sheaf_decay=0.00031764232712732976, input_dropout=0.2, dropout=0.7, extra_stalks=("signless",),
                    epochs=500, patience=200),
    "chameleon": dict(model="diag", d=4, layers=5, hidden=32, lr=0.01, weight_decay=0.0002969905682317406,
                      sheaf_decay=0.0012638885974822734, input_dropout=0.7, dropout=0.0, second_linear=True,
                      extra_stalks=("signless",), epochs=1000, patience=100, stop="metric"),
    "squirrel": dict(model="bundle", d=3, layers=5, hidden=32, lr=0.01, weight_decay=0.00011215791366362148,
                     input_dropout=0.7, dropout=0.0, second_linear=True, extra_stalks=("signless",), epochs=1000,
                     patience=100, stop="metric"),
}
PAPER_PRESETS["cornell_nsd"] = PAPER_PRESETS["cornell"]

# Datasets without a published script. These are NOT the paper's values but our own picks: film and citeseer the
# best of 2-5 hand-chosen configurations on splits 0-2 (validation and test accuracy); benchmarks/RESULTS.md lists
# the runs.
OWN_PRESETS: Dict[str, Dict[str, Any]] = {
    "film": dict(model="diag", d=3, layers=2, hidden=32, lr=0.02, weight_decay=5e-3, input_dropout=0.0, dropout=0.7,
                 epochs=500, patience=100),
    # cora: the best mean validation accuracy of 10 configurations run on all 10 splits (benchmarks/RESULTS.md)
    "cora": dict(model="diag", d=4, layers=4, hidden=16, lr=0.01, weight_decay=1e-3, input_dropout=0.8, dropout=0.3,
                 epochs=500, patience=100),
    "citeseer": dict(model="diag", d=4, layers=3, hidden=16, lr=0.01, weight_decay=1e-3, input_dropout=0.7,
                     dropout=0.3, epochs=500, patience=100),
    # Platonov et al.'s ROC-AUC sets: one untuned configuration each (chosen before any run; tolokers' kept small
    # for CPU time, 1M directed edges), stop on validation AUC
    "minesweeper": dict(model="diag", d=3, layers=2, hidden=32, lr=0.01, weight_decay=0.0, input_dropout=0.0,
                        dropout=0.2, epochs=300, patience=50, stop="metric"),
    "tolokers": dict(model="diag", d=2, layers=1, hidden=16, lr=0.01, weight_decay=0.0, input_dropout=0.0,
                     dropout=0.2, epochs=200, patience=30, stop="metric"),
}


@dataclass
class NodeClsConfig:
    """Model and training hyperparameters of one run (the flags of ``sheafgraph nodecls``).

    ``hidden`` is the channels per stalk dimension for NSD and the hidden width for the baselines; ``layers`` the
    diffusion layers (NSD) or layers (baselines); ``d``, ``orthogonal``, ``sheaf_act``, ``edge_weights`` (None: the
    model's default), ``extra_stalks``, ``learner_inputs``, ``second_linear``, ``sheaf_decay`` (None: as
    ``weight_decay``) and the ODE options (``time``, ``method``, ``step_size``, ``rtol``, ``atol``, ``adjoint``)
    apply to NSD models only.
    """
    model: str = "diag"
    d: int = 3
    layers: int = 2
    hidden: int = 20
    dropout: float = 0.5
    input_dropout: float = 0.0
    lr: float = 0.02
    weight_decay: float = 1e-3
    sheaf_decay: Optional[float] = None
    epochs: int = 500
    patience: int = 100
    stop: str = "loss"
    orthogonal: str = "householder"
    sheaf_act: str = "tanh"
    edge_weights: Optional[bool] = None
    extra_stalks: Tuple[str, ...] = ()
    learner_inputs: str = "concat"
    second_linear: bool = False
    use_act: bool = True
    time: float = 1.0
    method: str = "dopri5"
    step_size: Optional[float] = None
    rtol: float = 1e-5
    atol: float = 1e-7
    adjoint: bool = False

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; valid models: {', '.join(MODELS)}")
        if self.stop not in STOP_STRATEGIES:
            raise ValueError(f"unknown stop strategy {self.stop!r}; valid: {', '.join(STOP_STRATEGIES)}")
        for name in ("epochs", "patience", "layers", "hidden", "d"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        self.extra_stalks = tuple(self.extra_stalks)


class MLP(nn.Module):
    """Baseline: ``layers`` linear layers with ReLU and dropout; ignores the graph.

    Shapes:
        x: ``(|V|, in_channels)``; returns ``(|V|, out_channels)``.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, input_dropout: float = 0.0):
        super().__init__()
        sizes = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.lins = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
        self.dropout, self.input_dropout = dropout, input_dropout

    def forward(self, x: Tensor, edge_index: Optional[StructureLike] = None) -> Tensor:
        x = F.dropout(x, self.input_dropout, self.training)
        for k, lin in enumerate(self.lins):
            if k > 0:
                x = F.dropout(F.relu(x), self.dropout, self.training)
            x = lin(x)
        return x


class GCN(nn.Module):
    """Baseline: ``layers`` PyG ``GCNConv`` layers (Kipf & Welling 2017) with ReLU and dropout.

    Shapes:
        x: ``(|V|, in_channels)``; edge_index: ``(2, |E|)`` or a GraphStructure; returns ``(|V|, out_channels)``.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, input_dropout: float = 0.0):
        super().__init__()
        sizes = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.convs = nn.ModuleList([GCNConv(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
        self.dropout, self.input_dropout = dropout, input_dropout

    def forward(self, x: Tensor, edge_index: StructureLike) -> Tensor:
        if isinstance(edge_index, GraphStructure):
            edge_index = edge_index.edge_index
        x = F.dropout(x, self.input_dropout, self.training)
        for k, conv in enumerate(self.convs):
            if k > 0:
                x = F.dropout(F.relu(x), self.dropout, self.training)
            x = conv(x, edge_index)
        return x


def build_model(config: NodeClsConfig, in_channels: int, out_channels: int) -> nn.Module:
    """The model of ``config`` for ``in_channels`` features and ``out_channels`` classes."""
    c = config
    if c.model in BASELINES:
        cls = MLP if c.model == "mlp" else GCN
        return cls(in_channels, out_channels, c.hidden, c.layers, c.dropout, c.input_dropout)
    kwargs: Dict[str, Any] = dict(hidden_channels=c.hidden, d=c.d, input_dropout=c.input_dropout, dropout=c.dropout,
                                  use_act=c.use_act, second_linear=c.second_linear, extra_stalks=c.extra_stalks,
                                  sheaf_act=c.sheaf_act, learner_inputs=c.learner_inputs)
    if c.model.startswith("bundle"):
        kwargs["orthogonal"] = c.orthogonal
    if c.edge_weights is not None:
        kwargs["edge_weights"] = c.edge_weights
    if c.model.endswith("_ode"):
        kwargs.update(time=c.time, method=c.method, step_size=c.step_size, rtol=c.rtol, atol=c.atol,
                      adjoint=c.adjoint)
    else:
        kwargs["num_layers"] = c.layers
    return build_nsd(c.model, in_channels, out_channels, **kwargs)


def make_optimizer(model: nn.Module, config: NodeClsConfig) -> torch.optim.Optimizer:
    """Adam with NSD's two parameter groups: sheaf learners (``sheaf_decay``) and the rest (``weight_decay``)."""
    if not hasattr(model, "sheaf_parameters"):
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sheaf_decay = config.weight_decay if config.sheaf_decay is None else config.sheaf_decay
    groups = [{"params": list(model.sheaf_parameters()), "weight_decay": sheaf_decay},
              {"params": list(model.other_parameters()), "weight_decay": config.weight_decay}]
    return torch.optim.Adam(groups, lr=config.lr)


def fold_masks(data: Data, fold: int) -> Tuple[Tensor, Tensor, Tensor]:
    """The train / validation / test masks of split ``fold``, validated against the graph.

    Raises:
        ValueError: a mask of the wrong shape or dtype, a fold out of range, or an empty train/val/test set.
    """
    n = data.num_nodes
    masks = []
    for name in ("train_mask", "val_mask", "test_mask"):
        m = getattr(data, name, None)
        if not isinstance(m, Tensor) or m.dtype != torch.bool or m.dim() not in (1, 2) or m.size(0) != n:
            shape = tuple(m.shape) if isinstance(m, Tensor) else None
            raise ValueError(f"data.{name} must be a bool tensor of shape ({n},) or ({n}, num_splits) for the "
                             f"{n} nodes, got {shape} {getattr(m, 'dtype', '')}".rstrip())
        if m.dim() == 1:
            m = m.unsqueeze(1)
        if not 0 <= fold < m.size(1):
            raise ValueError(f"fold {fold} out of range: data.{name} has {m.size(1)} split(s)")
        if not bool(m[:, fold].any()):
            raise ValueError(f"data.{name} selects no node in split {fold}")
        masks.append(m[:, fold])
    return masks[0], masks[1], masks[2]


def num_splits(data: Data) -> int:
    m = data.train_mask
    return 1 if m.dim() == 1 else m.size(1)


@dataclass
class FoldResult:
    fold: int
    test: float
    val: float
    val_loss: float
    best_epoch: int
    epochs: int
    seconds: float


def train_fold(model: nn.Module, data: Data, fold: int, config: NodeClsConfig, *, graph: StructureLike,
               x: Optional[Tensor] = None, metric: str = "accuracy") -> FoldResult:
    """Train ``model`` on split ``fold`` with early stopping and return the test metric at the best epoch.

    Args:
        model: called as ``model(x, graph)`` and returning logits.
        data: the dataset (``x``, ``y``, masks) on the model's device.
        graph: ``data.edge_index`` or its :class:`GraphStructure` (built once and shared across folds).
        x: the features to feed (default ``data.x``; e.g. its sparse CSR form for NSD models).
        metric: ``"accuracy"`` or ``"roc_auc"``.
    """
    train, val, test = fold_masks(data, fold)
    optimizer = make_optimizer(model, config)
    y, x = data.y, data.x if x is None else x
    best = (math.inf, -math.inf)                     # (val loss, val metric) of the best epoch
    result = FoldResult(fold, float("nan"), float("nan"), float("nan"), -1, 0, 0.0)
    bad, start = 0, time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        optimizer.zero_grad()
        F.cross_entropy(model(x, graph)[train], y[train]).backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(x, graph)
        val_loss = float(F.cross_entropy(logits[val], y[val]))
        val_score = score(metric, logits[val], y[val])
        improved = val_loss < best[0] if config.stop == "loss" else val_score > best[1]
        if improved:
            best = (val_loss, val_score)
            result.test, result.val, result.val_loss = score(metric, logits[test], y[test]), val_score, val_loss
            result.best_epoch, bad = epoch, 0
        else:
            bad += 1
        result.epochs = epoch + 1
        if bad >= config.patience:
            break
    result.seconds = time.perf_counter() - start
    return result


def model_features(x: Tensor, model: str, max_density: float = 0.1) -> Tensor:
    """The features as fed to ``model``: sparse CSR for NSD models when at most ``max_density`` of the entries are
    non-zero (bag-of-words benchmarks are under 1 %: the input layer is then ~10x faster), else ``x`` itself."""
    if model in BASELINES or x.numel() == 0 or float((x != 0).float().mean()) > max_density:
        return x
    return x.to_sparse_csr()


def run_folds(data: Data, config: NodeClsConfig, *, folds: Optional[int] = None, first_fold: int = 0,
              seed: int = 0, device: str = "cpu", show_progress: Optional[bool] = None,
              on_fold: Optional[Callable[[FoldResult], None]] = None) -> Dict[str, Any]:
    """Train and evaluate ``config`` on ``folds`` splits of ``data`` from split ``first_fold`` on (default: all
    remaining; different ``first_fold`` let several processes share the splits); ``on_fold`` is called with each
    fold's result as soon as it is done.

    Returns:
        ``{"dataset", "model", "metric", "config", "homophily", "folds": [per-fold dicts], "summary": {"mean",
        "std", "val_mean", "seconds", "seconds_per_epoch"}}`` with metrics in [0, 1].
    """
    total = num_splits(data)
    if isinstance(first_fold, bool) or not isinstance(first_fold, int) or not 0 <= first_fold < total:
        raise ValueError(f"first_fold must be an int in 0..{total - 1} (the dataset has {total} splits), "
                         f"got {first_fold!r}")
    folds = total - first_fold if folds is None else folds
    if isinstance(folds, bool) or not isinstance(folds, int) or not 1 <= folds <= total - first_fold:
        raise ValueError(f"folds must be an int in 1..{total - first_fold} (the dataset's {total} splits from split "
                         f"{first_fold} on), got {folds!r}")
    if data.x is None or data.y is None or data.y.size(0) != data.x.size(0):
        raise ValueError("data needs x (|V|, F) and y (|V|,) with one label per node")
    metric = getattr(data, "metric", "accuracy")
    dev = resolve_device(device)
    data = data.to(dev)
    graph = GraphStructure(data.edge_index, data.num_nodes)
    x = model_features(data.x, config.model)
    num_classes = int(getattr(data, "num_classes", int(data.y.max()) + 1))
    results: List[FoldResult] = []
    bar = progress(range(first_fold, first_fold + folds), desc=f"{getattr(data, 'name', 'data')} {config.model}",
                   total=folds, enabled=show_progress)
    for fold in bar:
        seed_everything(seed + fold)
        model = build_model(config, data.num_features, num_classes).to(dev)
        results.append(train_fold(model, data, fold, config, graph=graph, x=x, metric=metric))
        if on_fold is not None:
            on_fold(results[-1])
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(test=f"{100 * sum(r.test for r in results) / len(results):.2f}")
    tests = torch.tensor([r.test for r in results], dtype=torch.float64)
    seconds = sum(r.seconds for r in results)
    return {
        "dataset": getattr(data, "name", None), "model": config.model, "metric": metric,
        "config": dataclasses.asdict(config), "seed": seed,
        "homophily": {"edge": edge_homophily(data.edge_index, data.y), "node": node_homophily(data.edge_index, data.y)},
        "folds": [dataclasses.asdict(r) for r in results],
        "summary": {"mean": float(tests.mean()), "std": float(tests.std(unbiased=False)),
                    "val_mean": sum(r.val for r in results) / len(results), "folds": len(results),
                    "seconds": seconds, "seconds_per_epoch": seconds / max(sum(r.epochs for r in results), 1)},
    }


def resolve_config(dataset: str, preset: Optional[str], overrides: Dict[str, Any]) -> Tuple[NodeClsConfig, str]:
    """Defaults < preset (``"paper"``: :data:`PAPER_PRESETS`, else :data:`OWN_PRESETS`, of the dataset; NSD models
    only) < explicit overrides.

    Returns the config and a note saying where its values come from.
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if preset in (None, "none"):
        return NodeClsConfig(**overrides), "defaults and flags"
    if preset != "paper":
        raise ValueError(f"unknown preset {preset!r}; valid presets: none, paper")
    key = dataset.lower()
    presets = {**OWN_PRESETS, **PAPER_PRESETS}
    if key not in presets:
        raise ValueError(f"no paper preset for dataset {dataset!r}; presets exist for: {', '.join(presets)}")
    values = dict(presets[key])
    if overrides.get("model", values["model"]) in BASELINES:
        return NodeClsConfig(**overrides), "baseline defaults and flags (the paper preset is for NSD models)"
    origin = "NSD paper recipe" if key in PAPER_PRESETS else "our own recipe (no published one)"
    return NodeClsConfig(**{**values, **overrides}), f"{origin} for {key}, then flags"


def add_subcommand(subparsers) -> None:
    p = subparsers.add_parser("nodecls", help=TASKS["nodecls"],
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = NodeClsConfig()
    p.add_argument("--dataset", required=True, help="dataset name (e.g. texas, wisconsin, cornell, chameleon)")
    p.add_argument("--model", default=None, choices=list(MODELS),
                   help=f"model (default: the preset's, else {d.model})")
    p.add_argument("--preset", default="none", choices=["none", "paper"],
                   help="'paper': the published NSD hyperparameters of the dataset, or our own where none are "
                        "published (film, cora, citeseer, minesweeper, tolokers); flags still override")
    p.add_argument("--folds", type=int, default=None, help="run K splits (default all from --first-fold on)")
    p.add_argument("--first-fold", type=int, default=0,
                   help="index of the first split to run (default 0; lets several processes share the splits)")
    p.add_argument("--epochs", type=int, default=None, help=f"maximum epochs (default {d.epochs})")
    p.add_argument("--patience", type=int, default=None,
                   help=f"early stopping: epochs without validation improvement (default {d.patience})")
    p.add_argument("--stop", default=None, choices=list(STOP_STRATEGIES),
                   help="select the best epoch by validation loss or metric (default loss)")
    p.add_argument("--lr", type=float, default=None, help=f"learning rate (default {d.lr})")
    p.add_argument("--weight-decay", type=float, default=None, help=f"default {d.weight_decay}")
    p.add_argument("--sheaf-decay", type=float, default=None, help="weight decay of the sheaf learners "
                                                                   "(default: --weight-decay)")
    p.add_argument("--hidden", type=int, default=None,
                   help=f"channels per stalk dimension (NSD) or hidden width (baselines) (default {d.hidden})")
    p.add_argument("--d", type=int, default=None, help=f"stalk dimension (default {d.d})")
    p.add_argument("--layers", type=int, default=None, help=f"diffusion layers / layers (default {d.layers})")
    p.add_argument("--dropout", type=float, default=None, help=f"default {d.dropout}")
    p.add_argument("--input-dropout", type=float, default=None, help=f"default {d.input_dropout}")
    p.add_argument("--orthogonal", default=None, choices=list(ORTHOGONAL_MAPS),
                   help=f"O(d) parameterisation of the bundle models (default {d.orthogonal})")
    p.add_argument("--sheaf-act", default=None, choices=list(ACTIVATIONS), help=f"default {d.sheaf_act}")
    p.add_argument("--edge-weights", default=None, action=argparse.BooleanOptionalAction,
                   help="learned edge weights of the bundle models (default on)")
    p.add_argument("--extra-stalks", nargs="*", default=None, choices=list(FIXED_STALKS),
                   help="fixed extra stalk dimensions: signless (D + A), laplacian (D - A)")
    p.add_argument("--learner-inputs", default=None, choices=list(LEARNER_INPUTS), help="default concat")
    p.add_argument("--second-linear", default=None, action=argparse.BooleanOptionalAction)
    p.add_argument("--time", type=float, default=None, help="integration time of the *_ode models (default 1)")
    p.add_argument("--method", default=None, help="torchdiffeq solver of the *_ode models (default dopri5)")
    p.add_argument("--step-size", type=float, default=None, help="fixed-step solvers' step")
    p.add_argument("--adjoint", default=None, action=argparse.BooleanOptionalAction)
    p.add_argument("--seed", type=int, default=0, help="fold k is seeded with seed + k (default 0)")
    p.add_argument("--root", default=None, help="data root (default $SHEAFGRAPH_DATA, else the project's datasets/)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default auto)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: faster for these small graphs on shared machines; "
                        "0 keeps torch's default)")
    p.add_argument("--json", default=None, help="write per-fold and summary results as JSON here")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


_CONFIG_FLAGS = {f.name for f in dataclasses.fields(NodeClsConfig)}


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    flags = {k: v for k, v in vars(args).items() if k in _CONFIG_FLAGS}
    config, source = resolve_config(args.dataset, args.preset, flags)
    data = load_node_dataset(args.dataset, args.root)
    metric = getattr(data, "metric", "accuracy")
    print(f"{data.name}: {data.num_nodes} nodes, {data.edge_index.size(1)} directed edges, "
          f"{data.num_features} features, {data.num_classes} classes, edge homophily "
          f"{edge_homophily(data.edge_index, data.y):.3f}; metric {metric}", flush=True)
    print(f"model {config.model} ({source}): " + ", ".join(
        f"{k}={v}" for k, v in dataclasses.asdict(config).items() if k != "model"), flush=True)

    def report(r: FoldResult) -> None:
        print(f"fold {r.fold}: test {100 * r.test:.2f}  val {100 * r.val:.2f}  best epoch {r.best_epoch}/{r.epochs}"
              f"  {r.seconds:.1f} s", flush=True)

    result = run_folds(data, config, folds=args.folds, first_fold=args.first_fold, seed=args.seed, device=args.device,
                       show_progress=False if args.no_progress else None, on_fold=report)
    s = result["summary"]
    print(f"{data.name} {config.model}: test {metric} {100 * s['mean']:.2f} ± {100 * s['std']:.2f} over "
          f"{s['folds']} fold(s) (val {100 * s['val_mean']:.2f}; {s['seconds']:.1f} s, "
          f"{1e3 * s['seconds_per_epoch']:.1f} ms/epoch)")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1))
        print(f"results: {path}")
    return 0
