"""``sheafgraph molgen``: GDSS molecule generation (Jo, Lee, Hwang, ICML 2022) from the command line.

``sheafgraph molgen train --dataset qm9``, ``sheafgraph molgen sample --num 1000 --out mols.smi`` (the shipped
QM9 checkpoint by default) and ``sheafgraph molgen evaluate mols.smi --dataset qm9 --json scores.json``; the
pipeline itself is :mod:`sheafgraph.generative.molecules`.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, Optional, Sequence

from sheafgraph.data.molecules import load_qm9
from sheafgraph.data.paths import cache_dir
from sheafgraph.generative import SAMPLERS, get_sde
from sheafgraph.generative.molecules import (BOND_ENCODINGS, DEFAULT_GUIDANCE, DEFAULT_SAMPLER, PRETRAINED, QM9_SDE,
                                             draw_grid, export_checkpoint, load_generator, sample_molecules,
                                             train_generator)
from sheafgraph.generative.samplers import OPTION_HELP
from sheafgraph.metrics.molecules import fcd, novelty, nspdk_mmd, sanitized_mol, uniqueness, validity
from sheafgraph.utils import init_distributed, resolve_device, set_threads
from sheafgraph.utils.checks import MissingExtraError, positive_float, positive_int, writable_file
from sheafgraph.utils.options import add_option_flags, add_run_flags, check_outputs, given, plain_text

#: the subcommand's one-line help (read by :data:`sheafgraph.tasks.TASKS` without importing this module)
HELP = "GDSS molecule generation: train, sample, evaluate"


def evaluate_smiles(smiles: Sequence[Optional[str]], dataset: str = "qm9", root=None, cache=None,
                    device: str = "cpu") -> Dict[str, float]:
    """GDSS's molecule metrics of generated SMILES against ``dataset``: validity, uniqueness, novelty (vs the
    training split), FCD and NSPDK MMD (vs the test split), the last four on the valid molecules. The test split's
    ChemNet statistics are cached in :func:`sheafgraph.data.paths.cache_dir` (``cache``) after the first call.

    Raises:
        MissingExtraError: FCD's package is not installed; ``.partial`` holds the other scores (``fcd`` None).
    """
    if dataset != "qm9":
        raise ValueError(f"molgen evaluates against 'qm9' only, got {dataset!r}")
    splits = load_qm9(root, check_smiles=False)
    valid = [m for m in map(sanitized_mol, smiles) if m is not None]
    if len(valid) < 2:
        raise ValueError(f"need at least 2 valid molecules to evaluate, got {len(valid)} of {len(smiles)}")
    test = [sanitized_mol(s) for s in splits.test]
    scores = {"num": len(smiles), "validity": validity(list(smiles)), "uniqueness": uniqueness(valid),
              "novelty": novelty(valid, splits.train), "nspdk": nspdk_mmd(valid, test)}
    try:
        scores["fcd"] = fcd(valid, test, cache_dir=cache_dir(cache), device=device)
    except ImportError as err:
        raise MissingExtraError(str(err), partial={**scores, "fcd": None}) from None
    return scores


# ---------------------------------------------------------------- command line
def add_subcommand(subparsers) -> None:
    parser = subparsers.add_parser("molgen", help=HELP,
                                   description=plain_text(__doc__))
    sub = parser.add_subparsers(dest="molgen_command", metavar="{train,sample,evaluate}", required=True)

    train = sub.add_parser("train", help="train GDSS on a molecule dataset (resumable)")
    train.add_argument("--dataset", default="qm9", choices=["qm9"], help="training molecules (default %(default)s)")
    train.add_argument("--root", default=None, help="data root (default: $SHEAFGRAPH_DATA or datasets/)")
    train.add_argument("--checkpoint", default="runs/gdss/last.pt",
                       help="checkpoint written every epoch and resumed from (default %(default)s)")
    train.add_argument("--export", default=None, help="also write a small sampling-only checkpoint here")
    train.add_argument("--epochs", type=int, default=300,
                       help="total epochs, resumed ones included (default %(default)s)")
    train.add_argument("--batch-size", type=int, default=1024, help="molecules per batch (default %(default)s)")
    train.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate (default %(default)s)")
    train.add_argument("--sde-x", default="ve", help="SDE for node features: ve, vp or subvp (default %(default)s)")
    train.add_argument("--sde-adj", default="ve", help="SDE for the adjacency: ve, vp or subvp (default %(default)s)")
    train.add_argument("--time-conditioning", action="store_true", help="feed t to the score networks")
    train.add_argument("--bonds", default="kekule", choices=BOND_ENCODINGS,
                       help="bond encoding of a new run: kekule (GDSS's kekulised bond orders), aromatic (aromatic "
                            "bonds kept at order 1.5) or categorical (those bond orders as one adjacency channel per "
                            "bond type) (default %(default)s)")
    train.add_argument("--no-resume", action="store_true", help="start over even if the checkpoint exists")
    train.add_argument("--resume-lr", type=float, default=None,
                       help="when resuming, continue with this learning rate instead of the saved one (to anneal)")
    add_run_flags(train, json_help="write the loss history and checkpoint path as JSON here",
                  seed_help="initialisation, shuffles and noise",
                  device_help="; under torchrun --nproc_per_node P: P data-parallel processes")
    train.set_defaults(func=run_train)

    sample = sub.add_parser("sample", help="sample molecules to a SMILES file")
    sample.add_argument("--checkpoint", default=None, help=f"default: the shipped model {PRETRAINED.name}")
    sample.add_argument("--num", type=int, default=1000, help="molecules to sample (default %(default)s)")
    sample.add_argument("--out", default="runs/mols.smi", help="SMILES file to write (default %(default)s)")
    sample.add_argument("--sampler", default=DEFAULT_SAMPLER["sampler"],
                        help=f"sampler: {', '.join(SAMPLERS)} (default %(default)s); its options below")
    chosen = ", ".join(f"{k} {v}" for k, v in DEFAULT_SAMPLER.items() if k not in ("sampler", "steps"))
    add_option_flags(sample.add_argument_group(f"sampler options (default: the sampler's own; the default sampler "
                                               f"{DEFAULT_SAMPLER['sampler']} takes {chosen})"), SAMPLERS,
                     OPTION_HELP, {"steps": f"default {DEFAULT_SAMPLER['steps']} for every sampler"})
    guidance = sample.add_argument_group("valence guidance (sheafgraph.generative.guidance; any sampler)")
    guidance.add_argument("--valence-guidance", type=float, default=None, metavar="STRENGTH",
                          help=f"push bonds at over-valent atoms down while sampling; 0 = off "
                               f"(default {DEFAULT_GUIDANCE['strength']:g})")
    guidance.add_argument("--guidance-start", type=float, default=None, metavar="T",
                          help=f"guide only while t <= T, in (0, 1] (default {DEFAULT_GUIDANCE['start']:g})")
    sample.add_argument("--batch-size", type=int, default=1000, help="graphs sampled at once (default %(default)s)")
    sample.add_argument("--num-atoms", type=int, default=None, help="fixed heavy-atom count (default: drawn)")
    sample.add_argument("--png", default=None, help="also draw a grid of the first molecules to this PNG")
    add_run_flags(sample, json_help="write sampling statistics (validity w/o correction, time)",
                  seed_help="atom counts and noise", device="cpu",
                  device_help=": the same samples for a seed on every machine")
    sample.set_defaults(func=run_sample)

    evaluate = sub.add_parser("evaluate", help="validity, uniqueness, novelty, FCD, NSPDK of a SMILES file")
    evaluate.add_argument("smiles", help="file with one SMILES per line")
    evaluate.add_argument("--dataset", default="qm9", choices=["qm9"], help="reference molecules (default %(default)s)")
    evaluate.add_argument("--root", default=None, help="data root (default: $SHEAFGRAPH_DATA or datasets/)")
    evaluate.add_argument("--json", default=None, help="write the scores here")
    evaluate.add_argument("--cache", default=None, help="where the test split's ChemNet statistics are kept "
                                                        "(default: $SHEAFGRAPH_CACHE or ~/.cache/sheafgraph)")
    evaluate.add_argument("--device", default="cpu", help="where FCD's ChemNet runs: cpu, cuda or auto (default cpu)")
    evaluate.set_defaults(func=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    positive_int(args.epochs, "--epochs"), positive_int(args.batch_size, "--batch-size")
    positive_float(args.lr, "--lr")
    if args.resume_lr is not None:
        positive_float(args.resume_lr, "--resume-lr")
    check_outputs(args, "checkpoint", "export", "json")
    sde_config = {"x": {**QM9_SDE["x"], "name": args.sde_x}, "adj": {**QM9_SDE["adj"], "name": args.sde_adj}}
    for part in sde_config.values():  # VP-type SDEs take betas; keep GDSS's ZINC250k betas (0.1, 1.0)
        if part["name"] != "ve":
            part.pop("sigma_min"), part.pop("sigma_max")
            part.update(beta_min=0.1, beta_max=1.0)
        get_sde(**part)
    context = init_distributed(resolve_device(args.device))
    state = train_generator(args.dataset, checkpoint=args.checkpoint, root=args.root, epochs=args.epochs,
                            batch_size=args.batch_size, lr=args.lr, sde_config=sde_config,
                            time_conditioning=args.time_conditioning, bonds=args.bonds, seed=args.seed,
                            resume=not args.no_resume, resume_lr=args.resume_lr, device=context.device,
                            show_progress=None if context.is_main else False,
                            log=context.log)
    if args.export and context.is_main:
        export_checkpoint(args.checkpoint, args.export)
        print(f"exported {args.export} (epoch {state['epoch']})")
    if context.is_main:
        print(f"checkpoint: {args.checkpoint} (epoch {state['epoch']}); sample from it with "
              f"sheafgraph molgen sample --checkpoint {args.export or args.checkpoint}")
        if args.json:
            Path(args.json).write_text(json.dumps({"checkpoint": str(args.checkpoint), "export": args.export,
                                                   "epoch": state["epoch"], "history": state["history"]}, indent=1))
    return 0


def run_sample(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    check_outputs(args, "out", "png", "json")
    gen = load_generator(args.checkpoint, resolve_device(args.device))
    out = sample_molecules(gen, args.num, sampler=args.sampler, batch_size=args.batch_size, seed=args.seed,
                           num_atoms=args.num_atoms, options=given(args, OPTION_HELP),
                           guidance={k: v for k, v in (("strength", args.valence_guidance),
                                                       ("start", args.guidance_start)) if v is not None})
    path = Path(args.out)
    path.write_text("".join(f"{s}\n" for s in out.smiles if s is not None))
    stats = {"num": args.num, "sampler": args.sampler, **out.options, "nfe": out.nfe,
             "seconds": round(out.seconds, 2), "valid_without_correction": out.valid_without_correction,
             "written": sum(s is not None for s in out.smiles)}
    print(f"{stats['written']} molecules -> {path}; validity w/o correction {out.valid_without_correction:.2%}; "
          f"{out.nfe} NFE, {out.seconds:.1f} s")
    if args.png:
        print(f"grid -> {draw_grid(out.mols, args.png)}")
    if args.json:
        Path(args.json).write_text(json.dumps(stats, indent=2))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    path = Path(args.smiles)
    if not path.is_file():
        raise FileNotFoundError(f"SMILES file not found: {path}")
    smiles = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if not smiles:
        raise ValueError(f"{path} holds no SMILES")
    out = writable_file(args.json, "--json") if args.json else None
    try:
        scores = evaluate_smiles(smiles, args.dataset, root=args.root, cache=args.cache,
                                 device=str(resolve_device(args.device)))
        missing = None
    except MissingExtraError as err:
        scores, missing = err.partial, err
    for name, value in scores.items():
        print(f"{name:>12}: {value:.4f}" if isinstance(value, float) else f"{name:>12}: {value}")
    if out is not None:
        out.write_text(json.dumps(scores, indent=2))
    if missing is not None:
        raise missing
    return 0
