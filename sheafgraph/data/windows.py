r"""Forecasting windows on an :class:`~sheafgraph.data.air.AirQualityData` series.

The AirPhyNet protocol: 24 input steps -> 24 output steps (72 h at 3-hour steps), a chronological 7:1:2
train/val/test split in which no window crosses a split boundary, and per-channel standardisation fitted on the
observed training values only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sheafgraph.data.air import AirQualityData
from sheafgraph.utils.checks import positive_int

SPLITS = ("train", "val", "test")


def chronological_split(num_steps: int, ratios: Sequence[float] = (0.7, 0.1, 0.2)) -> Dict[str, slice]:
    r"""Consecutive train/val/test ranges of ``num_steps`` time steps in proportion to ``ratios``.

    Boundaries are :math:`\lfloor T \cdot \sum_{s \le i} r_s / \sum_s r_s \rfloor`; T = 11,688 gives
    8,181 / 1,169 / 2,338 steps.
    """
    r = np.asarray(ratios, dtype=np.float64)
    if r.shape != (3,) or not bool((r > 0).all()):
        raise ValueError(f"ratios must be three positive numbers (train, val, test), got {tuple(ratios)}")
    cuts = [0] + [int(np.floor(num_steps * c + 1e-9)) for c in np.cumsum(r) / r.sum()]
    return {name: slice(a, b) for name, a, b in zip(SPLITS, cuts[:-1], cuts[1:])}


@dataclass
class ChannelScaler:
    r"""Per-channel standardisation :math:`(x - \mu_c) / \sigma_c` with statistics of the observed values only.

    :math:`\sigma_c` is the population standard deviation (1 for a constant channel), as sklearn's StandardScaler.

    Shapes:
        mean, std: ``(C,)`` float64; transforms act on ``(*, C)``.
    """
    mean: Tensor
    std: Tensor

    @classmethod
    def fit(cls, values: Tensor, mask: Tensor) -> "ChannelScaler":
        """Fit on the entries of ``values`` ``(*, C)`` where ``mask`` is True (e.g. the training steps only)."""
        if values.shape != mask.shape or mask.dtype != torch.bool:
            raise ValueError(f"mask must be bool with the shape of values {tuple(values.shape)}, got "
                             f"{mask.dtype} {tuple(mask.shape)}")
        v = torch.where(mask, values.double(), 0.0).reshape(-1, values.size(-1))
        m = mask.reshape(-1, values.size(-1))
        count = m.sum(0)
        if bool((count == 0).any()):
            raise ValueError(f"channels {(count == 0).nonzero().flatten().tolist()} have no observed value to fit on")
        mean = v.sum(0) / count
        var = torch.where(m, (v - mean).square(), 0.0).sum(0) / count
        std = var.sqrt()
        return cls(mean, torch.where(std > 0, std, torch.ones_like(std)))

    def transform(self, x: Tensor) -> Tensor:
        return ((x - self.mean) / self.std).to(x.dtype)

    def inverse_transform(self, x: Tensor) -> Tensor:
        return (x * self.std + self.mean).to(x.dtype)

    def inverse_transform_target(self, y: Tensor, channel: int = 0) -> Tensor:
        """Undo the scaling of one channel (default the target, channel 0) on a tensor of any shape."""
        return (y * self.std[channel] + self.mean[channel]).to(y.dtype)


class Window(NamedTuple):
    """One forecasting sample; NaN marks missing values (use the masks). ``start`` is the series index of the
    first input step, so the window covers ``timestamps[start : start + input_steps + output_steps]``; ``hour`` is
    the clock hour (0 <= h < 24) at the forecast origin, the end of the input window (= start of the first output
    step)."""
    x_in: Tensor        # (T_in, |V|, C)  all channels, scaled
    mask_in: Tensor     # (T_in, |V|, C)  bool
    y_out: Tensor       # (T_out, |V|)    target channel, scaled unless scale_target=False
    mask_out: Tensor    # (T_out, |V|)    bool
    wind_in: Tensor     # (T_in, |V|, 2)  m/s, u east v north, unscaled
    wind_out: Tensor    # (T_out, |V|, 2)
    start: int
    hour: float


class ForecastWindows(Dataset):
    r"""Sliding windows of ``input_steps`` + ``output_steps`` consecutive steps inside one time range.

    Args:
        data: the series.
        steps: the time range (e.g. ``chronological_split(T)["train"]``); windows never leave it.
        input_steps, output_steps: window lengths.
        scaler: standardises ``x_in`` and ``y_out`` (fit it on the training range); None keeps raw units.
        scale_target: scale ``y_out`` too (undo with ``scaler.inverse_transform_target``).
        stride: steps between consecutive window starts.

    Shapes:
        see :class:`Window`; a DataLoader adds a leading batch dimension ``B``.
    """

    def __init__(self, data: AirQualityData, steps: slice = slice(None), *, input_steps: int = 24,
                 output_steps: int = 24, scaler: Optional[ChannelScaler] = None, scale_target: bool = True,
                 stride: int = 1):
        for name, value in (("input_steps", input_steps), ("output_steps", output_steps), ("stride", stride)):
            positive_int(value, name)
        lo, hi, step = steps.indices(data.num_steps)
        if step != 1:
            raise ValueError(f"steps must be a contiguous range, got {steps}")
        self.window = input_steps + output_steps
        _require_window(input_steps, output_steps, data.num_steps)
        if self.window > hi - lo:
            raise ValueError(f"a window of {input_steps} + {output_steps} steps does not fit in the range "
                             f"[{lo}, {hi}) of {hi - lo} steps")
        self.offset, self.input_steps, self.stride = lo, input_steps, stride
        self.length = (hi - lo - self.window) // stride + 1
        values = data.values[lo:hi]
        scaled = values if scaler is None else scaler.transform(values)
        target = scaled if scale_target else values
        self.x, self.mask, self.y, self.wind = scaled, data.mask[lo:hi], target[..., 0], data.wind[lo:hi]
        self.hour = data.hour_of_day[lo:hi]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Window:
        if not -self.length <= index < self.length:
            raise IndexError(f"window {index} out of range for {self.length} windows")
        a = (index % self.length) * self.stride
        b, c = a + self.input_steps, a + self.window
        return Window(self.x[a:b], self.mask[a:b], self.y[b:c], self.mask[b:c, :, 0], self.wind[a:b],
                      self.wind[b:c], self.offset + a, float(self.hour[b]))


def forecast_windows(data: AirQualityData, *, input_steps: int = 24, output_steps: int = 24,
                     ratios: Sequence[float] = (0.7, 0.1, 0.2), stride: int = 1
                     ) -> Tuple[Dict[str, ForecastWindows], ChannelScaler]:
    """The AirPhyNet protocol in one call: chronological split, scaler fitted on the training steps' observed
    values, and a :class:`ForecastWindows` per split (keys ``"train"``, ``"val"``, ``"test"``)."""
    _require_window(input_steps, output_steps, data.num_steps)
    ranges = chronological_split(data.num_steps, ratios)
    train = ranges["train"]
    scaler = ChannelScaler.fit(data.values[train], data.mask[train])
    return {name: ForecastWindows(data, r, input_steps=input_steps, output_steps=output_steps, scaler=scaler,
                                  stride=stride) for name, r in ranges.items()}, scaler


def _require_window(input_steps: int, output_steps: int, num_steps: int) -> None:
    if input_steps + output_steps > num_steps:
        raise ValueError(f"a window of {input_steps} + {output_steps} steps is longer than the series "
                         f"({num_steps} steps)")
