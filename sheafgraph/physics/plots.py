"""Plots of air-quality forecasts: a test window and the 24 h / 72 h forecasts against observations
(:func:`forecast_figure`), and the latest forecast from a checkpoint (:func:`plot_latest_forecast`); sampled
forecasts are drawn as shaded central intervals."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from sheafgraph.data import AirQualityData, ChannelScaler
from sheafgraph.metrics.forecasting import INTERVAL_LEVELS, central_interval, level_name
from sheafgraph.physics.inference import interval_columns
from sheafgraph.physics.recipes import AirData
from sheafgraph.physics.training import forecast, to_device
from sheafgraph.physics.transport import PhysicsGraph


def station_index(data: AirData, station: str) -> int:
    """The index of ``station`` in ``data.stations``; an unknown name is an error listing the stations."""
    if station not in data.stations:
        raise ValueError(f"unknown station {station!r}; stations: {', '.join(data.stations)}")
    return data.stations.index(station)


def _pyplot():
    """matplotlib's pyplot (headless) and its dates module, imported when a plot is drawn."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    return plt, mdates


def _save(fig, path) -> Path:
    """Save a figure as a PNG (creating the folder) and close it."""
    plt, _ = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@torch.no_grad()
def forecast_figure(model: nn.Module, data: AirData, windows: Dataset, graph: PhysicsGraph, scaler: ChannelScaler,
                    station: str, *, label: str = "", window: Optional[int] = None, days: int = 60,
                    device: str = "cpu", samples: int = 0, generator: Optional[torch.Generator] = None):
    """A matplotlib figure: (top) one test window's history, observation and forecast at ``station``; (bottom) the
    observations over the first ``days`` of the windows against the forecasts 24 h and 72 h ahead. With ``samples``
    (a sampling model) both panels shade the central intervals of ``INTERVAL_LEVELS``.

    The forecast is issued at the forecast origin, the end of the input window (the start of the first forecast
    step), and is titled with ``label`` (:func:`~sheafgraph.physics.recipes.model_label`). Times are
    ``data.timestamps`` of a series; windows without timestamps (the AirPhyNet layout) are placed in hours after
    the first window's origin, taking consecutive windows one step apart.
    """
    plt, mdates = _pyplot()
    i = station_index(data, station)
    n_win = min(len(windows), int(days * 24 / data.step_hours))
    w = n_win // 2 if window is None else window
    if not 0 <= w < n_win:
        raise ValueError(f"window must be in [0, {n_win}), got {w}")
    model.eval()
    preds, members, observed, starts = [], [], [], []
    for batch in DataLoader(torch.utils.data.Subset(windows, range(n_win)), batch_size=64):
        out = forecast(model, to_device(batch, device), graph, generator, samples)
        preds.append(out.mean[..., i].cpu())
        if samples:
            members.append(out.samples[..., i].cpu())
        observed.append(torch.cat([torch.where(batch.mask_in[..., i, 0], batch.x_in[..., i, 0], float("nan")),
                                   torch.where(batch.mask_out[..., i], batch.y_out[..., i], float("nan"))], 1))
        starts.append(batch.start)
    pred, obs = (scaler.inverse_transform_target(torch.cat(v).double()).numpy() for v in (preds, observed))
    bands = {p: [scaler.inverse_transform_target(b).numpy() for b in
                 central_interval(torch.cat(members, dim=1).double(), p)] for p in INTERVAL_LEVELS} if samples else {}
    start = torch.cat(starts).numpy()                                      # series index of each window's first step
    t_in, t_out = obs.shape[1] - pred.shape[1], pred.shape[1]
    stamps = getattr(data, "timestamps", None)

    def when(index):
        return stamps[index] if stamps is not None else (index - start[0] - t_in) * data.step_hours

    def at(index):
        return {p: (lower[index], upper[index]) for p, (lower, upper) in bands.items()}

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7))
    origin = start[w] + t_in
    ahead = when(origin + np.arange(t_out))
    ax1.plot(when(start[w] + np.arange(t_in + t_out)), obs[w], "k.-", label="observed")
    ax1.plot(ahead, pred[w], "r.-", label="forecast")
    _shade(ax1, ahead, at(w), "r")
    ax1.axvline(when(origin), color="gray", ls="--")
    issued = str(stamps[origin])[:16] if stamps is not None else f"at the end of window {w}'s input"
    ax1.set_title(f"{station}: {label or type(model).__name__}, forecast issued {issued}")
    # observations: the first output step of every window, then the last window's later steps
    ax2.plot(when(np.concatenate([start + t_in, start[-1] + t_in + np.arange(1, t_out)])),
             np.concatenate([obs[:, t_in], obs[-1, t_in + 1:]]), "k-", lw=0.8, label="observed")
    for lead in (24, 72):
        k = round(lead / data.step_hours) - 1
        if k < t_out:
            line, = ax2.plot(when(start + t_in + k), pred[:, k], lw=0.8, label=f"forecast {lead} h ahead")
            _shade(ax2, when(start + t_in + k), at((slice(None), k)), line.get_color(), named=False)
    for ax in (ax1, ax2):
        ax.set_ylabel("PM2.5 (ug/m3)")
        if stamps is not None:
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        else:
            ax.set_xlabel("hours after the first window's forecast origin (windows taken one step apart)")
        ax.legend()
    fig.tight_layout()
    return fig


def _shade(ax, x, bounds: Dict[float, Tuple], color: str, named: bool = True) -> None:
    """Fill the central intervals ``bounds`` (level -> lower, upper) over ``x``, the wider ones lighter."""
    for j, (p, (lower, upper)) in enumerate(sorted(bounds.items())):
        ax.fill_between(x, lower, upper, color=color, alpha=0.25 / (j + 1), lw=0,
                        label=f"{level_name(p)} interval" if named else None)


def plot_forecast(path: str, model: nn.Module, data: AirData, windows: Dataset, graph: PhysicsGraph,
                  scaler: ChannelScaler, station: str, **options) -> Path:
    """Save :func:`forecast_figure` (same arguments and ``options``) as a PNG at ``path``."""
    return _save(forecast_figure(model, data, windows, graph, scaler, station, **options), path)


def plot_latest_forecast(path: str, table: pd.DataFrame, data: AirQualityData, label: str = "") -> Path:
    """Save a PNG with one panel per station: the latest observed PM2.5 and the forecast of :func:`~sheafgraph.physics.inference.forecast_from_csv`
    (with its 80% and 90% intervals when it has them)."""
    plt, mdates = _pyplot()
    cols = 3
    rows = -(-data.num_stations // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    recent = slice(max(0, data.num_steps - 24), data.num_steps)
    for i, (ax, station) in enumerate(zip(axes.flat, data.stations)):
        rows_i = table[table["station"] == station]
        observed = torch.where(data.mask[recent, i, 0], data.values[recent, i, 0], float("nan")).numpy()
        ax.plot(data.timestamps[recent], observed, "k.-", ms=3, lw=0.8, label="observed")
        ax.plot(rows_i["time"], rows_i["pm25"], "r.-", ms=3, lw=0.8, label="forecast")
        _shade(ax, rows_i["time"], {p: tuple(rows_i[c] for c in interval_columns(p)) for p in INTERVAL_LEVELS
                                    if interval_columns(p)[0] in rows_i}, "r")
        ax.set_title(station, fontsize=9)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    for ax in list(axes.flat)[data.num_stations:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    origin = str(table["time"].min())[:16]
    fig.suptitle(f"PM2.5 (ug/m3) forecast issued {origin}" + (f": {label}" if label else ""))
    fig.tight_layout()
    return _save(fig, path)
