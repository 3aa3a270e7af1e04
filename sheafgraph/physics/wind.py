r"""Wind over the forecast: which velocity field drives the advection term, and in which units.

A forecast issued at time 0 (the last input step) needs the wind at every time :math:`t \in (0, T_{out}\Delta]`.
Three schedules (``WIND_SCHEDULES``, names ``WIND_MODES``):

* ``"last"`` (default; uses only what is known at forecast time): each station's last observed input wind, held
  constant over the whole forecast.
* ``"mean"`` (known at forecast time): each station's vector mean of the observed input winds, held constant.
* ``"future"`` (observed future weather, as PM2.5-GNN feeds its model): the observed wind of output step k drives
  the interval :math:`((k-1)\Delta, k\Delta]`; a missing value repeats the station's previous observation.

A station whose wind is never observed gets calm air (zero velocity). Velocities are returned in km per hour
(:func:`km_per_hour`), to pair with station positions in km and ODE time in hours.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor

from sheafgraph.utils.checks import Registry

MS_TO_KMH = 3.6


def km_per_hour(wind_ms: Tensor) -> Tensor:
    r"""Convert a velocity from m/s to km/h: :math:`v_{km/h} = 3.6\, v_{m/s}`."""
    return wind_ms * MS_TO_KMH


def forward_fill(wind: Tensor) -> Tensor:
    r"""Replace each missing (NaN) vector by the last earlier observed one of its station; zero if none.

    A vector counts as observed when all its F components are finite (wind: F = 2; a scalar series: F = 1).

    Shapes:
        wind: ``(B, T, |V|, F)``; returns the same shape, finite.
    """
    observed = torch.isfinite(wind).all(-1)                                           # (B, T, V)
    steps = torch.arange(wind.size(1), device=wind.device).view(1, -1, 1)
    last = torch.where(observed, steps, -1).cummax(dim=1).values                      # index of last observation
    filled = torch.gather(torch.nan_to_num(wind), 1, last.clamp_min(0).unsqueeze(-1).expand_as(wind))
    return torch.where((last >= 0).unsqueeze(-1), filled, torch.zeros_like(filled))


def _held_last(wind_in: Tensor, wind_out: Optional[Tensor]) -> Tensor:
    return km_per_hour(forward_fill(wind_in)[:, -1:])


def _held_mean(wind_in: Tensor, wind_out: Optional[Tensor]) -> Tensor:
    observed = torch.isfinite(wind_in).all(-1, keepdim=True)
    total = torch.where(observed, wind_in, 0.0).sum(1, keepdim=True)
    return km_per_hour(total / observed.sum(1, keepdim=True).clamp_min(1))


def _observed_future(wind_in: Tensor, wind_out: Optional[Tensor]) -> Tensor:
    if wind_out is None:
        raise ValueError("wind mode 'future' needs the observed output winds (wind_out)")
    _check_wind(wind_out, "wind_out")
    if wind_out.shape[0] != wind_in.shape[0] or wind_out.shape[2] != wind_in.shape[2]:
        raise ValueError(f"wind_out {tuple(wind_out.shape)} does not match wind_in {tuple(wind_in.shape)} in batch "
                         "size or number of stations")
    filled = forward_fill(torch.cat([wind_in, wind_out], dim=1))
    return km_per_hour(filled[:, wind_in.size(1):])


#: wind mode -> schedule ``(wind_in, wind_out) -> velocity (km/h)``; the one place that knows the valid modes
WIND_SCHEDULES: Registry[Callable[[Tensor, Optional[Tensor]], Tensor]] = Registry(
    "wind mode", {"last": _held_last, "mean": _held_mean, "future": _observed_future})
WIND_MODES = tuple(WIND_SCHEDULES)


def forecast_wind(wind_in: Tensor, wind_out: Optional[Tensor] = None, mode: str = "last") -> Tensor:
    r"""The wind schedule over the forecast in km/h (module docstring), one velocity per station and interval.

    Args:
        wind_in: observed input winds in m/s (u east, v north), NaN where missing.
        wind_out: observed output-step winds in m/s; required for ``mode="future"`` only.
        mode: one of ``WIND_MODES`` (the keys of ``WIND_SCHEDULES``).

    Shapes:
        wind_in: ``(B, T_in, |V|, 2)``; wind_out: ``(B, T_out, |V|, 2)``; returns ``(B, 1, |V|, 2)`` for the held
        modes and ``(B, T_out, |V|, 2)`` for ``"future"``.
    """
    schedule = WIND_SCHEDULES[mode]
    _check_wind(wind_in, "wind_in")
    return schedule(wind_in, wind_out)


def _check_wind(wind: Tensor, name: str) -> None:
    if not isinstance(wind, Tensor) or not wind.is_floating_point():
        raise TypeError(f"{name} must be a floating torch.Tensor, got {getattr(wind, 'dtype', type(wind).__name__)}")
    if wind.dim() != 4 or wind.size(-1) != 2:
        raise ValueError(f"{name} must have shape (B, T, |V|, 2) (u east, v north in m/s), got {tuple(wind.shape)}")
