"""Speed of Neural Sheaf Diffusion: seconds per training epoch of each NSD variant, next to GCN in the same run,
and the end-to-end time of a 10-fold recipe.

    python benchmarks/nsd.py [--datasets chameleon squirrel film] [--models diag bundle general] [--d 3]
                             [--hidden 32] [--layers 4] [--threads 1] [--repeats 5] [--root /path/to/shared/data]
                             [--recipe texas] [--recipe-folds 10]

One training epoch = forward + backward + Adam step on the full graph (the features as ``sheafgraph nodecls``
feeds them: sparse CSR for these bag-of-words datasets); "eval" = one forward without gradients. The graph structure
is built once (as the runner does); its one-off cost is the "structure" column. Times are medians over repeats,
wall clock and (in parentheses) process CPU time, which a shared machine inflates less.
The recipe row runs ``sheafgraph nodecls --preset paper`` on the dataset (all folds by default) and reports the wall
time and the mean test accuracy.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from sheafgraph.data import load_node_dataset
from sheafgraph.ops import GraphStructure
from sheafgraph.tasks.nodecls import NodeClsConfig, build_model, model_features, resolve_config, run_folds


def median_s(fn, repeats: int):
    """Median wall-clock and process-CPU seconds of ``fn`` (CPU time is less sensitive to a shared machine)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def epoch_times(data, config: NodeClsConfig, graph: GraphStructure, repeats: int):
    torch.manual_seed(0)
    model = build_model(config, data.num_features, data.num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x = model_features(data.x, config.model)
    train = data.train_mask[:, 0]

    def step():
        model.train()
        optimizer.zero_grad()
        F.cross_entropy(model(x, graph)[train], data.y[train]).backward()
        optimizer.step()

    def evaluate():
        model.eval()
        with torch.no_grad():
            model(x, graph)

    return median_s(step, repeats), median_s(evaluate, repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["chameleon", "squirrel", "film"])
    p.add_argument("--models", nargs="+", default=["diag", "bundle", "general"])
    p.add_argument("--d", type=int, default=3)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--root", default=None, help="data root holding heterophily/ (default $SHEAFGRAPH_DATA)")
    p.add_argument("--recipe", default="texas", help="dataset of the end-to-end recipe row ('none' to skip)")
    p.add_argument("--recipe-folds", type=int, default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); d={args.d}, hidden={args.hidden}, "
          f"layers={args.layers}; median of {args.repeats}")
    print(f"{'dataset':<10} {'|V|':>6} {'|E|':>8} {'model':<8} {'epoch s':>8} {'(cpu s)':>8} {'eval s':>8} "
          f"{'GCN epoch s':>11} {'ratio':>6} {'structure s':>11}")
    for name in args.datasets:
        data = load_node_dataset(name, args.root)
        t0 = time.perf_counter()
        graph = GraphStructure(data.edge_index, data.num_nodes)
        graph.reverse_index(), graph.block_pattern()
        structure_s = time.perf_counter() - t0
        (gcn, _), _ = epoch_times(data, NodeClsConfig(model="gcn", hidden=64), graph, args.repeats)
        for model in args.models:
            config = NodeClsConfig(model=model, d=args.d, hidden=args.hidden, layers=args.layers)
            (train_s, train_cpu), (eval_s, _) = epoch_times(data, config, graph, args.repeats)
            print(f"{name:<10} {data.num_nodes:>6} {data.edge_index.size(1):>8} {model:<8} {train_s:>8.3f} "
                  f"{train_cpu:>8.3f} {eval_s:>8.3f} {gcn:>11.3f} {train_s / gcn:>6.1f} {structure_s:>11.3f}",
                  flush=True)
    if args.recipe != "none":
        config, source = resolve_config(args.recipe, "paper", {})
        data = load_node_dataset(args.recipe, args.root)
        t0 = time.perf_counter()
        result = run_folds(data, config, folds=args.recipe_folds, show_progress=False)
        s = result["summary"]
        print(f"recipe {args.recipe} ({source}): {s['folds']} folds, {time.perf_counter() - t0:.1f} s end to end, "
              f"{1e3 * s['seconds_per_epoch']:.1f} ms/epoch (train + eval), test accuracy "
              f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}")


if __name__ == "__main__":
    main()
