"""Training speed of the AirPhyNet variants (and the GRU baseline) on PRSA Beijing windows.

For each model: seconds per training batch (forward + backward + Adam step; median over timed batches after
warm-up), NFE per forward, and seconds per training epoch (timed over a whole epoch with ``--full-epoch``, else
per-batch median x batches per epoch). The ratio column compares with the ``diff`` variant: the advection term
must add at most 2x to it. ``--device cuda`` (or ``auto``) times on the GPU, synchronising before each clock read.
Run it alone (timings on a shared machine are noisy):

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/air.py --root ../shared/data --threads 1
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/air.py --root ../shared/data --threads 1 --clock --readout --dropout 0.1
    PYTHONPATH=. python benchmarks/air.py --root ../shared/data --device cuda
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader

from sheafgraph.metrics import masked_mae
from sheafgraph.physics.experiment import data_graph, load_air_data, split_windows
from sheafgraph.physics.recipes import AirConfig, build_model
from sheafgraph.physics.training import forecast, to_device
from sheafgraph.utils import resolve_device, set_threads
from sheafgraph.utils.options import add_threads_flag

ROWS = (("gru", "last"), ("nophy", "last"), ("diff", "last"), ("adv", "last"), ("diff_adv", "last"),
        ("diff_adv", "future"))


def clock(device: torch.device) -> float:
    """Seconds on the wall clock, after the device's queued work has finished."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def time_model(name, wind, data, scaler, loader, graph, args):
    torch.manual_seed(0)
    config = AirConfig(model=name, wind_mode=wind, hidden_dim=args.hidden_dim, method=args.method, clock=args.clock,
                       readout=args.readout, dropout=args.dropout)
    model = build_model(name, data, scaler, config).to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    times, nfes = [], []
    start = clock(args.device)
    for i, batch in enumerate(loader):
        if not args.full_epoch and i >= args.warmup + args.batches:
            break
        batch = to_device(batch, args.device)
        t0 = clock(args.device)
        out = forecast(model, batch, graph)
        loss = masked_mae(out.mean, batch.y_out, batch.mask_out) + 1e-3 * out.kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= args.warmup:
            times.append(clock(args.device) - t0)
            nfes.append(out.nfe)
    per_batch = statistics.median(times)
    epoch = clock(args.device) - start if args.full_epoch else per_batch * len(loader)
    return per_batch, epoch, statistics.mean(nfes)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-stride", type=int, default=2)
    parser.add_argument("--hidden-dim", type=int, default=32)
    parser.add_argument("--method", default="rk4")
    parser.add_argument("--clock", action="store_true", help="AirPhyNet option (as sheafgraph air --clock)")
    parser.add_argument("--readout", action="store_true", help="AirPhyNet option (as sheafgraph air --readout)")
    parser.add_argument("--dropout", type=float, default=0.0, help="AirPhyNet option (as sheafgraph air --dropout)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--full-epoch", action="store_true", help="time whole epochs (slow)")
    add_threads_flag(parser)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"],
                        help="where to time the models (default %(default)s; auto: CUDA when available)")
    args = parser.parse_args()
    set_threads(args.threads)
    args.device = resolve_device(args.device)
    data = load_air_data("prsa", args.root)
    windows, scaler = split_windows(data, AirConfig(train_stride=args.train_stride))
    train = windows["train"]
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))
    graph = data_graph(data, args.device)
    print(f"PRSA: {len(train)} training windows (stride {args.train_stride}), batch {args.batch_size}, "
          f"{len(loader)} batches/epoch, solver {args.method}, device {args.device}, "
          f"{torch.get_num_threads()} thread(s)")
    print(f"{'model':<10} {'wind':<7} {'s/batch':>8} {'s/epoch':>8} {'NFE':>5} {'ms/NFE':>7} {'vs diff':>8}")
    rows = [(name, wind, *time_model(name, wind, data, scaler, loader, graph, args)) for name, wind in ROWS]
    diff = next(r[2] for r in rows if r[0] == "diff")
    for name, wind, per_batch, epoch, nfe in rows:
        per_nfe = f"{1e3 * per_batch / nfe:7.2f}" if nfe else f"{'-':>7}"
        wind = wind if name not in ("gru", "nophy", "diff") else "-"
        print(f"{name:<10} {wind:<7} {per_batch:8.3f} {epoch:8.1f} {nfe:5.0f} {per_nfe} {per_batch / diff:7.2f}x")


if __name__ == "__main__":
    main()
