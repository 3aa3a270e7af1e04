"""Speed and quality of GDSS sampling on QM9 with the shipped checkpoint, for several samplers and step counts.

    python benchmarks/molgen.py [--checkpoint PATH] [--num 1000] [--threads 2]
                                [--configs s4:100 pc:100 dpm_solver:20 ...] [--no-metrics] [--root DATA]

Each config is ``sampler:steps``. For each: wall time of sampling ``--num`` molecules (atom counts drawn from the
training distribution; quantisation included, RDKit decoding and correction excluded), NFE, validity without
correction, and -- unless ``--no-metrics`` -- uniqueness, novelty, FCD and NSPDK MMD against the QM9 test split
(the metrics of ``sheafgraph molgen evaluate``). The last row of the table is GDSS's published QM9 result
(Jo et al., ICML 2022, Table 2: PC sampler, 1000 steps, reverse-diffusion predictor + Langevin corrector).
"""
from __future__ import annotations

import argparse

import torch

from sheafgraph.tasks.molgen import evaluate_smiles, load_generator, sample_molecules

PAPER = {"valid_without_correction": 0.9572, "uniqueness": 0.9846, "fcd": 2.900, "nspdk": 0.003}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", nargs="+",
                        default=["s4:50", "s4:100", "s4:200", "pc:100", "pc:200", "dpm_solver:10", "dpm_solver:20",
                                 "ode:20"])
    parser.add_argument("--no-metrics", action="store_true")
    parser.add_argument("--root", default=None, help="data root holding molecules/qm9 (for the metrics)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = load_generator(args.checkpoint)
    print(f"checkpoint epoch {gen.info.get('epoch')}, {args.num} molecules, {torch.get_num_threads()} threads")
    head = f"{'sampler':<12}{'steps':>6}{'NFE':>6}{'time s':>8}{'valid w/o corr':>16}"
    if not args.no_metrics:
        head += f"{'unique':>8}{'novel':>8}{'FCD':>8}{'NSPDK':>8}"
    print(head)
    for config in args.configs:
        name, steps = config.split(":")
        out = sample_molecules(gen, args.num, sampler=name, seed=args.seed, options={"steps": int(steps)})
        row = f"{name:<12}{steps:>6}{out.nfe:>6}{out.seconds:>8.1f}{out.valid_without_correction:>16.2%}"
        if not args.no_metrics:
            s = evaluate_smiles([x for x in out.smiles if x is not None], "qm9", root=args.root)
            row += f"{s['uniqueness']:>8.2%}{s['novelty']:>8.2%}{s['fcd']:>8.3f}{s['nspdk']:>8.4f}"
        print(row, flush=True)
    paper = f"{'GDSS paper':<12}{1000:>6}{2000:>6}{'':>8}{PAPER['valid_without_correction']:>16.2%}"
    if not args.no_metrics:
        paper += f"{PAPER['uniqueness']:>8.2%}{'':>8}{PAPER['fcd']:>8.3f}{PAPER['nspdk']:>8.4f}"
    print(paper)


if __name__ == "__main__":
    main()
