"""Node classification on the fixed splits: NSD models and MLP / GCN baselines, side by side.

Protocol: :mod:`sheafgraph.sheaf.training` (NSD's: best validation epoch per split, mean ± std over splits).
Options: :class:`sheafgraph.sheaf.recipes.NodeClsConfig`; ``--preset paper`` uses the published NSD hyperparameters
of the dataset, or for datasets without a published recipe our own (marked as such in the output).

Example: ``sheafgraph nodecls --dataset texas --model diag --folds 2 --epochs 100``.
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
from sheafgraph.utils import set_threads
from sheafgraph.utils.options import add_dataclass_flags, add_run_flags, describe, given, plain_text

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
    group = p.add_argument_group("model and training (default: the preset's, else the value shown)")
    p.set_defaults(func=run, config_flags=add_dataclass_flags(group, NodeClsConfig))


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    config, source = resolve_config(args.dataset, args.preset, given(args, args.config_flags))
    data = load_node_dataset(args.dataset, args.root)
    metric = getattr(data, "metric", "accuracy")
    print(f"{data.name}: {data.num_nodes} nodes, {data.edge_index.size(1)} directed edges, "
          f"{data.num_features} features, {data.num_classes} classes, edge homophily "
          f"{edge_homophily(data.edge_index, data.y):.3f}; metric {metric}", flush=True)
    print(f"model {config.model} ({source}): "
          + describe({k: v for k, v in dataclasses.asdict(config).items() if k != "model"}), flush=True)

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
