r"""Training for node classification on fixed splits (NSD's protocol, Bodnar et al., NeurIPS 2022).

For each of the dataset's splits (or K of them), a fresh model (seeded with ``seed + fold``) is trained full-batch
(or on subgraph mini-batches, :mod:`sheafgraph.sheaf.minibatch`, when ``batch_size`` is set) with Adam (the sheaf learners may have their own weight decay) on the cross-entropy of the training nodes; after every
epoch the validation loss and metric are computed on the full graph (without gradients) and the test metric is taken at the best validation epoch (lowest
validation loss, or highest validation metric with ``stop="metric"``); training stops after ``patience`` epochs
without improvement. Results are mean ± standard deviation over the folds (population std, as NSD's code). Metric:
accuracy, or ROC AUC for minesweeper and tolokers (taken from the dataset).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from sheafgraph.metrics.classification import score
from sheafgraph.metrics.homophily import edge_homophily, node_homophily
from sheafgraph.ops import GraphStructure
from sheafgraph.ops.structure import StructureLike
from sheafgraph.sheaf.minibatch import SubgraphBatches
from sheafgraph.sheaf.recipes import BASELINE_NAMES, NodeClsConfig, build_model
from sheafgraph.utils import progress, resolve_device, seed_everything
from sheafgraph.utils.checks import int_in_range
from sheafgraph.utils.early_stopping import EarlyStopping


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


def minibatch_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, batches: SubgraphBatches, fold: int,
                     epoch: int, device: torch.device, model_name: str) -> None:
    """One pass over this process's subgraph batches: a step per batch on the mean loss of its seed nodes (a batch
    without seeds contributes a zero loss, so that every process steps in lock-step)."""
    for batch in batches.epoch_batches(fold, epoch):
        batch = batch.to(device)
        optimizer.zero_grad()
        seeds = batch.seed_mask
        logits = model(model_features(batch.x, model_name), batch.edge_index)
        loss = F.cross_entropy(logits[seeds], batch.y[seeds], reduction="sum") / seeds.sum().clamp(min=1)
        loss.backward()
        optimizer.step()


def train_fold(model: nn.Module, data: Data, fold: int, config: NodeClsConfig, *, graph: StructureLike,
               x: Optional[Tensor] = None, metric: str = "accuracy", show_progress: Optional[bool] = None,
               batches: Optional[SubgraphBatches] = None) -> FoldResult:
    """Train ``model`` on split ``fold`` with early stopping and return the test metric at the best epoch.

    Args:
        model: called as ``model(x, graph)`` and returning logits.
        data: the dataset (``x``, ``y``, masks) on the model's device.
        graph: ``data.edge_index`` or its :class:`GraphStructure` (built once and shared across folds).
        x: the features to feed (default ``data.x``; e.g. its sparse CSR form for NSD models).
        metric: ``"accuracy"`` or ``"roc_auc"``.
        show_progress: a bar over the epochs (ETA for the ``config.epochs`` maximum; early stopping ends it sooner).
        batches: train on these subgraph batches (moved to the model's device one at a time) instead of the full
            graph; evaluation stays full-graph.
    """
    train, val, test = fold_masks(data, fold)
    optimizer = make_optimizer(model, config)
    y, x = data.y, data.x if x is None else x
    stopper = EarlyStopping(config.patience, "min" if config.stop == "loss" else "max")
    result = FoldResult(fold, float("nan"), float("nan"), float("nan"), -1, 0, 0.0)
    start = time.perf_counter()
    bar = progress(range(config.epochs), desc=f"fold {fold}", total=config.epochs, enabled=show_progress)
    for epoch in bar:
        model.train()
        if batches is None:
            optimizer.zero_grad()
            F.cross_entropy(model(x, graph)[train], y[train]).backward()
            optimizer.step()
        else:
            minibatch_epoch(model, optimizer, batches, fold, epoch, y.device, config.model)
        model.eval()
        with torch.no_grad():
            logits = model(x, graph)
        val_loss = float(F.cross_entropy(logits[val], y[val]))
        val_score = score(metric, logits[val], y[val])
        if stopper.step(val_loss if config.stop == "loss" else val_score, epoch):
            result.test, result.val, result.val_loss = score(metric, logits[test], y[test]), val_score, val_loss
            result.best_epoch = epoch
        result.epochs = epoch + 1
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(val=f"{100 * result.val:.1f}", best=result.best_epoch, refresh=False)
        if stopper.should_stop:
            break
    result.seconds = time.perf_counter() - start
    return result


def model_features(x: Tensor, model: str, max_density: float = 0.1) -> Tensor:
    """The features as fed to ``model``: sparse CSR for NSD models when at most ``max_density`` of the entries are
    non-zero (bag-of-words benchmarks are under 1 %: the input layer is then ~10x faster), else ``x`` itself."""
    if model in BASELINE_NAMES or x.numel() == 0 or float((x != 0).float().mean()) > max_density:
        return x
    return x.to_sparse_csr()


def run_folds(data: Data, config: NodeClsConfig, *, folds: Optional[int] = None, first_fold: int = 0,
              seed: int = 0, device: str = "cpu", show_progress: Optional[bool] = None,
              on_fold: Optional[Callable[[FoldResult], None]] = None) -> Dict[str, Any]:
    """Train and evaluate ``config`` on ``folds`` splits of ``data`` from split ``first_fold`` on (default: all
    remaining; different ``first_fold`` let several processes share the splits); ``on_fold`` is called with each
    fold's result as soon as it is done.

    Returns:
        a dict with keys ``dataset``, ``model``, ``metric``, ``config``, ``homophily``, ``folds`` (per-fold dicts)
        and ``summary`` (``mean``, ``std``, ``val_mean``, ``seconds``, ``seconds_per_epoch``); metrics in [0, 1].
    """
    total = num_splits(data)
    first_fold = int_in_range(first_fold, "first_fold", 0, total - 1, f"the dataset has {total} splits")
    folds = int_in_range(total - first_fold if folds is None else folds, "folds", 1, total - first_fold,
                         f"the dataset's {total} splits from split {first_fold} on")
    if data.x is None or data.y is None or data.y.size(0) != data.x.size(0):
        raise ValueError("data needs x (|V|, F) and y (|V|,) with one label per node")
    metric = getattr(data, "metric", "accuracy")
    dev = resolve_device(device)
    batches = None
    if config.batch_size is not None:                       # partitioned once, on the host, for every split
        batches = SubgraphBatches(data, config.sampler, config.batch_size, hops=config.layers,
                                  num_neighbors=config.num_neighbors, seed=seed)
    data = data.to(dev)
    graph = GraphStructure(data.edge_index, data.num_nodes)
    x = model_features(data.x, config.model)
    num_classes = int(getattr(data, "num_classes", int(data.y.max()) + 1))
    results: List[FoldResult] = []
    for fold in range(first_fold, first_fold + folds):
        seed_everything(seed + fold)
        model = build_model(config, data.num_features, num_classes).to(dev)
        results.append(train_fold(model, data, fold, config, graph=graph, x=x, metric=metric,
                                  show_progress=show_progress, batches=batches))
        if on_fold is not None:
            on_fold(results[-1])
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
