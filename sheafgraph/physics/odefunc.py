r"""The latent vector field of AirPhyNet: gated advection and diffusion plus a small graph network.

For a latent field :math:`z \in \mathbb R^{|V| \times D}` (one D-vector per station) and wind :math:`v(t)`:

.. math::

    \frac{dz}{dt} = -k\, g_D \odot (L z) \;-\; \alpha\, g_A \odot (A(v(t))\, z) \;+\;
    \frac{1}{\tau} W_o \tanh(z W_s + (L z) W_n + W_c\, \phi(h_0 + t) + b)

with the diffusion coefficient :math:`k = \mathrm{softplus}(\kappa) \ge 0` (1/h), the advection scale
:math:`\alpha = \mathrm{softplus}(a) \ge 0` (the fraction of the wind speed at which the latent field is carried),
per-channel gates :math:`g_D, g_A = \sigma(\gamma) \in (0, 1)^D` that let each latent channel use the physics or
not, the graph network's weights :math:`W_s, W_n, W_o` and its time scale :math:`\tau` (hours: the network
outputs a change per :math:`\tau`, so that an O(1) output does not swamp the initial state over a 72-hour
horizon). :math:`A(\alpha v) = \alpha A(v)` because the upwind rates are positively homogeneous in v, so the
operator is built once from the data and :math:`\alpha` multiplies its product. Each term can be switched off
(``diffusion=False`` / ``advection=False``: the AirPhyNet ablations).

Clock forcing (``clock=True``): :math:`\phi(h) = (\sin 2\pi h/24, \cos 2\pi h/24)` of the local clock hour
:math:`h_0 + t` (:math:`h_0` the hour at the forecast origin, per sample) enters the graph network, so the field is
non-autonomous with a daily period: emissions and the mixing height of the boundary layer follow the clock, and
an autonomous field would have to carry the phase of the day in its latent state. Without it :math:`W_c = 0`.
"""
from __future__ import annotations

import math
from typing import List, Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from sheafgraph.ops import SparseOperator
from sheafgraph.physics.transport import advection_term, shared_matmul


def clock_features(hour: Tensor) -> Tensor:
    r""":math:`\phi(h) = (\sin 2\pi h/24, \cos 2\pi h/24)`, the phase of the day of clock hours h.

    Shapes:
        hour: ``(...)``; returns ``(..., 2)``.
    """
    angle = hour * (2 * math.pi / 24)
    return torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1)


def inverse_softplus(y: float) -> float:
    r""":math:`x` with :math:`\mathrm{softplus}(x) = y` for :math:`y > 0`."""
    if not y > 0:
        raise ValueError(f"softplus takes only positive values, got {y}")
    return y + math.log(-math.expm1(-y))


class AdvectionDiffusionODE(nn.Module):
    r"""The vector field of the module docstring, a torchdiffeq ``func(t, z)`` that counts its evaluations.

    Call :meth:`condition` with the batch's operators before integrating; it also resets :attr:`nfe`.

    Args:
        latent_dim: D, channels of the latent field.
        hidden_dim: width of the graph network.
        diffusion, advection: include each physical term.
        init_k: initial diffusion coefficient k (1/h).
        init_alpha: initial advection scale alpha.
        time_scale: :math:`\tau`, hours per unit of the graph network's output.
        clock: add the clock forcing :math:`W_c\,\phi(h_0 + t)` (then :meth:`condition` needs ``origin_hour``).

    Shapes:
        z: ``(B, |V|, D)``; t: scalar (hours since the last input step); returns ``(B, |V|, D)``.
    """

    def __init__(self, latent_dim: int, hidden_dim: int = 32, *, diffusion: bool = True, advection: bool = True,
                 init_k: float = 0.05, init_alpha: float = 0.05, time_scale: float = 1.0, clock: bool = False):
        super().__init__()
        if not time_scale > 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        self.time_scale = float(time_scale)
        self.diffusion, self.advection = diffusion, advection
        self.raw_k = nn.Parameter(torch.tensor(inverse_softplus(init_k))) if diffusion else None
        self.diffusion_gate = nn.Parameter(torch.zeros(latent_dim)) if diffusion else None
        self.raw_alpha = nn.Parameter(torch.tensor(inverse_softplus(init_alpha))) if advection else None
        self.advection_gate = nn.Parameter(torch.zeros(latent_dim)) if advection else None
        self.lin_in = nn.Linear(2 * latent_dim, hidden_dim)          # [z, L z] -> hidden: W_s, W_n and b in one
        self.lin_out = nn.Linear(hidden_dim, latent_dim)
        self.lin_clock = nn.Linear(2, hidden_dim, bias=False) if clock else None      # W_c
        self.nfe = 0
        self._laplacian: Optional[SparseOperator] = None
        self._advection: List[SparseOperator] = []
        self._interval = 1.0
        self._origin_hour: Optional[Tensor] = None

    @property
    def k(self) -> Optional[Tensor]:
        """The diffusion coefficient softplus(kappa) (None without diffusion)."""
        return F.softplus(self.raw_k) if self.diffusion else None

    @property
    def alpha(self) -> Optional[Tensor]:
        """The advection scale softplus(a) (None without advection)."""
        return F.softplus(self.raw_alpha) if self.advection else None

    @property
    def clock(self) -> bool:
        r"""Whether the field has the clock forcing :math:`W_c\,\phi(h_0 + t)`."""
        return self.lin_clock is not None

    def condition(self, laplacian: SparseOperator, advection: Optional[List[SparseOperator]] = None,
                  interval: float = 1.0, origin_hour: Optional[Tensor] = None) -> None:
        r"""Set the batch's operators and reset the evaluation count.

        Args:
            laplacian: the station graph's ``(|V|, |V|)`` Laplacian.
            advection: block-diagonal batch operators, one per wind interval: operator k acts on
                :math:`t \in ((k-1)\,\text{interval}, k\,\text{interval}]`, the last one beyond; required when the
                field has advection.
            interval: length of a wind interval in ODE time units (hours).
            origin_hour: ``(B,)`` clock hour :math:`h_0` of each sample at t = 0; required with ``clock=True``.
        """
        if self.advection and not advection:
            raise ValueError("this vector field has an advection term: pass at least one advection operator")
        if self.clock and origin_hour is None:
            raise ValueError("this vector field has clock forcing: pass origin_hour (B,), the clock hour at t = 0")
        self._laplacian, self._advection, self._interval, self.nfe = laplacian, list(advection or []), interval, 0
        self._origin_hour = origin_hour

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        if self._laplacian is None:
            raise RuntimeError("call condition(laplacian, advection) before integrating the vector field")
        self.nfe += 1
        lz = shared_matmul(self._laplacian, z)
        # graph network: learned local dynamics beyond the physics, forced by the clock
        pre = self.lin_in(torch.cat([z, lz], dim=-1))
        if self.clock:
            pre = pre + self.lin_clock(clock_features(self._origin_hour + t)).unsqueeze(-2)
        dz = self.lin_out(torch.tanh(pre)) / self.time_scale
        # diffusion: -k g_D ⊙ L z
        if self.diffusion:
            dz = dz - self.k * torch.sigmoid(self.diffusion_gate) * lz
        # advection: -alpha g_A ⊙ A(v(t)) z, with v piecewise constant on wind intervals
        if self.advection:
            step = int(math.ceil(float(t.detach()) / self._interval - 1e-6)) - 1
            op = self._advection[min(max(step, 0), len(self._advection) - 1)]
            dz = dz + self.alpha * torch.sigmoid(self.advection_gate) * advection_term(op, z)
        return dz
