"""Reproducibility: one call seeds every random number generator a run uses; noise drawn from any generator."""
from __future__ import annotations

import random
from typing import Dict, Optional, Sequence

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a fresh ``torch.Generator`` seeded with ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def rng_state(device: torch.device) -> Dict[str, torch.Tensor]:
    """The state of torch's global generators that a run on ``device`` draws from (dropout, initialisation): the
    CPU generator's, and on CUDA that device's too; :func:`set_rng_state` restores it (resumed runs draw on)."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: Dict[str, torch.Tensor], device: torch.device) -> None:
    """Restore what :func:`rng_state` returned for ``device``."""
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def randn(shape: Sequence[int], generator: Optional[torch.Generator] = None, *, dtype: Optional[torch.dtype] = None,
          device=None) -> torch.Tensor:
    """``N(0, 1)`` noise of ``shape`` on ``device``, drawn on the generator's own device and moved if they differ.

    A CPU generator (what :func:`seed_everything` returns) can then drive a CUDA run, and the same seed gives the same
    numbers on every device; with a generator on the target device (or none) nothing is copied.
    """
    return _draw(torch.randn, shape, generator, dtype, device)


def rand(shape: Sequence[int], generator: Optional[torch.Generator] = None, *, dtype: Optional[torch.dtype] = None,
         device=None) -> torch.Tensor:
    """``U[0, 1)`` noise of ``shape`` on ``device``, drawn on the generator's device (as :func:`randn`)."""
    return _draw(torch.rand, shape, generator, dtype, device)


def _draw(fn, shape, generator, dtype, device) -> torch.Tensor:
    source = generator.device if generator is not None else device
    return fn(tuple(shape), generator=generator, dtype=dtype, device=source).to(device)
