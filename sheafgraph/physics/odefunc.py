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
from typing import NamedTuple, Optional, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from sheafgraph.ops import SparseOperator
from sheafgraph.physics.transport import AdvectionSchedule, advection_term, shared_matmul
from sheafgraph.utils.checks import positive_float


def clock_features(hour: Tensor) -> Tensor:
    r""":math:`\phi(h) = (\sin 2\pi h/24, \cos 2\pi h/24)`, the phase of the day of clock hours h.

    Shapes:
        hour: ``(...)``; returns ``(..., 2)``.
    """
    angle = hour * (2 * math.pi / 24)
    return torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1)


def inverse_softplus(y: float) -> float:
    r""":math:`x` with :math:`\mathrm{softplus}(x) = y` for :math:`y > 0`."""
    y = positive_float(y, "the value of softplus")
    return y + math.log(-math.expm1(-y))


class FieldOperators(NamedTuple):
    r"""What the vector field needs from one batch: the station graph's Laplacian, the advection operators per wind
    interval (:class:`~sheafgraph.physics.transport.AdvectionSchedule`; None without advection) and the clock hour
    :math:`h_0` of each sample at t = 0 (None without clock forcing).

    Shapes:
        laplacian: ``(|V|, |V|)``; advection: ``(B|V|, B|V|)`` operators; origin_hour: ``(B,)``.
    """
    laplacian: SparseOperator
    advection: Optional[AdvectionSchedule] = None
    origin_hour: Optional[Tensor] = None


class AdvectionDiffusionODE(nn.Module):
    r"""The vector field of the module docstring, a pure function of its parameters and the call.

    ``field(t, z, operators)`` evaluates :math:`f(t, z)` with the batch's :class:`FieldOperators`; it keeps no
    per-batch state. For torchdiffeq, :meth:`bind` wraps it with one batch's operators into a ``func(t, z)`` that
    counts its evaluations (as NSD builds its vector field per forward).

    Args:
        latent_dim: D, channels of the latent field.
        hidden_dim: width of the graph network.
        diffusion, advection: include each physical term.
        init_k: initial diffusion coefficient k (1/h).
        init_alpha: initial advection scale alpha.
        time_scale: :math:`\tau`, hours per unit of the graph network's output.
        clock: add the clock forcing :math:`W_c\,\phi(h_0 + t)` (then :meth:`bind` needs ``origin_hour``).

    Shapes:
        z: ``(B, |V|, D)``; t: scalar tensor (hours since the last input step); returns ``(B, |V|, D)``.
    """

    def __init__(self, latent_dim: int, hidden_dim: int = 32, *, diffusion: bool = True, advection: bool = True,
                 init_k: float = 0.05, init_alpha: float = 0.05, time_scale: float = 1.0, clock: bool = False):
        super().__init__()
        self.time_scale = positive_float(time_scale, "time_scale")
        self.diffusion, self.advection = diffusion, advection
        self.raw_k = nn.Parameter(torch.tensor(inverse_softplus(init_k))) if diffusion else None
        self.diffusion_gate = nn.Parameter(torch.zeros(latent_dim)) if diffusion else None
        self.raw_alpha = nn.Parameter(torch.tensor(inverse_softplus(init_alpha))) if advection else None
        self.advection_gate = nn.Parameter(torch.zeros(latent_dim)) if advection else None
        self.lin_in = nn.Linear(2 * latent_dim, hidden_dim)          # [z, L z] -> hidden: W_s, W_n and b in one
        self.lin_out = nn.Linear(hidden_dim, latent_dim)
        self.lin_clock = nn.Linear(2, hidden_dim, bias=False) if clock else None      # W_c

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

    def bind(self, laplacian: SparseOperator, advection: Optional[Sequence[SparseOperator]] = None,
             interval: float = 1.0, origin_hour: Optional[Tensor] = None) -> "BoundField":
        r"""This field with one batch's operators, as a torchdiffeq ``func(t, z)``.

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
        schedule = AdvectionSchedule(advection, interval) if advection else None
        return BoundField(self, FieldOperators(laplacian, schedule, origin_hour))

    def forward(self, t: Tensor, z: Tensor, operators: FieldOperators) -> Tensor:
        lz = shared_matmul(operators.laplacian, z)
        # graph network: learned local dynamics beyond the physics, forced by the clock
        pre = self.lin_in(torch.cat([z, lz], dim=-1))
        if self.clock:
            pre = pre + self.lin_clock(clock_features(operators.origin_hour + t)).unsqueeze(-2)
        dz = self.lin_out(torch.tanh(pre)) / self.time_scale
        # diffusion: -k g_D ⊙ L z
        if self.diffusion:
            dz = dz - self.k * torch.sigmoid(self.diffusion_gate) * lz
        # advection: -alpha g_A ⊙ A(v(t)) z, with v piecewise constant on wind intervals
        if self.advection:
            dz = dz + self.alpha * torch.sigmoid(self.advection_gate) * advection_term(operators.advection.at(t), z)
        return dz


class BoundField(nn.Module):
    """:class:`AdvectionDiffusionODE` with one batch's :class:`FieldOperators`: the ``func(t, z)`` that torchdiffeq
    integrates, built per forward; :attr:`nfe` counts its evaluations.

    Shapes:
        as :class:`AdvectionDiffusionODE`.
    """

    def __init__(self, field: AdvectionDiffusionODE, operators: FieldOperators):
        super().__init__()
        self.field, self.operators, self.nfe = field, operators, 0

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        self.nfe += 1
        return self.field(t, z, self.operators)
