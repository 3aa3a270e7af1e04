"""Node classification on the fixed splits: NSD models and MLP / GCN baselines, side by side.

Protocol: :mod:`sheafgraph.sheaf.training` (NSD's: best validation epoch per split, mean ± std over splits).
Options: :class:`sheafgraph.sheaf.recipes.NodeClsConfig`; ``--preset paper`` uses the published NSD hyperparameters
of the dataset, or for datasets without a published recipe our own (marked as such in the output).

Example: ``sheafgraph nodecls --dataset texas --model diag --folds 2 --epochs 100``.

Data-parallel: ``torchrun --nproc_per_node P -m sheafgraph.cli nodecls ...`` trains each split's model on P processes
(DDP; Gloo on CPU, NCCL with one GPU per process on CUDA): with ``--batch-size`` each process trains on its share of
the subgraph batches (what divides the work), in full batch on its share of the training nodes (same gradient, no faster);
process 0 evaluates, decides when to stop, prints and writes the files; the others print nothing.

Resumable: ``--checkpoint ck.pt`` saves the run after every epoch (atomically); after an interruption the same
command with ``--resume`` continues it and ends with the results an uninterrupted run gives. A checkpoint of other
data, options, seed, splits or number of processes is refused.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from sheafgraph.data import load_node_dataset
from sheafgraph.metrics.homophily import edge_homophily
from sheafgraph.sheaf.recipes import OWN_PRESETS, PAPER_PRESETS, PRESETS, NodeClsConfig, resolve_config
from sheafgraph.sheaf.training import FoldResult, run_folds
from sheafgraph.utils import init_distributed, resolve_device, set_threads
from sheafgraph.utils.options import add_dataclass_flags, add_run_flags, check_outputs, describe, given, plain_text

#: the subcommand's one-line help (read by :data:`sheafgraph.tasks.TASKS` without importing this module)
HELP = "node classification: NSD models and MLP/GCN baselines on 10 splits"


def add_subcommand(subparsers) -> None:
    p = subparsers.add_parser("nodecls", help=HELP, description=plain_text(__doc__),
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True,
                   help="dataset name (e.g. texas, wisconsin, cornell, chameleon), or a generated cSBM graph "
                        "csbm:key=value,... (keys n, f, d, phi, eps, seed, splits; e.g. csbm:n=20000,phi=-0.5)")
    p.add_argument("--preset", default="none", choices=PRESETS,
                   help=f"'paper': the published NSD hyperparameters ({', '.join(PAPER_PRESETS)}) or our own where "
                        f"none are published ({', '.join(OWN_PRESETS)}); flags still override (default none)")
    p.add_argument("--folds", type=int, default=None, help="run K splits (default all from --first-fold on)")
    p.add_argument("--first-fold", type=int, default=0,
                   help="index of the first split to run (default 0; lets several processes share the splits)")
    p.add_argument("--root", default=None, help="data root (default $SHEAFGRAPH_DATA, else the project's datasets/)")
    add_run_flags(p, json_help="write per-fold and summary results as JSON here",
                  seed_help="the splits' runs: split k gets seed + k")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--checkpoint", default=None,
                   help="save the run here after every epoch (model, optimiser, early stopping, finished splits, "
                        "generator states), to continue it with --resume")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in --checkpoint (same dataset, options, seed, splits, processes)")
    group = p.add_argument_group("model and training (default: the preset's, else the value shown)")
    p.set_defaults(func=run, config_flags=add_dataclass_flags(group, NodeClsConfig))


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    check_outputs(args, "json", "checkpoint")
    config, source = resolve_config(args.dataset, args.preset, given(args, args.config_flags))
    context = init_distributed(resolve_device(args.device))
    say = context.log
    data = load_node_dataset(args.dataset, args.root)
    metric = getattr(data, "metric", "accuracy")
    say(f"{data.name}: {data.num_nodes} nodes, {data.edge_index.size(1)} directed edges, "
        f"{data.num_features} features, {data.num_classes} classes, edge homophily "
        f"{edge_homophily(data.edge_index, data.y):.3f}; metric {metric}", flush=True)
    say(f"model {config.model} ({source}): "
        + describe({k: v for k, v in dataclasses.asdict(config).items() if k != "model"})
        + (f"; {context.world_size} processes (DDP)" if context.world_size > 1 else ""), flush=True)

    def report(r: FoldResult) -> None:
        print(f"fold {r.fold}: test {100 * r.test:.2f}  val {100 * r.val:.2f}  best epoch {r.best_epoch}/{r.epochs}"
              f"  {r.seconds:.1f} s", flush=True)

    result = run_folds(data, config, folds=args.folds, first_fold=args.first_fold, seed=args.seed,
                       device=str(context.device), show_progress=False if args.no_progress else None, on_fold=report,
                       checkpoint=args.checkpoint, resume=args.resume)
    s = result["summary"]
    say(f"{data.name} {config.model}: test {metric} {100 * s['mean']:.2f} ± {100 * s['std']:.2f} over "
        f"{s['folds']} fold(s) (val {100 * s['val_mean']:.2f}; {s['seconds']:.1f} s, "
        f"{1e3 * s['seconds_per_epoch']:.1f} ms/epoch)")
    if args.json and context.is_main:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1))
        print(f"results: {path}")
    return 0
