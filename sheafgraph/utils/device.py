"""Device and thread selection shared by the command-line tasks."""
from __future__ import annotations

import torch

from sheafgraph.utils.checks import positive_int

#: the command line's default torch threads: one thread is as fast for these models on an idle machine and many
#: times faster on a busy one (a diff_adv epoch took 708 s with torch's default threads on a loaded 2-core machine,
#: 42 s with one)
DEFAULT_THREADS = 1


def resolve_device(device: str) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:K"`` or ``"auto"`` (CUDA when available), checked against the machine."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available; use --device cpu or auto")
    return torch.device(device)


def set_threads(threads: int) -> int:
    """Set torch's intra-op threads (``--threads``, a positive int) and return the number."""
    torch.set_num_threads(positive_int(threads, "--threads"))
    return threads
