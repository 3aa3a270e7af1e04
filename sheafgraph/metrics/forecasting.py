r"""Masked forecasting scores per horizon and per station: errors of a point forecast, CRPS and interval coverage of
an ensemble.

With predictions :math:`\hat y`, targets y and an observation mask m over (sample, step, station),

.. math:: \mathrm{MAE} = \frac{\sum m\,|\hat y - y|}{\sum m}, \qquad
          \mathrm{RMSE} = \sqrt{\frac{\sum m\,(\hat y - y)^2}{\sum m}},

pooled over every observed entry of the group (a horizon, a station, or all). Missing targets (m = 0, any value
including NaN) never count. An ensemble of K forecasts :math:`x_1, \dots, x_K` of each entry is scored by its
fair CRPS (:func:`crps_ensemble`) and by the coverage of its central intervals (:func:`central_interval`), the
fraction of observed targets inside them, pooled the same way. :class:`ForecastErrors` accumulates the sums batch
by batch, in float64.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from sheafgraph.utils.checks import finite_float

INTERVAL_LEVELS = (0.8, 0.9)


def _check(pred: Tensor, target: Tensor, mask: Tensor) -> None:
    if not all(isinstance(a, Tensor) for a in (pred, target, mask)):
        raise TypeError("pred, target and mask must be torch.Tensors")
    if pred.shape != target.shape or mask.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)}, target {tuple(target.shape)} and mask {tuple(mask.shape)} must "
                         "have the same shape")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor, got {mask.dtype}")


def _check_ensemble(samples: Tensor, target: Tensor, min_members: int = 1) -> None:
    if not isinstance(samples, Tensor) or not samples.is_floating_point():
        raise TypeError(f"samples must be a floating torch.Tensor, got {getattr(samples, 'dtype', type(samples))}")
    if samples.shape[1:] != target.shape or samples.size(0) < min_members:
        raise ValueError(f"samples must have shape (K, *target.shape) = (K, {', '.join(map(str, target.shape))}) "
                         f"with K >= {min_members}, got {tuple(samples.shape)}")


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


def crps_ensemble(samples: Tensor, target: Tensor, fair: bool = True) -> Tensor:
    r"""Continuous ranked probability score of an ensemble forecast, entry by entry (lower is better).

    For K members :math:`x_1, \dots, x_K` and the observation y, in the energy form
    :math:`\mathrm{CRPS}(F, y) = \mathbb E|X - y| - \tfrac12 \mathbb E|X - X'|`:

    .. math::

        \mathrm{CRPS}_{\text{fair}} = \frac1K \sum_k |x_k - y| - \frac{1}{2K(K-1)} \sum_{k,l} |x_k - x_l|,
        \qquad
        \mathrm{CRPS}_{\text{ens}} = \frac1K \sum_k |x_k - y| - \frac{1}{2K^2} \sum_{k,l} |x_k - x_l|.

    The fair score (default; Ferro 2014, needs K >= 2) is an unbiased estimate of the CRPS of the distribution the
    members are drawn from, so ensembles of different sizes compare fairly; ``fair=False`` gives the CRPS of the
    ensemble's empirical distribution (for K = 1, or for members that all agree, it is :math:`|x - y|`). The pair
    sum is computed from the sorted members :math:`x_{(1)} \le \dots \le x_{(K)}` as
    :math:`\sum_{k,l} |x_k - x_l| = 2 \sum_i (2i - K - 1)\, x_{(i)}`, in :math:`O(K \log K)`.

    Args:
        samples: the members, ensemble dimension first.
        target: the observations (NaN gives NaN; mask before pooling, as :class:`ForecastErrors` does).
        fair: the fair score (True) or the ensemble's own CRPS (False).

    Shapes:
        samples: ``(K, *)``; target: ``(*)``; returns ``(*)``.
    """
    _check_ensemble(samples, target, 2 if fair else 1)
    k = samples.size(0)
    accuracy = (samples - target).abs().mean(0)
    rank = torch.arange(1, k + 1, dtype=samples.dtype, device=samples.device).view(-1, *[1] * target.dim())
    pair_sum = 2 * ((2 * rank - k - 1) * samples.sort(0).values).sum(0)
    return accuracy - pair_sum / (2 * k * (k - 1) if fair else 2 * k * k)


def ensemble_quantiles(samples: Tensor, q: Sequence[float]) -> Tensor:
    r"""Quantiles of an ensemble by linear interpolation between the sorted members (numpy's default):
    :math:`Q(q) = x_{(\lfloor p \rfloor)} + (p - \lfloor p \rfloor)(x_{(\lfloor p \rfloor + 1)} - x_{(\lfloor p
    \rfloor)})` with :math:`p = q(K - 1)` and members indexed from 0 (no size limit, unlike ``torch.quantile``).

    Shapes:
        samples: ``(K, *)``; q: ``(Q,)`` levels in [0, 1]; returns ``(Q, *)``.
    """
    levels = torch.as_tensor(q, dtype=torch.float64)
    if levels.dim() != 1 or not bool(((levels >= 0) & (levels <= 1)).all()):
        raise ValueError(f"q must be a sequence of levels in [0, 1], got {q}")
    ordered = samples.sort(0).values
    pos = levels * (samples.size(0) - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp_max(samples.size(0) - 1)
    frac = (pos - lo).to(samples.dtype).to(samples.device).view(-1, *[1] * (samples.dim() - 1))
    return ordered[lo] + frac * (ordered[hi] - ordered[lo])


def central_interval(samples: Tensor, level: float) -> Tuple[Tensor, Tensor]:
    r"""The central interval of probability ``level`` of an ensemble: its quantiles :math:`(1 \mp \text{level})/2`
    (:func:`ensemble_quantiles`); 0.8 gives the 10% to 90% range.

    Shapes:
        samples: ``(K, *)``; returns lower and upper bounds ``(*)``.
    """
    level = interval_level(level, "level")
    lower, upper = ensemble_quantiles(samples, [(1 - level) / 2, (1 + level) / 2])
    return lower, upper


def interval_level(level: float, name: str = "level") -> float:
    """``level`` as a float if it is the probability of a central interval, in (0, 1)."""
    return finite_float(level, name, low=0.0, high=1.0, low_open=True, high_open=True)


def level_name(level: float) -> str:
    """``0.8`` -> ``"80%"``, the key of a coverage level in reports."""
    return f"{100 * level:g}%"


def paired_difference(scores: Sequence[float], baseline: Sequence[float]) -> Dict[str, Optional[float]]:
    r"""Mean and standard error of paired differences, e.g. two models' MAE on the same seeds.

    With :math:`d_s = a_s - b_s` over n pairs: :math:`\bar d = \frac1n \sum_s d_s` and
    :math:`\mathrm{s.e.} = \sqrt{\sum_s (d_s - \bar d)^2 / (n - 1)} / \sqrt n` (None for n = 1): the
    s.e. of the mean difference over the pairs (e.g. seeds), which is what decides whether one model is better.

    Returns ``{"mean": d̄, "se": s.e., "n": n}``.
    """
    a, b = np.asarray(scores, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ValueError(f"scores and baseline must be two equally long, non-empty sequences, got {a.size} and "
                         f"{b.size} values")
    d = a - b
    se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else None
    return {"mean": float(d.mean()), "se": se, "n": int(d.size)}


@dataclass
class ForecastReport:
    r"""Pooled scores overall, per horizon step and per station (NaN where a group has no observation).

    MAE / RMSE score the point forecast. With an ensemble (``samples`` = K > 0 members): the mean fair CRPS
    (:func:`crps_ensemble`) and the coverage of the central intervals of ``INTERVAL_LEVELS`` (the fraction of
    observed targets inside :func:`central_interval`), keyed by level; without one those stay empty.

    Shapes:
        mae_by_step, rmse_by_step, count_by_step, crps_by_step, coverage_by_step values: ``(T_out,)``;
        mae_by_station, rmse_by_station, crps_by_station: ``(|V|,)``.
    """
    mae: float
    rmse: float
    count: int
    mae_by_step: Tensor
    rmse_by_step: Tensor
    count_by_step: Tensor
    mae_by_station: Tensor
    rmse_by_station: Tensor
    samples: int = 0
    crps: Optional[float] = None
    crps_by_step: Optional[Tensor] = None
    crps_by_station: Optional[Tensor] = None
    coverage: Dict[float, float] = field(default_factory=dict)
    coverage_by_step: Dict[float, Tensor] = field(default_factory=dict)

    def at_hours(self, hours: float, step_hours: float) -> Dict[str, object]:
        """Scores at the horizon ``hours`` (step ``hours / step_hours``, counted from 1)."""
        step = round(hours / step_hours)
        if abs(step * step_hours - hours) > 1e-9 or not 1 <= step <= self.mae_by_step.numel():
            raise ValueError(f"horizon {hours} h is not one of the {self.mae_by_step.numel()} forecast steps of "
                             f"{step_hours} h")
        return self._step(step - 1)

    def _step(self, k: int) -> Dict[str, object]:
        out: Dict[str, object] = {"mae": float(self.mae_by_step[k]), "rmse": float(self.rmse_by_step[k])}
        if self.samples:
            out["crps"] = float(self.crps_by_step[k])
            out["coverage"] = {level_name(p): float(c[k]) for p, c in self.coverage_by_step.items()}
        return out

    def to_dict(self, step_hours: float, stations: Optional[Sequence[str]] = None) -> Dict[str, object]:
        """A JSON-ready summary: overall, per horizon (keyed ``"3h"``, ``"6h"``, ...) and per station."""
        names = list(stations) if stations is not None else [str(i) for i in range(self.mae_by_station.numel())]
        if len(names) != self.mae_by_station.numel():
            raise ValueError(f"{len(names)} station names for {self.mae_by_station.numel()} stations")
        out: Dict[str, object] = {"mae": self.mae, "rmse": self.rmse, "count": self.count}
        if self.samples:
            out.update(samples=self.samples, crps=self.crps,
                       coverage={level_name(p): c for p, c in self.coverage.items()})
        out["by_horizon"] = {f"{step_hours * (k + 1):g}h": self._step(k) for k in range(self.mae_by_step.numel())}
        out["by_station"] = {s: {"mae": float(self.mae_by_station[i]), "rmse": float(self.rmse_by_station[i]),
                                 **({"crps": float(self.crps_by_station[i])} if self.samples else {})}
                             for i, s in enumerate(names)}
        return out


class ForecastErrors:
    r"""Streaming sums of masked scores per (step, station); :meth:`report` pools them.

    Every batch adds the absolute and squared errors of the point forecast and, when given an ensemble, its CRPS
    and the indicators of the targets inside each central interval of ``levels``.

    Args:
        levels: probabilities of the central intervals whose coverage is counted (with ensembles).

    Shapes:
        :meth:`update` takes pred, target, mask of shape ``(B, T_out, |V|)`` and optional samples
        ``(K, B, T_out, |V|)`` (K >= 2); the same T_out, ``|V|`` and K (or no samples) every time.
    """

    def __init__(self, levels: Sequence[float] = INTERVAL_LEVELS):
        self.levels = tuple(interval_level(p, "interval levels") for p in levels)
        self.sums: Dict[str, Tensor] = {}
        self.samples = 0

    def update(self, pred: Tensor, target: Tensor, mask: Tensor, samples: Optional[Tensor] = None) -> None:
        _check(pred, target, mask)
        if pred.dim() != 3:
            raise ValueError(f"pred must have shape (B, T_out, |V|), got {tuple(pred.shape)}")
        err = _error(pred.double(), target.double(), mask)
        sums = {"abs": err.abs().sum(0), "sq": err.square().sum(0), "count": mask.sum(0).double()}
        if samples is not None:
            _check_ensemble(samples, target, 2)
            members, observed = samples.double(), torch.where(mask, target.double(), 0.0)
            sums["crps"] = torch.where(mask, crps_ensemble(members, observed), 0.0).sum(0)
            for p in self.levels:
                lower, upper = central_interval(members, p)
                sums[f"inside {p}"] = (mask & (lower <= observed) & (observed <= upper)).sum(0).double()
        k = 0 if samples is None else samples.size(0)
        if not self.sums:
            self.sums, self.samples = {name: s.cpu() for name, s in sums.items()}, k
            return
        if self.sums["count"].shape != sums["count"].shape:
            raise ValueError(f"batch has (T_out, |V|) = {tuple(sums['count'].shape)}, earlier batches "
                             f"{tuple(self.sums['count'].shape)}")
        if k != self.samples:
            raise ValueError(f"batch has {k} samples, earlier batches {self.samples}: pass the same number of "
                             "samples (or none) with every batch")
        for name, s in sums.items():
            self.sums[name] += s.cpu()

    def report(self) -> ForecastReport:
        if not self.sums:
            raise ValueError("no batch was added: call update(pred, target, mask) first")
        count = self.sums["count"]

        def pooled(name, dims):
            c = count.sum(dims)
            return torch.where(c > 0, self.sums[name].sum(dims) / c, torch.full_like(c, float("nan")))

        per = {"step": 1, "station": 0, "all": (0, 1)}
        mae = {g: pooled("abs", d) for g, d in per.items()}
        rmse = {g: pooled("sq", d).sqrt() for g, d in per.items()}
        report = ForecastReport(float(mae["all"]), float(rmse["all"]), int(count.sum()), mae["step"], rmse["step"],
                                count.sum(1).long(), mae["station"], rmse["station"])
        if self.samples:
            report.samples = self.samples
            report.crps, report.crps_by_step, report.crps_by_station = (
                float(pooled("crps", per["all"])), pooled("crps", 1), pooled("crps", 0))
            for p in self.levels:
                report.coverage[p] = float(pooled(f"inside {p}", per["all"]))
                report.coverage_by_step[p] = pooled(f"inside {p}", 1)
        return report
