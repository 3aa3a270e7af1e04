"""Generic graph generation with GDSS (Jo, Lee, Hwang, ICML 2022, Table 1): train, sample, evaluate.

``sheafgraph graphgen train --dataset ego_small`` (GDSS's configuration for the dataset), ``sheafgraph graphgen
sample --dataset ego_small --out graphs.json --png graphs.png`` (the shipped checkpoint by default) and
``sheafgraph graphgen evaluate graphs.json`` (degree / clustering / orbit MMD against the test split, printed next
to GDSS's published numbers). The family logic is :mod:`sheafgraph.generative.graph_generation`.
"""
from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path
from typing import Dict, Optional, Tuple

from sheafgraph.data.generic_graphs import generic_graph_spec, graphs_to_dense, load_generic_graphs
from sheafgraph.generative import SAMPLERS, Graphs
from sheafgraph.generative.samplers import OPTION_HELP
from sheafgraph.generative.graph_generation import (PRESETS, WEIGHTS, dataset_key, draw_graphs,
                                                    export_graph_generator, load_graph_generator, load_graphs,
                                                    sample_graphs, save_graphs, train_graph_generator,
                                                    without_isolated_nodes)
from sheafgraph.metrics.graph_mmd import graph_mmd
from sheafgraph.metrics.graph_statistics import STATISTICS, graph_statistics
from sheafgraph.utils import init_distributed, progress, resolve_device, set_threads
from sheafgraph.utils.checks import positive_int, writable_file
from sheafgraph.utils.options import add_option_flags, add_run_flags, check_outputs, given, plain_text

#: the subcommand's one-line help (read by :data:`sheafgraph.tasks.TASKS` without importing this module)
HELP = "GDSS generic graph generation (ego_small, community_small, ENZYMES, grid): train, sample, evaluate"

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
#: GDSS's Table 1 (degree / clustering / orbit MMD on the test split)
PUBLISHED_MMD: Dict[str, Dict[str, float]] = {
    "ego_small": {"degree": 0.021, "clustering": 0.024, "orbit": 0.007},
    "community_small": {"degree": 0.045, "clustering": 0.086, "orbit": 0.007},
    "ENZYMES": {"degree": 0.026, "clustering": 0.061, "orbit": 0.009},
    "grid": {"degree": 0.111, "clustering": 0.005, "orbit": 0.070},
}


def pretrained_path(dataset: str) -> Path:
    """The shipped checkpoint of a dataset (``sheafgraph/pretrained/gdss_<dataset>.pt``)."""
    return PRETRAINED_DIR / f"gdss_{dataset_key(dataset).lower()}.pt"


def training_graphs(dataset: str, root=None, limit: Optional[int] = None):
    """GDSS's dense training graphs of ``dataset`` (the first ``limit`` of them when given) and the test-split
    size."""
    splits = load_generic_graphs(dataset, root)
    spec = generic_graph_spec(dataset)
    train = splits.train if limit is None else splits.train[:limit]
    dense = graphs_to_dense(train, spec.max_nodes, spec.degree_classes)
    return Graphs(dense.x, dense.adj, dense.mask.float()), len(splits.test)


def evaluate_graphs(graphs, dataset: str, root=None, reference: str = "test"
                    ) -> Tuple[Dict[str, float], Dict[str, Dict[str, float]]]:
    """Degree / clustering / orbit MMD of ``graphs`` (isolated nodes removed first, as GDSS) against the
    ``reference`` split (``"test"``, or ``"train"`` for choices that must not see the test split), and the
    :func:`~sheafgraph.metrics.graph_statistics.graph_statistics` of both sets (keys ``"samples"`` and
    ``reference``)."""
    if reference not in ("test", "train"):
        raise ValueError(f"reference must be 'test' or 'train', got {reference!r}")
    reference_graphs = getattr(load_generic_graphs(dataset, root), reference)
    samples = without_isolated_nodes(graphs)
    statistics = {"samples": graph_statistics(samples), reference: graph_statistics(reference_graphs)}
    return graph_mmd(reference_graphs, samples), statistics


# ---------------------------------------------------------------- command line
def add_subcommand(subparsers) -> None:
    parser = subparsers.add_parser("graphgen", help=HELP, description=plain_text(__doc__))
    sub = parser.add_subparsers(dest="graphgen_command", metavar="{train,sample,evaluate}", required=True)
    names = ", ".join(PRESETS)

    train = sub.add_parser("train", help="train GDSS on a generic-graph dataset (resumable)")
    train.add_argument("--dataset", default="ego_small", help=f"one of {names} (default: %(default)s)")
    train.add_argument("--root", default=None, help="data root (default: $SHEAFGRAPH_DATA or datasets/)")
    train.add_argument("--checkpoint", default=None, help="checkpoint written every epoch "
                                                          "(default: runs/graphgen/<dataset>/last.pt)")
    train.add_argument("--export", default=None, help="also write a small sampling-only checkpoint here")
    train.add_argument("--epochs", type=int, default=None, help="total epochs (default: GDSS's, 5000)")
    train.add_argument("--batch-size", type=int, default=None, help="default: GDSS's for the dataset")
    train.add_argument("--lr", type=float, default=None, help="default: GDSS's, 0.01")
    train.add_argument("--limit", type=int, default=None,
                       help="train on the first LIMIT training graphs only (quick trials)")
    train.add_argument("--no-resume", action="store_true", help="start over even if the checkpoint exists")
    add_run_flags(train, json_help="write the loss history and checkpoint path as JSON here",
                  seed_help="initialisation, shuffles and noise")
    train.set_defaults(func=run_train)

    sample = sub.add_parser("sample", help="sample graphs to a JSON edge-list file (and a PNG)")
    sample.add_argument("--dataset", default="ego_small",
                        help=f"whose shipped checkpoint to use: one of {names} (default: %(default)s)")
    sample.add_argument("--checkpoint", default=None, help="a trained checkpoint instead of the shipped one")
    sample.add_argument("--num", type=int, default=None, help="graphs to sample (default: as many as the test "
                                                              "split, as GDSS evaluates)")
    sample.add_argument("--out", default="runs/graphs.json", help="the sampled graphs as JSON edge lists (default: "
                                                                  "%(default)s)")
    sample.add_argument("--png", default=None, help="also draw the first 16 graphs to this PNG")
    sample.add_argument("--sampler", default=None, help=f"one of {', '.join(SAMPLERS)} (default: the checkpoint's)")
    add_option_flags(sample.add_argument_group("sampler options (default: the checkpoint's sampler settings)"),
                     SAMPLERS, OPTION_HELP, {"steps": "default: the checkpoint's, 1000"})
    sample.add_argument("--weights", default=None, choices=WEIGHTS, help="EMA or raw weights (default: the "
                                                                         "checkpoint's)")
    sample.add_argument("--batch-size", type=int, default=1000, help="graphs per sampling batch (default: 1000)")
    add_run_flags(sample, json_help="write sampling statistics here", seed_help="node counts and noise",
                  device="cpu", device_help=": the same graphs for a seed on every machine")
    sample.set_defaults(func=run_sample)

    evaluate = sub.add_parser("evaluate", help="degree / clustering / orbit MMD of a graph file")
    evaluate.add_argument("graphs", help="a JSON file written by `graphgen sample`")
    evaluate.add_argument("--dataset", default=None, help="default: the one named in the file")
    evaluate.add_argument("--reference", default="test", choices=("test", "train"),
                          help="the split to compare with (default: test; train: for choices that must not see "
                               "the test split)")
    evaluate.add_argument("--root", default=None, help="data root (default: $SHEAFGRAPH_DATA or datasets/)")
    evaluate.add_argument("--json", default=None, help="write the scores here")
    evaluate.set_defaults(func=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    dataset = dataset_key(args.dataset)
    if args.limit is not None:
        positive_int(args.limit, "--limit")
    checkpoint = writable_file(args.checkpoint or f"runs/graphgen/{dataset}/last.pt", "--checkpoint")
    check_outputs(args, "export", "json")
    context = init_distributed(resolve_device(args.device))
    log = context.log
    data, num_test = training_graphs(dataset, args.root, args.limit)
    log(f"{dataset}: {data.x.shape[0]} training graphs, up to {data.x.shape[1]} nodes, {data.x.shape[2]} degree "
        f"classes" + (f"; {context.world_size} processes" if context.world_size > 1 else ""))
    state = train_graph_generator(data, dataset, checkpoint, epochs=args.epochs, batch_size=args.batch_size,
                                  lr=args.lr, seed=args.seed, resume=not args.no_resume, device=context.device,
                                  extra={"num_test": num_test}, log=log,
                                  progress=partial(progress, enabled=None if context.is_main else False))
    if not context.is_main:
        return 0
    if args.export:
        export_graph_generator(checkpoint, args.export)
        print(f"exported {args.export} (epoch {state['epoch']})")
    print(f"checkpoint: {checkpoint} (epoch {state['epoch']})")
    if args.json:
        Path(args.json).write_text(json.dumps({"checkpoint": str(checkpoint), "epoch": state["epoch"],
                                               "history": state["history"]}, indent=1))
    return 0


def run_sample(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    check_outputs(args, "out", "png", "json")
    checkpoint = args.checkpoint or pretrained_path(args.dataset)
    gen = load_graph_generator(checkpoint, resolve_device(args.device), weights=args.weights)
    num = args.num if args.num is not None else gen.info.get("num_test")
    if num is None:
        raise ValueError(f"{checkpoint} does not say how large the test split is; pass --num")
    out = sample_graphs(gen, num, seed=args.seed, batch_size=args.batch_size,
                        options=given(args, ["sampler", *OPTION_HELP]))
    meta = {"name": gen.dataset, "checkpoint": str(checkpoint), "seed": args.seed, "sampling": out.sampling}
    path = save_graphs(out.graphs, args.out, **meta)
    edges = sum(g.number_of_edges() for g in out.graphs) / len(out.graphs)
    print(f"{len(out.graphs)} {gen.dataset} graphs -> {path} (mean {edges:.1f} edges); {out.nfe} NFE, "
          f"{out.seconds:.1f} s; {out.sampling}")
    if args.png:
        title = f"GDSS {gen.dataset}, seed {args.seed} (isolated nodes removed)"
        print(f"pictures -> {draw_graphs(without_isolated_nodes(out.graphs), args.png, title=title)}")
    if args.json:
        stats = {**meta, "num": len(out.graphs), "nfe": out.nfe, "seconds": round(out.seconds, 2)}
        Path(args.json).write_text(json.dumps(stats, indent=2))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    check_outputs(args, "json")
    content = load_graphs(args.graphs)
    dataset = dataset_key(args.dataset or content.get("name", ""))
    scores, statistics = evaluate_graphs(content["graphs"], dataset, args.root, args.reference)
    published = PUBLISHED_MMD[dataset]
    print(f"{dataset}: {len(content['graphs'])} graphs of {args.graphs} vs the {args.reference} split "
          f"(MMD^2, GDSS's kernels; isolated nodes removed)")
    print(f"{'':>12} {'ours':>8} {'GDSS, test':>11}")       # the paper's numbers are against its test split
    for name, value in scores.items():
        print(f"{name:>12} {value:8.4f} {published[name]:11.3f}")
    print(f"{'mean per graph':>20} {'samples':>12} {args.reference + ' split':>12}")
    for key, label in STATISTICS.items():
        print(f"{label:>20} {statistics['samples'][key]:12.3f} {statistics[args.reference][key]:12.3f}")
    if args.json:
        record = {"dataset": dataset, "graphs": str(args.graphs), "num": len(content["graphs"]),
                  "reference": args.reference, **scores, "published": published, "statistics": statistics}
        Path(args.json).write_text(json.dumps(record, indent=2))
    return 0
