r"""Masked forecasting errors per horizon and per station.

With predictions :math:`\hat y`, targets y and an observation mask m over (sample, step, station),

.. math:: \mathrm{MAE} = \frac{\sum m\,|\hat y - y|}{\sum m}, \qquad
          \mathrm{RMSE} = \sqrt{\frac{\sum m\,(\hat y - y)^2}{\sum m}},

pooled over every observed entry of the group (a horizon, a station, or all). Missing targets (m = 0, any value
including NaN) never count. :class:`ForecastErrors` accumulates the sums batch by batch, in float64.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor


def _check(pred: Tensor, target: Tensor, mask: Tensor) -> None:
    if not all(isinstance(a, Tensor) for a in (pred, target, mask)):
        raise TypeError("pred, target and mask must be torch.Tensors")
    if pred.shape != target.shape or mask.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)}, target {tuple(target.shape)} and mask {tuple(mask.shape)} must "
                         "have the same shape")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor, got {mask.dtype}")


def _error(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """``pred - target`` where observed, 0 elsewhere (NaN targets behind the mask never propagate)."""
    _check(pred, target, mask)
    return torch.where(mask, pred - torch.where(mask, target, 0.0), 0.0)


def masked_mae(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    r"""Mean absolute error over the observed entries (a differentiable scalar; 0 when nothing is observed).

    Shapes:
        pred, target, mask: any equal shapes.
    """
    return _error(pred, target, mask).abs().sum() / mask.sum().clamp_min(1)


def masked_rmse(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    r"""Root mean squared error over the observed entries (0 when nothing is observed).

    Shapes:
        pred, target, mask: any equal shapes.
    """
    return (_error(pred, target, mask).square().sum() / mask.sum().clamp_min(1)).sqrt()


@dataclass
class ForecastReport:
    r"""Pooled MAE / RMSE overall, per horizon step and per station (NaN where a group has no observation).

    Shapes:
        mae_by_step, rmse_by_step, count_by_step: ``(T_out,)``; mae_by_station, rmse_by_station: ``(|V|,)``.
    """
    mae: float
    rmse: float
    count: int
    mae_by_step: Tensor
    rmse_by_step: Tensor
    count_by_step: Tensor
    mae_by_station: Tensor
    rmse_by_station: Tensor

    def at_hours(self, hours: float, step_hours: float) -> Dict[str, float]:
        """MAE and RMSE at the horizon ``hours`` (step ``hours / step_hours``, counted from 1)."""
        step = round(hours / step_hours)
        if abs(step * step_hours - hours) > 1e-9 or not 1 <= step <= self.mae_by_step.numel():
            raise ValueError(f"horizon {hours} h is not one of the {self.mae_by_step.numel()} forecast steps of "
                             f"{step_hours} h")
        return {"mae": float(self.mae_by_step[step - 1]), "rmse": float(self.rmse_by_step[step - 1])}

    def to_dict(self, step_hours: float, stations: Optional[Sequence[str]] = None) -> Dict[str, object]:
        """A JSON-ready summary: overall, per horizon (keyed ``"3h"``, ``"6h"``, ...) and per station."""
        names = list(stations) if stations is not None else [str(i) for i in range(self.mae_by_station.numel())]
        if len(names) != self.mae_by_station.numel():
            raise ValueError(f"{len(names)} station names for {self.mae_by_station.numel()} stations")
        hours = [step_hours * (k + 1) for k in range(self.mae_by_step.numel())]
        return {
            "mae": self.mae, "rmse": self.rmse, "count": self.count,
            "by_horizon": {f"{h:g}h": {"mae": float(a), "rmse": float(r)}
                           for h, a, r in zip(hours, self.mae_by_step, self.rmse_by_step)},
            "by_station": {s: {"mae": float(a), "rmse": float(r)}
                           for s, a, r in zip(names, self.mae_by_station, self.rmse_by_station)},
        }


class ForecastErrors:
    r"""Streaming sums of masked absolute and squared errors per (step, station); :meth:`report` pools them.

    Shapes:
        :meth:`update` takes pred, target, mask of shape ``(B, T_out, |V|)``; the same T_out and |V| every time.
    """

    def __init__(self):
        self.abs_sum: Optional[Tensor] = None
        self.sq_sum: Optional[Tensor] = None
        self.count: Optional[Tensor] = None

    def update(self, pred: Tensor, target: Tensor, mask: Tensor) -> None:
        _check(pred, target, mask)
        if pred.dim() != 3:
            raise ValueError(f"pred must have shape (B, T_out, |V|), got {tuple(pred.shape)}")
        err = _error(pred.double(), target.double(), mask)
        sums = (err.abs().sum(0), err.square().sum(0), mask.sum(0).double())
        if self.count is None:
            self.abs_sum, self.sq_sum, self.count = (s.cpu() for s in sums)
        elif self.count.shape != sums[2].shape:
            raise ValueError(f"batch has (T_out, |V|) = {tuple(sums[2].shape)}, earlier batches "
                             f"{tuple(self.count.shape)}")
        else:
            self.abs_sum += sums[0].cpu()
            self.sq_sum += sums[1].cpu()
            self.count += sums[2].cpu()

    def report(self) -> ForecastReport:
        if self.count is None:
            raise ValueError("no batch was added: call update(pred, target, mask) first")

        def pooled(dims):
            a, s, c = (x.sum(dims) for x in (self.abs_sum, self.sq_sum, self.count))
            nan = torch.full_like(c, float("nan"))
            return torch.where(c > 0, a / c, nan), torch.where(c > 0, (s / c).sqrt(), nan), c

        mae_t, rmse_t, count_t = pooled(1)
        mae_v, rmse_v, _ = pooled(0)
        mae, rmse, count = pooled((0, 1))
        return ForecastReport(float(mae), float(rmse), int(count), mae_t, rmse_t, count_t.long(), mae_v, rmse_v)
