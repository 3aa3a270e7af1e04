"""Exponential moving average of a model's weights (GDSS samples with it; the air-quality runner can evaluate it)."""
from __future__ import annotations

from typing import Dict

import torch
from torch import Tensor, nn


class EMA:
    r"""Exponential moving average :math:`\bar\theta \leftarrow d\,\bar\theta + (1 - d)\,\theta` of a model's floating
    parameters and buffers.

    Args:
        model: the model whose weights are averaged. decay: :math:`d \in [0, 1)`.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                self.shadow[k].lerp_(v.detach(), 1 - self.decay)
            else:
                self.shadow[k].copy_(v)

    def state_dict(self) -> Dict[str, Tensor]:
        return {k: v.clone() for k, v in self.shadow.items()}

    def load_state_dict(self, state: Dict[str, Tensor]) -> None:
        missing = set(self.shadow) ^ set(state)
        if missing:
            raise ValueError(f"EMA state does not match the model; differing keys: {sorted(missing)}")
        for k, v in state.items():
            self.shadow[k].copy_(v)
