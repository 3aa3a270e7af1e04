"""Dropout forward and forward + backward: torch's kernel against :func:`sheafgraph.ops.dropout.dropout`, median
milliseconds and their ratio, measured in the same run.

    python benchmarks/dropout.py [--rows 20000 137000 750000] [--cols 48] [--p 0.5] [--repeats 7] [--threads 1]
                                 [--device cpu|cuda]

The default shapes are the (nodes, d x hidden) inputs of a diag NSD layer (d = 3, hidden 16) in a history batch of a
tenth of a 20k, 200k and 1M-node cSBM (B and its halo).
"""
from __future__ import annotations

import argparse

import torch
from timing import median_s

from sheafgraph.ops.dropout import dropout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, nargs="+", default=[20_000, 137_000, 750_000])
    p.add_argument("--cols", type=int, default=48)
    p.add_argument("--p", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"dropout p = {args.p}, {args.threads} threads, {device.type}; median ms of {args.repeats} calls after one")
    print(f"{'shape':>14} {'torch fwd':>10} {'ours fwd':>9} {'ratio':>6} {'torch f+b':>10} {'ours f+b':>9} "
          f"{'ratio':>6}", flush=True)
    for rows in args.rows:
        x = torch.randn(rows, args.cols, device=device, requires_grad=True)
        grad = torch.randn_like(x)
        cells = []
        for fn in (torch.nn.functional.dropout, dropout):
            fwd, _ = median_s(lambda: fn(x, args.p, True), args.repeats, device)
            both, _ = median_s(lambda: fn(x, args.p, True).backward(grad), args.repeats, device)
            cells.append((1e3 * fwd, 1e3 * both))
        (tf, tb), (of, ob) = cells
        print(f"{f'{rows}x{args.cols}':>14} {tf:>10.1f} {of:>9.1f} {tf / of:>6.2f} {tb:>10.1f} {ob:>9.1f} "
              f"{tb / ob:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
