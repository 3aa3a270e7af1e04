"""How the cost of sheaf diffusion grows with the graph: full batch vs mini-batch on cSBM graphs of 10k to 1M nodes,
and what mini-batch training costs in accuracy.

    python benchmarks/scale.py [--sizes 10000 100000 1000000] [--degree 10] [--features 64] [--phi -0.5]
                               [--models diag bundle general] [--batch-size 20000] [--full-max 200000]
                               [--modes full mini] [--sampler cluster|history] [--history-orders random metis]
                               [--history-writes batches evaluation] [--history-refresh N] [--repeats 3]
                               [--threads 2] [--device cpu|cuda]
    python benchmarks/scale.py --accuracy [--datasets csbm:n=20000 chameleon squirrel film] [--folds 3]
                               [--sampler cluster|ego|neighbor|history] [--hops H] [--num-neighbors K [K2]]
                               [--history-orders random metis] [--history-writes batches evaluation]
                               [--history-refreshes 0 1] [--batch-fraction 0.25] [--lrs 0.02 0.005]
                               [--stop loss|metric] [--root /path/to/shared/data] [--json runs.json]

Speed: every (size, model, mode) case runs in its own process, so that its peak memory is its own (resident set size
on CPU, allocated device memory on a GPU). One epoch = one pass of training steps (full batch: one step on the whole
graph; mini-batch: one step per Cluster-GCN batch of about ``--batch-size`` nodes, METIS partition done once
beforehand, once per graph, and reported on its own line, or with ``--sampler history`` per batch of that many nodes
with their one-hop halo, taken one by one or by shuffled METIS parts (partitioned the same way), a row for each of
``--history-orders`` and ``--history-writes`` (evaluation writes skip the batches' pushes; with ``--history-refresh
N`` the whole graph is recorded into the history before every N-th batch, as ``nodecls --history-refresh`` does, and
the epoch includes those passes); "setup" is the rest: building the batches' cluster layout and the graph structure,
and the history's first whole-graph pass); "eval" = one forward of the whole graph without gradients (what early
stopping runs each epoch; after mini-batch training its sheaf is streamed in chunks of ``EVAL_EDGE_CHUNK`` edges, as
``sheafgraph nodecls`` does). Seeds/s = training nodes whose loss an epoch takes, per second. Times are medians over
``--repeats`` epochs after one warm-up epoch. The log-log slope of mini-batch epoch time against edges is fitted over
the sizes (1 = linear). Full batch runs up to ``--full-max`` nodes. Every process keeps its freed memory for reuse as
the ``sheafgraph`` command does (:func:`sheafgraph.allocator.keep_freed_memory`; ``SHEAFGRAPH_KEEP_HEAP=0`` measures
without): at 1M nodes glibc otherwise hands each step's temporaries back to the kernel, and the page faults of taking
them again cost more than the arithmetic. Like the command, the script starts itself once more with glibc's per-thread
cache off (:func:`sheafgraph.allocator.restart_without_thread_cache`), without which the kept heap fragments (a 1M-node
history epoch peaked at 7.8-8.6 GiB around 4.2 GiB of live tensors, and at 6.4-6.8 GiB with the cache off).

Accuracy: ``sheafgraph nodecls``'s protocol (best validation epoch per split, by validation loss or with ``--stop
metric`` accuracy; test scored there) with the same configuration full batch and mini-batch (``--sampler``'s batches
of ``--batch-fraction`` of the nodes: cluster batches of that many nodes, ego batches of that many training seeds
with their ``--hops``-hop neighbourhoods, 2 by default, or neighbor batches of that many seeds with
``--num-neighbors`` sampled per node and hop, one count or one per hop), on the first ``--folds`` splits; with
several ``--lrs`` each mode takes the learning rate of its best mean validation accuracy (the same grid for both),
and mini-batch with several ``--history-orders``, ``--history-writes`` or ``--history-refreshes`` the best (learning
rate, order, writes, refresh) combination; nothing is chosen on test. "edges/batch" is the mean share of the graph's
edges in one batch (epoch 0, split 0): how small the batches really are. ``--json`` writes every run of the grid
with its per-split validation and test accuracy (for paired differences), after each dataset.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from timing import median_s, peak_memory_gib, reset_peak_memory

from sheafgraph.allocator import keep_freed_memory, restart_without_thread_cache
from sheafgraph.data import load_node_dataset
from sheafgraph.ops import GraphStructure
from sheafgraph.sheaf import NodeClsConfig, build_model, model_features, run_folds
from sheafgraph.sheaf.history import HISTORY_WRITES, NodeHistory
from sheafgraph.sheaf.minibatch import (HISTORY_ORDERS, SAMPLERS, SubgraphBatches, metis_partition,
                                        num_cluster_parts, uses_partition)
from sheafgraph.sheaf.recipes import STOP_STRATEGIES
from sheafgraph.sheaf.training import EVAL_EDGE_CHUNK, make_optimizer, minibatch_epoch
from sheafgraph.utils import resolve_device


def csbm_spec(n: int, degree: int, features: int, phi: float) -> str:
    return f"csbm:n={n},d={degree},f={features},phi={phi},splits=1"


def orders(args) -> list:
    """The history orders to run: ``--history-orders`` for history batches, else one placeholder."""
    return list(args.history_orders) if args.sampler == "history" else [NodeClsConfig.history_order]


def speed_settings(args, mode: str) -> list:
    """The (order, writes) pairs of the speed rows of ``mode``: every ``--history-orders`` with every
    ``--history-writes`` for history batches, else one placeholder."""
    if mode == "mini" and args.sampler == "history":
        return [(order, writes) for order in args.history_orders for writes in args.history_writes]
    return [(NodeClsConfig.history_order, NodeClsConfig.history_writes)]


def history_settings(args) -> list:
    """The (order, writes, refresh) triples of the accuracy grid: every ``--history-orders`` with every
    ``--history-writes`` and ``--history-refreshes`` for history batches, else one placeholder."""
    history = args.sampler == "history"
    writes = list(args.history_writes) if history else [NodeClsConfig.history_writes]
    refreshes = list(args.history_refreshes) if history else [NodeClsConfig.history_refresh]
    return [(order, w, r) for order in orders(args) for w in writes for r in refreshes]


def run_case(case: dict) -> dict:
    """Time one (size, model, mode) case in this process; returns its row."""
    device = resolve_device(case["device"])
    torch.set_num_threads(case["threads"])
    t0 = time.perf_counter()
    data = load_node_dataset(csbm_spec(case["n"], case["degree"], case["features"], case["phi"]))
    make_s = time.perf_counter() - t0
    mini = case["mode"] == "mini"
    config = NodeClsConfig(model=case["model"], d=3, hidden=16, layers=2, dropout=0.0,
                           batch_size=case["batch_size"] if mini else None)
    torch.manual_seed(0)
    model = build_model(config, data.num_features, 2).to(device)
    optimizer = make_optimizer(model, config)
    reset_peak_memory(device)
    t0 = time.perf_counter()
    batches = history = None
    if mini:
        parts = (torch.load(case["partition"], weights_only=True)
                 if uses_partition(case["sampler"], case["history_order"]) else None)
        batches = SubgraphBatches(data, case["sampler"], config.batch_size, seed=0, order=case["history_order"],
                                  partition=parts)
    full = data.to(device)
    graph = GraphStructure(full.edge_index, full.num_nodes)
    x = model_features(full.x, config.model)
    streamed = {"edge_chunk": EVAL_EDGE_CHUNK} if mini else {}      # as nodecls evaluates after mini-batch training
    if mini and case["sampler"] == "history":       # as nodecls starts a split: record the whole graph once
        history = NodeHistory(full.num_nodes)
        with torch.no_grad():
            model(x, graph, **streamed, history=history.record())
    setup_s = time.perf_counter() - t0
    train = full.train_mask[:, 0]
    epochs = iter(range(10**6))

    def evaluate():
        model.eval()
        with torch.no_grad():
            model(x, graph, **streamed, **({} if history is None else {"history": history.record()}))

    def refresh():                  # nodecls' --history-refresh: the evaluation's record, then on training
        evaluate()
        model.train()

    def epoch():
        model.train()
        if mini:
            minibatch_epoch(model, optimizer, batches, 0, next(epochs), device, config.model, history,
                            write_history=case["history_writes"] == "batches", refresh=refresh,
                            refresh_every=case["history_refresh"])
        else:
            optimizer.zero_grad()
            F.cross_entropy(model(x, graph)[train], full.y[train]).backward()
            optimizer.step()

    epoch_s, epoch_cpu = median_s(epoch, case["repeats"], device)
    eval_s, _ = median_s(evaluate, 1, device)
    return {**case, "edges": full.edge_index.size(1), "make_s": make_s, "setup_s": setup_s, "epoch_s": epoch_s,
            "epoch_cpu_s": epoch_cpu, "eval_s": eval_s, "seeds_per_s": int(train.sum()) / epoch_s,
            "peak_gib": peak_memory_gib(device)}


def speed(args) -> None:
    print(f"torch {torch.__version__}, device {args.device}, {args.threads} thread(s); cSBM degree {args.degree}, "
          f"{args.features} features, phi {args.phi}; diag/bundle/general NSD d=3, hidden 16, 2 layers; "
          f"median of {args.repeats} epochs")
    print(f"{'nodes':>8} {'edges':>9} {'model':<8} {'mode':<18} {'setup s':>8} {'epoch s':>8} {'(cpu s)':>8} "
          f"{'seeds/s':>9} {'eval s':>7} {'peak GiB':>8}", flush=True)
    rows = []
    scratch = tempfile.TemporaryDirectory()
    for n in args.sizes:
        partition = str(Path(scratch.name) / f"parts_{n}.pt")
        if "mini" in args.modes and any(uses_partition(args.sampler, order) for order in orders(args)):
            data = load_node_dataset(csbm_spec(n, args.degree, args.features, args.phi))
            t0 = time.perf_counter()
            parts = metis_partition(data.edge_index, n, num_cluster_parts(n, args.batch_size))
            torch.save(parts, partition)
            print(f"{n:>8} {data.edge_index.size(1):>9} METIS partition into {int(parts.max()) + 1} parts: "
                  f"{time.perf_counter() - t0:.1f} s (once per graph; the mini-batch rows reuse it)", flush=True)
            del data
        for model in args.models:
            for mode, (order, writes) in [(mode, s) for mode in args.modes for s in speed_settings(args, mode)]:
                if mode == "full" and n > args.full_max:
                    continue
                history_row = mode == "mini" and args.sampler == "history"
                every = args.history_refresh if history_row else 0
                label = (f"mini/{order}" + ("/eval" if writes == "evaluation" else "") + (f"/r{every}" if every else "")
                         if history_row else mode)
                case = dict(n=n, degree=args.degree, features=args.features, phi=args.phi, model=model, mode=mode,
                            batch_size=args.batch_size, sampler=args.sampler, history_order=order,
                            history_writes=writes, history_refresh=every, device=args.device, threads=args.threads,
                            repeats=args.repeats, partition=partition)
                done = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True,
                                      text=True, cwd=Path(__file__).parent)
                if done.returncode != 0:
                    print(f"{n:>8} {'':>9} {model:<8} {label:<18} failed: {done.stderr.strip().splitlines()[-1:]}",
                          flush=True)
                    continue
                r = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append(r)
                print(f"{n:>8} {r['edges']:>9} {model:<8} {label:<18} {r['setup_s']:>8.2f} {r['epoch_s']:>8.2f} "
                      f"{r['epoch_cpu_s']:>8.2f} {r['seeds_per_s']:>9.0f} {r['eval_s']:>7.2f} "
                      f"{r['peak_gib']:>8.2f}", flush=True)
    for model in args.models:
        for order, writes in speed_settings(args, "mini"):
            pts = [(math.log(r["edges"]), math.log(r["epoch_s"])) for r in rows if r["model"] == model
                   and r["mode"] == "mini" and r["history_order"] == order and r["history_writes"] == writes]
            if len(pts) >= 2:
                mx, my = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
                slope = sum((a - mx) * (b - my) for a, b in pts) / sum((a - mx) ** 2 for a, _ in pts)
                which = f" ({order} order, {writes} writes)" if args.sampler == "history" else ""
                print(f"{model}: mini-batch{which} epoch time ~ edges^{slope:.2f} (log-log least squares over "
                      f"{len(pts)} sizes)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


LAYERS = 2   # diffusion layers of the accuracy runs; ``--hops`` defaults to them, as in nodecls


def history_label(order: str, writes: str, refresh: int) -> str:
    """How a history-batch run's history was kept, for the printed rows."""
    return f" {order} order, {writes} writes" + (f", refreshed every {refresh} batches" if refresh else "")


def accuracy(args) -> None:
    torch.set_num_threads(args.threads)
    fan = f", {'/'.join(map(str, args.num_neighbors))} neighbours per hop" if args.sampler == "neighbor" else ""
    by = f", {' or '.join(args.history_orders)} order" if args.sampler == "history" else ""
    print(f"accuracy, full batch vs mini-batch ({args.sampler} batches of {100 * args.batch_fraction:g}% of the "
          f"nodes{fan}{by}), splits 0-{args.folds - 1}; test at the best validation epoch")
    print(f"{'dataset':<22} {'model':<6} {'full':>13} {'mini':>13} {'mini - full':>11} {'edges/batch':>11}",
          flush=True)
    records = []        # every run of the grid with its per-split validation and test (--json)
    for name in args.datasets:
        data = load_node_dataset(name, args.root)
        batch = max(1, int(args.batch_fraction * data.num_nodes))
        means, chosen = {}, {}
        for mode, batch_size in (("full", None), ("mini", batch)):
            runs = []       # each mode's (learning rate, order, writes, refresh): the best mean validation accuracy
            grid = history_settings(args) if batch_size else [(NodeClsConfig.history_order,      # full batch: none
                                                                NodeClsConfig.history_writes,
                                                                NodeClsConfig.history_refresh)]
            for lr, (order, writes, refresh) in [(lr, o) for lr in args.lrs for o in grid]:
                config = NodeClsConfig(model=args.model, d=3, hidden=16, layers=LAYERS, epochs=args.epochs,
                                       patience=50, stop=args.stop, lr=lr, batch_size=batch_size,
                                       sampler=args.sampler, hops=args.hops, num_neighbors=args.num_neighbors,
                                       history_order=order, history_writes=writes, history_refresh=refresh)
                result = run_folds(data, config, folds=args.folds, device=args.device, show_progress=False)
                s, folds = result["summary"], result["folds"]
                runs.append((s["val_mean"], (lr, order, writes, refresh), s))
                records.append({"dataset": name, "mode": mode, "lr": lr, "order": order, "writes": writes,
                                "refresh": refresh, **{k: [f[k] for f in folds] for k in ("val", "test")}})
                if len(args.lrs) > 1 or (batch_size and len(grid) > 1):
                    which = history_label(order, writes, refresh) if batch_size and args.sampler == "history" else ""
                    print(f"  {name} {mode} lr {lr:g}{which}: validation {100 * s['val_mean']:.2f}", flush=True)
            _, chosen[mode], s = max(runs, key=lambda r: r[0])
            means[mode] = (100 * s["mean"], 100 * s["std"])
        batches = SubgraphBatches(data, args.sampler, batch, hops=args.hops or LAYERS, num_neighbors=args.num_neighbors,
                                  order=chosen["mini"][1])
        sizes = [b.edge_index.shape[1] for b in batches.epoch_batches(fold=0, epoch=0)]
        share = sum(sizes) / len(sizes) / data.edge_index.shape[1]
        (f, fs), (m, ms) = means["full"], means["mini"]
        full_lr, (mini_lr, *setting) = chosen["full"][0], chosen["mini"]
        which = history_label(*setting) if args.sampler == "history" else ""
        lrs = f" (lr full {full_lr:g}, mini {mini_lr:g}{which})"
        print(f"{name:<22} {args.model:<6} {f:>6.2f} ± {fs:<4.2f} {m:>6.2f} ± {ms:<4.2f} {m - f:>+11.2f} "
              f"{share:>11.1%}{lrs}", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(records, indent=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--degree", type=int, default=10)
    p.add_argument("--features", type=int, default=64)
    p.add_argument("--phi", type=float, default=-0.5)
    p.add_argument("--models", nargs="+", default=["diag", "bundle", "general"])
    p.add_argument("--batch-size", type=int, default=20_000)
    p.add_argument("--modes", nargs="+", default=["full", "mini"], choices=["full", "mini"])
    p.add_argument("--full-max", type=int, default=200_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None)
    p.add_argument("--accuracy", action="store_true")
    p.add_argument("--datasets", nargs="+", default=["csbm:n=20000", "chameleon", "squirrel", "film"])
    p.add_argument("--model", default="diag")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--sampler", default="cluster", choices=SAMPLERS)
    p.add_argument("--history-orders", nargs="+", default=[NodeClsConfig.history_order], choices=HISTORY_ORDERS)
    p.add_argument("--history-writes", nargs="+", default=[NodeClsConfig.history_writes], choices=HISTORY_WRITES)
    p.add_argument("--history-refreshes", type=int, nargs="+", default=[NodeClsConfig.history_refresh])
    p.add_argument("--history-refresh", type=int, default=NodeClsConfig.history_refresh)
    p.add_argument("--hops", type=int, default=None)
    p.add_argument("--num-neighbors", type=int, nargs="+", default=[10])
    p.add_argument("--batch-fraction", type=float, default=0.25)
    p.add_argument("--lrs", type=float, nargs="+", default=[NodeClsConfig.lr])
    p.add_argument("--stop", default=NodeClsConfig.stop, choices=STOP_STRATEGIES)
    p.add_argument("--root", default=None)
    args = p.parse_args()
    restart_without_thread_cache()
    keep_freed_memory()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
    elif args.accuracy:
        accuracy(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
