r"""Inverted dropout, :math:`y = x \odot m / q` with :math:`m_i \sim \mathrm{Bernoulli}(q)`, :math:`q = 1 - p`, whose
mask is cheap on CPU.

torch's CPU kernel draws one random double per element and spends most of a dropout layer's time in the generator
(forward of a (137k, 48) float tensor on one core: 167 ms against 22 ms here, ``benchmarks/dropout.py``); a sheaf
diffusion epoch on a cSBM of 200k nodes spent 30% of its time there. Here each element takes 16 random bits instead:
the words of one :func:`torch.randint` call over all 64-bit integers, viewed as ``int16`` and compared with a
threshold, so :math:`q` is rounded to a multiple of :math:`2^{-16}` and the scale is the inverse of that rounded
:math:`q` (the expectation stays exactly :math:`x`). The backward pass keeps the boolean mask only (one byte per
element, as torch's). On other devices torch's fused kernel is faster and is used as is.
"""
from __future__ import annotations

import torch
from torch import Tensor

_LEVELS = 1 << 16


def _keep_mask(shape: torch.Size, keep: int) -> Tensor:
    """A bool tensor of ``shape`` whose entries are independently True with probability ``keep / 2**16`` (CPU)."""
    n = shape.numel()
    words = torch.randint(-(1 << 63), (1 << 63) - 1, ((n + 3) // 4,), dtype=torch.int64)
    return words.view(torch.int16)[:n].view(shape) < keep - (_LEVELS >> 1)


class _MaskedScale(torch.autograd.Function):
    """:math:`y = x \\odot m \\cdot s` for a fixed bool mask m and scale s, saving only m."""

    @staticmethod
    def forward(ctx, x: Tensor, mask: Tensor, scale: float) -> Tensor:
        ctx.save_for_backward(mask)
        ctx.scale = scale
        return x.mul(mask).mul_(scale)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (mask,) = ctx.saved_tensors
        return grad.mul(mask).mul_(ctx.scale), None, None


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Zero each entry of ``x`` with probability ``p`` and scale the rest by :math:`1 / (1 - p)` when ``training``
    (as :func:`torch.nn.functional.dropout`; module docstring for the CPU mask).

    Raises:
        ValueError: ``p`` outside [0, 1].
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0.0 or x.numel() == 0:
        return x
    if x.device.type != "cpu":
        return torch.nn.functional.dropout(x, p, True)
    keep = round((1.0 - p) * _LEVELS)
    if keep == 0:                       # p = 1, or within 2^-17 of it
        return x * 0.0
    return _MaskedScale.apply(x, _keep_mask(x.shape, keep), _LEVELS / keep)
