"""Timing helpers shared by the benchmark scripts: medians that wait for the device, and peak memory.

On CUDA every timed call is followed by ``torch.cuda.synchronize`` (kernels run asynchronously, so the wall time of
the Python call alone would measure only the launches).
"""
from __future__ import annotations

import resource
import statistics
import time
from typing import Callable, Tuple

import torch


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_s(fn: Callable[[], object], repeats: int, device: torch.device = torch.device("cpu"),
             warmup: int = 1) -> Tuple[float, float]:
    """Median wall-clock and process-CPU seconds of ``fn`` over ``repeats`` calls after ``warmup`` calls (CPU time is
    less sensitive to a shared machine; on a GPU it is the host's time only)."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        synchronize(device)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device) -> float:
    """Peak memory in GiB: allocated device memory since :func:`reset_peak_memory` on CUDA; on CPU the process's
    maximum resident set size so far (it cannot be reset, so measure the largest case last)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def copy_bandwidth_gbs(device: torch.device) -> float:
    """Measured copy bandwidth of ``device`` (read + write of a 256 MB buffer), GB/s."""
    a = torch.ones(64 * 2**20, device=device)
    wall, _ = median_s(lambda: a.clone(), 5, device)
    return 2 * a.numel() * 4 / wall / 1e9


def random_graph(n: int, degree: int, seed: int = 0, device: torch.device = torch.device("cpu")) -> torch.Tensor:
    """A coalesced undirected random graph on n nodes with about ``degree`` directed edges per node."""
    g = torch.Generator().manual_seed(seed)
    m = n * degree // 2
    r, c = torch.randint(0, n, (m,), generator=g), torch.randint(0, n, (m,), generator=g)
    keep = r != c
    ei = torch.stack([r[keep], c[keep]])
    return torch.unique(torch.cat([ei, ei.flip(0)], 1), dim=1).to(device)
