"""One GDSS training step and one sampling evaluation on each generic-graph dataset: median wall seconds, peak
memory, with the score networks' size groups off (one pass over the padded batch) and on.

    python benchmarks/gdss_step.py [--datasets ego_small community_small ENZYMES grid] [--batch-size B]
                                   [--repeats 3] [--threads 2] [--device cpu|cuda] [--root /path/to/shared/data]

A step is what ``sheafgraph graphgen train`` does per batch (:func:`sheafgraph.generative.training.train_step`: the
denoising loss of both score networks, backward, clipping, Adam, EMA) with the dataset's GDSS preset, on its first
training graphs (``--batch-size``, default the preset's). The time of a whole epoch is about the step time times
``ceil(training graphs / batch size)``. A sampling evaluation is one no-grad call of the noise model on as many
graphs as the test split, node counts drawn from the training graphs (seed 0) as ``graphgen sample`` does; GDSS's
samplers make 1000-2000 of them. ``groups`` is :attr:`GDSSNoiseModel.bucket_ratio` (off: None), ``x`` the speed-up.
Peak memory is the largest case's on CPU (resident set size cannot be reset; the datasets run in the order given),
per case on a GPU.
"""
from __future__ import annotations

import argparse
import math

import torch
from timing import median_s, peak_memory_gib, reset_peak_memory

from sheafgraph.generative.generate import sample_node_counts
from sheafgraph.generative.graph_generation import build_model, get_preset, node_count_histogram
from sheafgraph.generative.noise import Graphs, graph_noise, node_mask
from sheafgraph.generative.score_networks import GDSSNoiseModel
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
    print(f"GDSS training step and sampling evaluation, {args.threads} threads, {device.type}; median of "
          f"{args.repeats} after one; groups off / on")
    print(f"{'dataset':<16} {'graphs':>6} {'nodes':>5} {'batch':>5} {'step s':>15} {'x':>5} {'epoch s':>8} "
          f"{'sample':>6} {'evaluation s':>15} {'x':>5} {'peak GiB':>8}", flush=True)
    ratio = GDSSNoiseModel.bucket_ratio
    for name in args.datasets:
        preset = get_preset(name)
        data, num_test = training_graphs(name, args.root)
        batch = args.batch_size or preset.batch_size
        graphs = Graphs(*(t[:batch].to(device) for t in (data.x, data.adj, data.mask)))
        counts = sample_node_counts(node_count_histogram(data.mask), num_test, torch.Generator().manual_seed(0))
        mask = node_mask(counts, data.mask.shape[1]).to(device)
        t = torch.full((num_test,), 0.5, device=device)
        noisy = graph_noise(Graphs(torch.zeros(*mask.shape, data.x.shape[-1], device=device),
                                   torch.zeros(*mask.shape, mask.shape[1], device=device), mask),
                            torch.Generator(device).manual_seed(0))
        times = {}
        reset_peak_memory(device)
        for groups in (None, ratio):
            GDSSNoiseModel.bucket_ratio = groups
            torch.manual_seed(0)
            model = build_model(data.x.shape[-1], preset).to(device)
            sde = GraphSDE.from_config(preset.sde)
            optimizer = torch.optim.Adam(model.parameters(), lr=preset.lr, weight_decay=preset.weight_decay)
            ema = EMA(model, preset.ema_decay)
            generator = torch.Generator(device).manual_seed(0)
            step = median_s(lambda: train_step(model, sde, optimizer, graphs, ema=ema, grad_clip=preset.grad_clip,
                                               eps=preset.eps, generator=generator), args.repeats, device)
            with torch.no_grad():
                model.eval()
                evaluation = median_s(lambda: model(noisy.x, noisy.adj, mask, t), args.repeats, device)
            times[groups] = step, evaluation
        GDSSNoiseModel.bucket_ratio = ratio
        (step_off, _), (eval_off, _) = times[None]
        (step_on, _), (eval_on, _) = times[ratio]
        steps = math.ceil(data.x.shape[0] / batch)
        print(f"{name:<16} {data.x.shape[0]:>6} {data.x.shape[1]:>5} {graphs.x.shape[0]:>5} "
              f"{step_off:>7.3f}/{step_on:<7.3f} {step_off / step_on:>5.1f} {step_on * steps:>8.1f} {num_test:>6} "
              f"{eval_off:>7.3f}/{eval_on:<7.3f} {eval_off / eval_on:>5.1f} {peak_memory_gib(device):>8.2f}",
              flush=True)


if __name__ == "__main__":
    main()
