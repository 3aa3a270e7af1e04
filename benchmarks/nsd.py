"""Speed of Neural Sheaf Diffusion: seconds per training epoch of each NSD variant, next to GCN in the same run,
and the end-to-end time of a 10-fold recipe.

    python benchmarks/nsd.py [--datasets chameleon squirrel film] [--models diag bundle general] [--d 3]
                             [--hidden 32] [--layers 4] [--threads 1] [--repeats 5] [--root /path/to/shared/data]
                             [--recipe texas] [--recipe-folds 10] [--device cpu|cuda]
                             [--synthetic 1000000] [--synthetic-degree 20] [--synthetic-features 64] [--compile]

One training epoch = forward + backward + Adam step on the full graph (the features as ``sheafgraph nodecls``
feeds them: sparse CSR for these bag-of-words datasets); "eval" = one forward without gradients. The graph structure
is built once (as the runner does); its one-off cost is the "structure" column. Times are medians over repeats,
wall clock and (in parentheses) process CPU time, which a shared machine inflates less.
``--synthetic N`` adds rows on a random graph of N nodes (about ``--synthetic-degree`` directed edges per node,
random features and labels: a speed and memory probe, not a dataset) with the peak memory of the epoch (device
memory on a GPU; on CPU the process's peak resident memory so far, so these rows come last).
``--compile`` adds, per dataset and model, the epoch time of ``torch.compile(model)`` (inductor; dense features, as
the compiler has no sparse tensors) next to eager mode with the same dense features, and the one-off compile time.
The recipe row runs ``sheafgraph nodecls --preset paper`` on the dataset (all folds by default) and reports the wall
time and the mean test accuracy.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from timing import median_s, peak_memory_gib, random_graph, reset_peak_memory
from torch_geometric.data import Data

from sheafgraph.data import load_node_dataset
from sheafgraph.ops import GraphStructure
from sheafgraph.sheaf import NodeClsConfig, build_model, model_features, resolve_config, run_folds
from sheafgraph.utils import resolve_device


def synthetic_graph(n: int, degree: int, features: int, classes: int = 5, seed: int = 0) -> Data:
    """A random graph with random features and labels (speed and memory only) and a 50% training mask."""
    g = torch.Generator().manual_seed(seed)
    return Data(x=torch.randn(n, features, generator=g), edge_index=random_graph(n, degree, seed),
                y=torch.randint(0, classes, (n,), generator=g), train_mask=torch.rand(n, 1, generator=g) < 0.5,
                num_nodes=n)


def epoch_times(data, config: NodeClsConfig, graph: GraphStructure, repeats: int, device: torch.device,
                dense: bool = False, compile_model: bool = False):
    """Median (wall, cpu) seconds of a training epoch and of an evaluation, with the features as the runner feeds
    them or ``dense``; ``compile_model``: of ``torch.compile(model)`` (the first, compiling, call is the warm-up)."""
    torch.manual_seed(0)
    model = build_model(config, data.num_features, int(data.y.max()) + 1).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x = data.x.to(device) if dense else model_features(data.x, config.model).to(device)
    train = data.train_mask[:, 0].to(device)
    y = data.y.to(device)

    run = model
    if compile_model:
        model(x, graph)                                  # builds the structure's caches outside the trace
        run = torch.compile(model)

    def step():
        model.train()
        optimizer.zero_grad()
        F.cross_entropy(run(x, graph)[train], y[train]).backward()
        optimizer.step()

    def evaluate():
        model.eval()
        with torch.no_grad():
            run(x, graph)

    return median_s(step, repeats, device), median_s(evaluate, repeats, device)


def structure_of(data, device: torch.device):
    """The graph structure with its caches built (as the runner does once per dataset) and the seconds it took."""
    t0 = time.perf_counter()
    graph = GraphStructure(data.edge_index.to(device), data.num_nodes)
    graph.reverse_index(), graph.block_pattern()
    return graph, time.perf_counter() - t0


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
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default %(default)s)")
    p.add_argument("--synthetic", type=int, default=0, help="nodes of the synthetic rows (default 0: none)")
    p.add_argument("--synthetic-degree", type=int, default=20)
    p.add_argument("--synthetic-features", type=int, default=64)
    p.add_argument("--compile", action="store_true", help="add torch.compile rows (dense features)")
    args = p.parse_args()
    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} thread(s)"
    print(f"torch {torch.__version__}, {where}; d={args.d}, hidden={args.hidden}, "
          f"layers={args.layers}; median of {args.repeats}")
    print(f"{'dataset':<10} {'|V|':>6} {'|E|':>8} {'model':<8} {'epoch s':>8} {'(cpu s)':>8} {'eval s':>8} "
          f"{'GCN epoch s':>11} {'ratio':>6} {'structure s':>11}")
    for name in args.datasets:
        data = load_node_dataset(name, args.root)
        graph, structure_s = structure_of(data, device)
        (gcn, _), _ = epoch_times(data, NodeClsConfig(model="gcn", hidden=64), graph, args.repeats, device)
        for model in args.models:
            config = NodeClsConfig(model=model, d=args.d, hidden=args.hidden, layers=args.layers)
            (train_s, train_cpu), (eval_s, _) = epoch_times(data, config, graph, args.repeats, device)
            print(f"{name:<10} {data.num_nodes:>6} {data.edge_index.size(1):>8} {model:<8} {train_s:>8.3f} "
                  f"{train_cpu:>8.3f} {eval_s:>8.3f} {gcn:>11.3f} {train_s / gcn:>6.1f} {structure_s:>11.3f}",
                  flush=True)
            if args.compile:
                (dense_s, _), _ = epoch_times(data, config, graph, args.repeats, device, dense=True)
                t0 = time.perf_counter()
                (compiled_s, _), (compiled_eval, _) = epoch_times(data, config, graph, args.repeats, device,
                                                                  dense=True, compile_model=True)
                print(f"{'':<10} {'':>6} {'':>8} {'compiled':<8} {compiled_s:>8.3f} {'':>8} {compiled_eval:>8.3f}  "
                      f"eager on dense features {dense_s:.3f} s, speed-up {dense_s / compiled_s:.2f}x, compile + "
                      f"timing {time.perf_counter() - t0:.0f} s", flush=True)
    if args.synthetic:
        data = synthetic_graph(args.synthetic, args.synthetic_degree, args.synthetic_features)
        graph, structure_s = structure_of(data, device)
        print(f"synthetic: {data.num_nodes} nodes, {data.edge_index.size(1)} directed edges, "
              f"{args.synthetic_features} features; structure {structure_s:.2f} s")
        print(f"{'model':<8} {'epoch s':>8} {'(cpu s)':>8} {'eval s':>8} {'peak GiB':>9}")
        for model in ["gcn"] + args.models:
            config = NodeClsConfig(model=model, d=args.d, hidden=64 if model == "gcn" else args.hidden,
                                   layers=args.layers)
            reset_peak_memory(device)
            (train_s, train_cpu), (eval_s, _) = epoch_times(data, config, graph, min(args.repeats, 3), device)
            print(f"{model:<8} {train_s:>8.3f} {train_cpu:>8.3f} {eval_s:>8.3f} {peak_memory_gib(device):>9.2f}",
                  flush=True)
    if args.recipe != "none":
        config, source = resolve_config(args.recipe, "paper", {})
        data = load_node_dataset(args.recipe, args.root)
        t0 = time.perf_counter()
        result = run_folds(data, config, folds=args.recipe_folds, device=str(device), show_progress=False)
        s = result["summary"]
        print(f"recipe {args.recipe} ({source}): {s['folds']} folds, {time.perf_counter() - t0:.1f} s end to end, "
              f"{1e3 * s['seconds_per_epoch']:.1f} ms/epoch (train + eval), test accuracy "
              f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}")


if __name__ == "__main__":
    main()
