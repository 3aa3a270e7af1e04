r"""Forecasting baselines with the forecasters' shared call (:class:`~sheafgraph.physics.forecaster.Forecaster`):
``model(x, mask, *, graph, wind_in, wind_out, start, hour, samples, generator) -> Forecast``.

* :class:`Persistence`: each station's last observed target value, repeated over the horizon.
* :class:`HistoricalAverage`: the training mean of each station's target at the target's hour of day.
* :class:`GRUForecaster`: a GRU shared across stations, without any graph, mapping the input window directly to
  all output steps (optionally also reading the station's observed future wind, the control for AirPhyNet's
  ``wind_mode="future"``).

All work in the scaled units of their inputs; the target is channel 0.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from sheafgraph.physics.forecaster import Forecast, ForecastInputs, Forecaster, station_sequences
from sheafgraph.physics.wind import MS_TO_KMH, forecast_wind, forward_fill
from sheafgraph.utils.checks import positive_int


class Persistence(Forecaster):
    r""":math:`\hat y_{t_k, i} = y_{\tau_i, i}` with :math:`\tau_i` the last input step at which station i's target
    is observed (0, the training mean after scaling, if it never is).

    Shapes:
        x, mask: ``(B, T_in, |V|, C)``; returns mean ``(B, T_out, |V|)``.
    """

    def __init__(self, output_steps: int = 24):
        super().__init__()
        self.output_steps = positive_int(output_steps, "output_steps")

    def predict(self, x: Tensor, mask: Tensor, inputs: ForecastInputs) -> Forecast:
        target = torch.where(mask[..., :1], x[..., :1], float("nan"))                  # (B, T_in, |V|, 1)
        last = forward_fill(target)[:, -1, :, 0]                                          # (B, |V|)
        return Forecast(last.unsqueeze(1).expand(-1, self.output_steps, -1), x.new_zeros(()), 0)


class HistoricalAverage(Forecaster):
    r""":math:`\hat y_{t, i} = \mathrm{mean}\{y_{s, i} : s \text{ a training step}, h(s) = h(t)\}`, h the hour of day.

    A (station, hour) pair without training observations falls back to the station's training mean, then to 0.

    Args:
        target: the scaled target series.
        mask: where it is observed.
        hour: hour of day (0-23) of every step of the series.
        train: the training steps (only these are averaged).
        output_steps: T_out.

    Shapes:
        target, mask: ``(T, |V|)``; hour: ``(T,)`` long; forward needs ``start (B,)``, the series index of each
        window's first input step, and returns mean ``(B, T_out, |V|)``.
    """

    def __init__(self, target: Tensor, mask: Tensor, hour: Tensor, train: slice, output_steps: int = 24):
        super().__init__()
        if target.dim() != 2 or mask.shape != target.shape or hour.shape != target.shape[:1]:
            raise ValueError(f"target and mask must be (T, |V|) and hour (T,), got {tuple(target.shape)}, "
                             f"{tuple(mask.shape)}, {tuple(hour.shape)}")
        y, m, h = target[train].double(), mask[train], hour[train]
        values = torch.where(m, y, 0.0)
        total = values.new_zeros(24, y.size(1)).index_add_(0, h, values)
        count = values.new_zeros(24, y.size(1)).index_add_(0, h, m.double())
        station_mean = values.sum(0) / m.sum(0).clamp_min(1)
        table = torch.where(count > 0, total / count.clamp_min(1), station_mean)
        self.register_buffer("table", table.to(target.dtype))        # (24, |V|)
        self.register_buffer("hour", hour.long())                     # (T,)
        self.output_steps = positive_int(output_steps, "output_steps")

    def predict(self, x: Tensor, mask: Tensor, inputs: ForecastInputs) -> Forecast:
        start = inputs.start
        if start is None:
            raise ValueError("HistoricalAverage needs start (B,), the series index of each window's first step")
        steps = torch.as_tensor(start).view(-1, 1) + x.size(1) + torch.arange(self.output_steps)
        if int(steps.max()) >= self.hour.numel() or int(steps.min()) < 0:
            raise ValueError(f"forecast steps {int(steps.min())}..{int(steps.max())} lie outside the series of "
                             f"{self.hour.numel()} steps the average was fitted on")
        return Forecast(self.table[self.hour[steps]].to(x.dtype), x.new_zeros(()), 0)


class GRUForecaster(Forecaster):
    r"""GRU without graph: :math:`h_i = \mathrm{GRU}([x_i \odot m_i, m_i])`, :math:`\hat y_i = W [h_i, w_i] + b`
    (all T_out steps at once), one network shared by all stations.

    With ``future_wind``, :math:`w_i` is station i's observed wind over the T_out output steps (the schedule of
    :func:`sheafgraph.physics.wind.forecast_wind` with ``mode="future"``, in units of 10 m/s); otherwise it is empty.

    Args:
        in_channels: C.
        output_steps: T_out.
        hidden_dim: GRU width.
        num_layers: stacked GRU layers.
        future_wind: also read the observed future wind (needs ``wind_in`` and ``wind_out`` in the call).

    Shapes:
        x, mask: ``(B, T_in, |V|, C)``; wind_in ``(B, T_in, |V|, 2)``, wind_out ``(B, T_out, |V|, 2)`` in m/s;
        returns mean ``(B, T_out, |V|)``.
    """

    def __init__(self, in_channels: int, output_steps: int = 24, hidden_dim: int = 32, num_layers: int = 1,
                 future_wind: bool = False):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("output_steps", output_steps), ("hidden_dim", hidden_dim),
                            ("num_layers", num_layers)):
            positive_int(value, name)
        self.in_channels, self.output_steps, self.future_wind = in_channels, output_steps, future_wind
        self.gru = nn.GRU(2 * in_channels, hidden_dim, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_dim + (2 * output_steps if future_wind else 0), output_steps)

    def predict(self, x: Tensor, mask: Tensor, inputs: ForecastInputs) -> Forecast:
        wind_in, wind_out = inputs.wind_in, inputs.wind_out
        b, _, n, _ = x.shape
        _, h = self.gru(station_sequences(x, mask))
        features = h[-1]                                                              # (B |V|, H)
        if self.future_wind:
            if wind_in is None or wind_out is None:
                raise ValueError("GRUForecaster(future_wind=True) needs wind_in and wind_out (m/s)")
            wind = forecast_wind(wind_in, wind_out, "future") / (10 * MS_TO_KMH)      # (B, T_out, |V|, 2)
            if wind.shape[1] != self.output_steps:
                raise ValueError(f"wind_out has {wind.shape[1]} steps, the model forecasts {self.output_steps}")
            features = torch.cat([features, wind.permute(0, 2, 1, 3).reshape(b * n, -1).to(features.dtype)], -1)
        y = self.head(features).view(b, n, self.output_steps).transpose(1, 2)
        return Forecast(y, x.new_zeros(()), 0)
