"""Device and thread selection shared by the command-line tasks."""
from __future__ import annotations

import argparse
import math
import os
import time
from typing import Dict, Set, Tuple, Union

import torch

from sheafgraph.utils.checks import positive_int

#: the command line's default ``--threads``: :func:`idle_cores`, so a busy machine gets one thread (a diff_adv epoch
#: took 708 s with torch's default threads on a loaded 2-core machine, 42 s with one) and an idle one all its cores
DEFAULT_THREADS = "auto"


def resolve_device(device: str) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:K"`` or ``"auto"`` (CUDA when available), checked against the machine."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available; use --device cpu or auto")
    return torch.device(device)


def _busy_cores(cores: Set[int], seconds: float) -> float:
    """How many of ``cores`` were busy over the next ``seconds`` (from ``/proc/stat``); NaN where it cannot tell."""
    def ticks() -> Dict[int, Tuple[int, int]]:
        found = {}
        with open("/proc/stat") as stat:
            for line in stat:
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
                    values = [int(v) for v in fields[:8]]
                    found[int(name[3:])] = (sum(values), values[3] + values[4])       # all, idle + iowait
        return found
    try:
        before = ticks()
        time.sleep(seconds)
        after = ticks()
    except (OSError, ValueError, IndexError):
        return math.nan
    busy = 0.0
    for cpu, (total, idle) in after.items():
        spent = total - before.get(cpu, (total, idle))[0]
        busy += 1.0 - (idle - before[cpu][1]) / spent if spent > 0 else 0.0
    return busy if after else math.nan


def idle_cores(seconds: float = 0.25) -> int:
    """The cores this process may run on less those busy right now (sampled over ``seconds`` from ``/proc/stat``;
    the 1-minute load average where there is none), rounded and shared among the processes of a ``torchrun`` job
    on this machine (``LOCAL_WORLD_SIZE``); at least 1."""
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    busy = _busy_cores(cores, seconds)
    if math.isnan(busy):
        busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    processes = max(int(os.environ.get("LOCAL_WORLD_SIZE", "1")), 1)
    return max(int(len(cores) - busy + 0.5) // processes, 1)


def threads_option(text: str) -> Union[int, str]:
    """argparse type of ``--threads``: ``auto`` or a positive int."""
    if text == "auto":
        return text
    try:
        return positive_int(int(text) if text.lstrip("-").isdigit() else text, "--threads")
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error} (or auto)") from None


def set_threads(threads: Union[int, str]) -> int:
    """Set torch's intra-op threads (``--threads``: a positive int, or ``"auto"`` for :func:`idle_cores`) and
    return the number. Results may differ in the last digits between thread counts (sums are split differently)."""
    count = idle_cores() if threads == "auto" else positive_int(threads, "--threads")
    torch.set_num_threads(count)
    return count
