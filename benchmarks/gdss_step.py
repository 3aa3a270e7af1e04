"""One GDSS training step on each generic-graph dataset: median wall and CPU seconds, peak memory.

    python benchmarks/gdss_step.py [--datasets ego_small community_small ENZYMES grid] [--batch-size B]
                                   [--repeats 3] [--threads 2] [--device cpu|cuda] [--root /path/to/shared/data]

A step is what ``sheafgraph graphgen train`` does per batch (:func:`sheafgraph.generative.training.train_step`: the
denoising loss of both score networks, backward, clipping, Adam, EMA) with the dataset's GDSS preset, on its first
training graphs (``--batch-size``, default the preset's). The time of a whole epoch is about the step time times
``ceil(training graphs / batch size)``. Peak memory is the largest case's on CPU (resident set size cannot be reset;
the datasets run in the order given), per case on a GPU.
"""
from __future__ import annotations

import argparse
import math

import torch
from timing import median_s, peak_memory_gib, reset_peak_memory

from sheafgraph.generative.graph_generation import build_model, get_preset
from sheafgraph.generative.noise import Graphs
from sheafgraph.generative.sde import GraphSDE
from sheafgraph.generative.training import train_step
from sheafgraph.tasks.graphgen import training_graphs
from sheafgraph.utils import EMA


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["ego_small", "community_small", "ENZYMES", "grid"])
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--root", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"GDSS training step, {args.threads} threads, {device.type}; median of {args.repeats} steps after one")
    print(f"{'dataset':<16} {'graphs':>6} {'nodes':>5} {'batch':>5} {'step s':>8} {'(cpu s)':>8} {'epoch s':>8} "
          f"{'peak GiB':>8}", flush=True)
    for name in args.datasets:
        preset = get_preset(name)
        data, _ = training_graphs(name, args.root)
        batch = args.batch_size or preset.batch_size
        graphs = Graphs(*(t[:batch].to(device) for t in (data.x, data.adj, data.mask)))
        torch.manual_seed(0)
        model = build_model(data.x.shape[-1], preset).to(device)
        sde = GraphSDE.from_config(preset.sde)
        optimizer = torch.optim.Adam(model.parameters(), lr=preset.lr, weight_decay=preset.weight_decay)
        ema = EMA(model, preset.ema_decay)
        generator = torch.Generator(device).manual_seed(0)
        reset_peak_memory(device)
        wall, cpu = median_s(lambda: train_step(model, sde, optimizer, graphs, ema=ema, grad_clip=preset.grad_clip,
                                                eps=preset.eps, generator=generator), args.repeats, device)
        steps = math.ceil(data.x.shape[0] / batch)
        print(f"{name:<16} {data.x.shape[0]:>6} {data.x.shape[1]:>5} {graphs.x.shape[0]:>5} {wall:>8.3f} {cpu:>8.3f} "
              f"{wall * steps:>8.1f} {peak_memory_gib(device):>8.2f}", flush=True)


if __name__ == "__main__":
    main()
