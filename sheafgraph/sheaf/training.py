r"""Training for node classification on fixed splits (NSD's protocol, Bodnar et al., NeurIPS 2022).

For each of the dataset's splits (or K of them), a fresh model (seeded with ``seed + fold``) is trained full-batch
(or on subgraph mini-batches, :mod:`sheafgraph.sheaf.minibatch`, when ``batch_size`` is set) with Adam (the sheaf
learners may have their own weight decay) on the cross-entropy of the training nodes; after every epoch the
validation loss and metric are computed on the full graph (without gradients; after mini-batch training an NSD
model's sheaf is computed :data:`EVAL_EDGE_CHUNK` edges at a time, so the whole graph's sheaf is never held) and the
test metric is taken at the best validation epoch (lowest validation loss, or highest validation metric with
``stop="metric"``); training stops after ``patience`` epochs without improvement. Results are mean ± standard
deviation over the folds (population std, as NSD's code). Metric: accuracy, or ROC AUC for minesweeper and tolokers
(taken from the dataset).

Data-parallel (``torch.distributed`` initialised, ``torchrun``; :mod:`sheafgraph.utils.distributed`): P ranks train
one model under ``DistributedDataParallel``, which averages their gradients. Mini-batch: rank r takes batches
r, r + P, ... of each epoch; full batch: each rank takes the loss of its share of the training nodes
(:func:`train_share`, :func:`full_batch_epoch`). Rank 0 alone evaluates, keeps the early-stopping state and writes
the checkpoint; its decision to stop is broadcast, so that all ranks stop at the same epoch.

Resumable: with a ``checkpoint`` file, rank 0 writes (atomically) after every epoch the model, optimiser,
early-stopping state, split and epoch, the finished splits' results and every rank's generator state; a run resumed
from it gives the same results as an uninterrupted one (the mini-batch order is a function of seed, split and epoch).
"""
from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch_geometric.data import Data

from sheafgraph.metrics.classification import score
from sheafgraph.metrics.homophily import edge_homophily, node_homophily
from sheafgraph.ops import GraphStructure
from sheafgraph.ops.structure import StructureLike
from sheafgraph.sheaf.history import NodeHistory
from sheafgraph.sheaf.minibatch import SubgraphBatches
from sheafgraph.sheaf.recipes import BASELINE_NAMES, NodeClsConfig, build_model
from sheafgraph.utils import load_checkpoint, progress, resolve_device, save_checkpoint, seed_everything
from sheafgraph.utils.checkpoint import check_same_run
from sheafgraph.utils.checks import int_in_range, positive_int
from sheafgraph.utils.distributed import DistributedContext, all_gather_objects, broadcast_object, current_context
from sheafgraph.utils.early_stopping import EarlyStopping
from sheafgraph.utils.seed import rng_state, set_rng_state

#: edges per chunk of the sheaf in full-graph evaluation after mini-batch training (``edge_chunk`` of the NSD models)
EVAL_EDGE_CHUNK = 1 << 20


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


def train_share(train: Tensor, seed: int, fold: int, context: DistributedContext) -> Tensor:
    """This rank's training nodes for full-batch data-parallel training: the training nodes of split ``fold`` in an
    order seeded by ``(seed, fold)`` (the same on every rank), dealt out round-robin, then sorted. Together the ranks
    hold every training node once; a single process holds them all."""
    nodes = train.nonzero().view(-1)
    order = torch.randperm(nodes.numel(), generator=torch.Generator().manual_seed(seed * 1009 + fold))
    return nodes[order.to(nodes.device)[context.rank::context.world_size]].sort().values


def full_batch_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, graph: StructureLike, y: Tensor,
                     share: Tensor, num_train: int, world_size: int = 1) -> None:
    r"""One step on the whole graph with the loss of this rank's training nodes ``share``,

    .. math:: \ell_r = \frac{P}{|T|} \sum_{i \in S_r} \mathrm{CE}_i,

    so that the gradient DDP averages over the P ranks, :math:`\frac{1}{P} \sum_r \nabla \ell_r`, is the full-batch
    gradient :math:`\nabla \frac{1}{|T|} \sum_{i \in T} \mathrm{CE}_i` (the ranks draw the same dropout masks:
    same seed). Every rank still runs the whole graph forward and backward, so this is no faster than one process;
    mini-batches are what divide the work.

    Shapes:
        x: ``(|V|, F)``; y: ``(|V|,)``; share: ``(|S_r|,)`` node indices.
    """
    optimizer.zero_grad()
    logits = model(x, graph)
    (F.cross_entropy(logits[share], y[share], reduction="sum") / num_train * world_size).backward()
    optimizer.step()


def minibatch_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, batches: SubgraphBatches, fold: int,
                    epoch: int, device: torch.device, model_name: str,
                    history: Optional[NodeHistory] = None, write_history: bool = True,
                    refresh: Optional[Callable[[], None]] = None, refresh_every: int = 0) -> None:
    """One pass over this process's subgraph batches: a step per batch on the loss of its ``loss_mask`` nodes divided
    by its number of seeds (at least 1; a batch with nothing to count contributes a zero loss, so that every process
    steps in lock-step); history batches read ``history`` and, with ``write_history``, update it. ``refresh`` is
    called before every ``refresh_every``-th batch but the first (e.g. to record the whole graph into the history).

    Raises:
        ValueError: ``refresh_every`` is not a non-negative int.
    """
    positive_int(refresh_every, "refresh_every", minimum=0)
    for k, batch in enumerate(batches.epoch_batches(fold, epoch)):
        if refresh is not None and refresh_every and k and k % refresh_every == 0:
            refresh()
        batch = batch.to(device)
        optimizer.zero_grad()
        seeds = batch.seed_mask
        graph, kwargs = batch.edge_index, {}
        if history is not None:     # its sampler knows each edge's reverse: the structure needs no sort
            graph = GraphStructure(batch.edge_index, batch.num_nodes, reverse=batch.edge_rev)
            kwargs = {"history": history.batch(batch.n_id, batch.batch_mask, write_history)}
        logits = model(model_features(batch.x, model_name), graph, **kwargs)
        counted = batch.loss_mask
        loss = F.cross_entropy(logits[counted], batch.y[counted], reduction="sum") / seeds.sum().clamp(min=1)
        loss.backward()
        optimizer.step()


def train_fold(model: nn.Module, data: Data, fold: int, config: NodeClsConfig, *, graph: StructureLike,
               x: Optional[Tensor] = None, metric: str = "accuracy", show_progress: Optional[bool] = None,
               batches: Optional[SubgraphBatches] = None, seed: int = 0, start: Optional[Dict[str, Any]] = None,
               on_epoch: Optional[Callable[[Dict[str, Any]], None]] = None) -> FoldResult:
    """Train ``model`` on split ``fold`` with early stopping and return the test metric at the best epoch.

    Under ``torch.distributed`` every rank calls this with the same arguments (and identically initialised models);
    rank 0 evaluates and every rank returns rank 0's result.

    Args:
        model: called as ``model(x, graph)`` and returning logits.
        data: the dataset (``x``, ``y``, masks) on the model's device.
        graph: ``data.edge_index`` or its :class:`GraphStructure` (built once and shared across folds).
        x: the features to feed (default ``data.x``; e.g. its sparse CSR form for NSD models).
        metric: ``"accuracy"`` or ``"roc_auc"``.
        show_progress: a bar over the epochs (ETA for the ``config.epochs`` maximum; early stopping ends it sooner).
        batches: train on these subgraph batches (moved to the model's device one at a time) instead of the full
            graph; evaluation stays full-graph, an NSD model's sheaf computed :data:`EVAL_EDGE_CHUNK` edges at a
            time.
        seed: seeds the ranks' shares of the training nodes (full batch, :func:`train_share`).
        start: a state passed to ``on_epoch`` by an earlier run of this split: continue after its epoch.
        on_epoch: called on rank 0 after every epoch but the last with the state to resume from (model, optimiser,
            early stopping, partial result, every rank's generator state).
    """
    train, val, test = fold_masks(data, fold)
    y, x = data.y, data.x if x is None else x
    context = current_context(y.device)
    optimizer = make_optimizer(model, config)
    stopper = EarlyStopping(config.patience, "min" if config.stop == "loss" else "max")
    result = FoldResult(fold, float("nan"), float("nan"), float("nan"), -1, 0, 0.0)
    if start is not None:
        model.load_state_dict(start["model"])
        optimizer.load_state_dict(start["optimizer"])
        stopper.load_state_dict(start["stopper"])
        result = FoldResult(**start["result"])
        set_rng_state(start["rng"][context.rank], y.device)
    net = model if context.world_size == 1 else DistributedDataParallel(model)
    streamed = {} if batches is None or config.model in BASELINE_NAMES else {"edge_chunk": EVAL_EDGE_CHUNK}
    history = NodeHistory(data.num_nodes) if batches is not None and batches.sampler == "history" else None

    def record_history():       # every rank records the whole graph itself, with its replica of the model
        model.eval()
        with torch.no_grad():
            model(x, graph, **streamed, history=history.record())
        net.train()

    if history is not None:     # what the last evaluation recorded: the same on every rank, and on resuming
        record_history()
    share = train_share(train, seed, fold, context)
    begin, elapsed = time.perf_counter(), result.seconds
    epochs = range(result.epochs, config.epochs)
    bar = progress(epochs, desc=f"fold {fold}", total=len(epochs), enabled=show_progress if context.is_main else False)
    for epoch in bar:
        net.train()
        if batches is None:
            full_batch_epoch(net, optimizer, x, graph, y, share, int(train.sum()), context.world_size)
        else:
            minibatch_epoch(net, optimizer, batches, fold, epoch, y.device, config.model, history,
                            config.history_writes == "batches", None if history is None else record_history,
                            config.history_refresh)
        if context.is_main:
            model.eval()
            with torch.no_grad():
                logits = model(x, graph, **streamed, **({} if history is None else {"history": history.record()}))
            val_loss = float(F.cross_entropy(logits[val], y[val]))
            val_score = score(metric, logits[val], y[val])
            if stopper.step(val_loss if config.stop == "loss" else val_score, epoch):
                result.test, result.val, result.val_loss = score(metric, logits[test], y[test]), val_score, val_loss
                result.best_epoch = epoch
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(val=f"{100 * result.val:.1f}", best=result.best_epoch, refresh=False)
        result.epochs, result.seconds = epoch + 1, elapsed + time.perf_counter() - begin
        stop = broadcast_object(stopper.should_stop, context)
        if history is not None:
            history.broadcast(context)
        if on_epoch is not None and not stop and epoch + 1 < config.epochs:  # a finished split: run_folds saves it
            rng = all_gather_objects(rng_state(y.device), context)
            if context.is_main:
                on_epoch({"fold": fold, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                          "stopper": stopper.state_dict(), "result": dataclasses.asdict(result), "rng": rng})
        if stop:
            break
    return broadcast_object(result, context)


def model_features(x: Tensor, model: str, max_density: float = 0.1) -> Tensor:
    """The features as fed to ``model``: sparse CSR for NSD models when at most ``max_density`` of the entries are
    non-zero (bag-of-words benchmarks are under 1 %: the input layer is then ~10x faster), else ``x`` itself."""
    if model in BASELINE_NAMES or x.numel() == 0 or float((x != 0).float().mean()) > max_density:
        return x
    return x.to_sparse_csr()


def run_folds(data: Data, config: NodeClsConfig, *, folds: Optional[int] = None, first_fold: int = 0,
              seed: int = 0, device: str = "cpu", show_progress: Optional[bool] = None,
              on_fold: Optional[Callable[[FoldResult], None]] = None, checkpoint: Optional[str] = None,
              resume: bool = False) -> Dict[str, Any]:
    """Train and evaluate ``config`` on ``folds`` splits of ``data`` from split ``first_fold`` on (default: all
    remaining; different ``first_fold`` let several processes share the splits); ``on_fold`` is called (on rank 0)
    with each fold's result as soon as it is done.

    Under ``torch.distributed`` (``torchrun``) every rank calls this alike and trains its share (module docstring);
    ``device`` is then this rank's device.

    Args:
        checkpoint: write the resumable state of the run to this file after every epoch (rank 0, atomically).
        resume: continue the run saved in ``checkpoint`` (same data, config, seed, splits, device type and number of
            processes, else a ``ValueError`` says what differs); without it an existing ``checkpoint`` is refused.

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
    context = current_context(dev)
    run = {"dataset": getattr(data, "name", None), "nodes": data.num_nodes, "edges": data.edge_index.size(1),
           "config": dataclasses.asdict(config), "seed": seed, "first_fold": first_fold, "folds": folds,
           "device": dev.type, "processes": context.world_size}
    saved = _saved_run(checkpoint, resume, run)
    batches = None if config.batch_size is None else _subgraph_batches(data, config, seed, context)
    data = data.to(dev)
    graph = GraphStructure(data.edge_index, data.num_nodes)
    x = model_features(data.x, config.model)
    num_classes = int(getattr(data, "num_classes", int(data.y.max()) + 1))
    results = [FoldResult(**r) for r in saved.get("finished", [])]
    for result in results:
        if on_fold is not None and context.is_main:
            on_fold(result)
    for fold in range(first_fold + len(results), first_fold + folds):
        seed_everything(seed + fold)
        model = build_model(config, data.num_features, num_classes).to(dev)
        save = None if checkpoint is None else functools.partial(_save, checkpoint, run, results)
        results.append(train_fold(model, data, fold, config, graph=graph, x=x, metric=metric,
                                  show_progress=show_progress, batches=batches, seed=seed,
                                  start=saved if saved.get("fold") == fold else None, on_epoch=save))
        if save is not None and context.is_main:
            save({})
        if on_fold is not None and context.is_main:
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


def _saved_run(checkpoint: Optional[str], resume: bool, run: Dict[str, Any]) -> Dict[str, Any]:
    """The checkpoint to continue (``{}`` for a new run), checked against ``run``."""
    if checkpoint is None:
        if resume:
            raise ValueError("resume needs the checkpoint to continue (nodecls --resume --checkpoint PATH)")
        return {}
    if not resume:
        if Path(checkpoint).exists():
            raise ValueError(f"checkpoint {checkpoint} exists: continue its run with resume (nodecls --resume), or "
                             f"remove it or choose another file for a new run")
        return {}
    saved = load_checkpoint(checkpoint)
    check_same_run(saved.get("run", {}), run, checkpoint)
    return saved


def _save(path: str, run: Dict[str, Any], finished: List[FoldResult], fold_state: Dict[str, Any]) -> None:
    """Write the run's checkpoint: its identity, the finished splits and the state of the split in progress."""
    save_checkpoint({"run": run, "finished": [dataclasses.asdict(r) for r in finished], **fold_state}, path)


def _subgraph_batches(data: Data, config: NodeClsConfig, seed: int, context: DistributedContext) -> SubgraphBatches:
    """This rank's mini-batches (partitioned once, on the host, for every split); under DDP rank 0 partitions the
    graph and the other ranks take its partition, so that all cut the same batches."""
    def build(partition: Optional[Tensor] = None) -> SubgraphBatches:
        return SubgraphBatches(data, config.sampler, config.batch_size, hops=config.hops or config.layers,
                               num_neighbors=config.num_neighbors, seed=seed, rank=context.rank,
                               world_size=context.world_size, order=config.history_order, partition=partition)

    own = build() if context.is_main else None
    partition = broadcast_object(None if own is None else own.partition, context)
    return own if own is not None else build(partition)
