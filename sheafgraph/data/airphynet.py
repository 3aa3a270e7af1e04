r"""The data layout of the AirPhyNet paper (Hettige et al., ICLR 2024; https://github.com/kethmih/AirPhyNet):
forecasting windows cut in advance, without the series they came from.

Files, in one folder: ``train.npz``, ``val.npz`` and ``test.npz``, each holding ``x`` ``(S, T_in, |V|, C)``, the input
windows, and ``y`` ``(S, T_out, |V|, C)``, the steps that follow each of them; and ``station.csv`` with the columns
``station, longitude, latitude``, one row per station in the order of the ``|V|`` axis. The reference code reads
T_in = T_out = 24 steps of 3 hours (72 h ahead) and C = 6 channels, listed in its ``config.yaml`` as PM2.5,
temperature, pressure, humidity, wind speed and wind direction (``AIRPHYNET_CHANNELS``). Its Beijing stations are
the 35 of the KDD Cup 2018 network. The reference does not state the units; this loader reads the wind as a
speed in m/s and a direction in degrees clockwise from north that the wind blows from (the meteorological
convention of the KDD Cup 2018 weather data), and appends the velocity ``wind_u``, ``wind_v`` (m/s toward east and
north; :func:`~sheafgraph.data.prsa.wind_from_degrees`) as two more channels. The files carry no timestamps, so
no clock hour is known (windows have ``hour`` NaN).

Missing values: non-finite entries, and PM2.5 below ``missing_below`` (the reference's masked metrics treat PM2.5
under 1e-4 as missing: gaps were filled with 0), are NaN with ``mask`` False.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sheafgraph.data.air import StationGraph, station_graph
from sheafgraph.data.paths import data_root, require_file
from sheafgraph.data.prsa import wind_from_degrees
from sheafgraph.data.windows import SPLITS, ChannelScaler, Window
from sheafgraph.ops import lonlat_to_km
from sheafgraph.utils.checks import check_choice, positive_int

AIRPHYNET_CHANNELS = ("PM2.5", "temperature", "pressure", "humidity", "wind_speed", "wind_direction")
STATION_COLUMNS = ("station", "longitude", "latitude")
HINT = ("the AirPhyNet layout is train.npz, val.npz and test.npz (arrays x (S, T_in, N, C) and y (S, T_out, N, C)) "
        "with station.csv (columns station, longitude, latitude) in one folder; the reference's Beijing files are "
        "linked from https://github.com/kethmih/AirPhyNet (Data Preparation)")


@dataclass
class WindowedAirData:
    r"""Forecasting windows per split on a station graph: the AirPhyNet layout, read by :func:`load_airphynet`.

    Channel 0 is the target (PM2.5); ``wind_channels`` index the velocity (u east, v north, m/s). Missing values
    are NaN (``mask`` False).

    Shapes:
        x[split]: ``(S, T_in, |V|, C)`` float32; y[split]: ``(S, T_out, |V|, C)``; lon, lat: ``(|V|,)`` float64.
    """
    x: Dict[str, Tensor]
    y: Dict[str, Tensor]
    channels: Tuple[str, ...]
    stations: Tuple[str, ...]
    lon: Tensor
    lat: Tensor
    wind_channels: Tuple[int, int]
    graph: StationGraph
    step_hours: float

    @property
    def pos_km(self) -> Tensor:
        """``(|V|, 2)`` station positions in km (x east, y north) about their mean, float64."""
        return lonlat_to_km(self.lon, self.lat)

    @property
    def num_stations(self) -> int:
        return len(self.stations)

    @property
    def input_steps(self) -> int:
        return self.x["train"].size(1)

    @property
    def output_steps(self) -> int:
        return self.y["train"].size(1)


def load_airphynet(folder: Optional[os.PathLike] = None, *, channels: Sequence[str] = AIRPHYNET_CHANNELS,
                   wind: Tuple[str, str] = ("wind_speed", "wind_direction"), step_hours: float = 3.0,
                   missing_below: Optional[float] = 1e-4, graph_method: str = "threshold",
                   threshold_km: float = 30.0, k: int = 3) -> WindowedAirData:
    r"""Read a folder in the AirPhyNet layout (module docstring) as :class:`WindowedAirData`.

    Args:
        folder: the folder holding the four files (default ``<data root>/air/airphynet``, the data root being
            ``$SHEAFGRAPH_DATA``, else the project's ``datasets/``).
        channels: names of the C channels of ``x`` and ``y`` (the first is the target).
        wind: the channels holding the wind speed (m/s) and the direction it blows from (degrees from north).
        step_hours: hours between steps.
        missing_below: target values below it are missing (None: only non-finite values are).
        graph_method, threshold_km, k: the station graph (:func:`~sheafgraph.data.air.station_graph`).

    Shapes:
        x[split]: ``(S, T_in, |V|, C + 2)``; y[split]: ``(S, T_out, |V|, C + 2)``, the velocity last.
    """
    base = Path(folder) if folder is not None else data_root() / "air" / "airphynet"
    names, lon, lat = _read_stations(require_file(base / "station.csv", HINT))
    channels = tuple(channels)
    missing = [c for c in wind if c not in channels]
    if missing:
        raise ValueError(f"wind channels {missing} are not among channels {channels}")
    speed, direction = (channels.index(c) for c in wind)
    x, y = {}, {}
    for split in SPLITS:
        path = require_file(base / f"{split}.npz", HINT)
        with np.load(path, allow_pickle=False) as arrays:
            absent = [key for key in ("x", "y") if key not in arrays.files]
            if absent:
                raise ValueError(f"{path} has no array {absent[0]!r} (it holds {', '.join(arrays.files)}); {HINT}")
            for key, out in (("x", x), ("y", y)):
                out[split] = _window_array(arrays[key], path, key, len(names), channels, speed, direction,
                                           missing_below)
        if x[split].shape[0] != y[split].shape[0]:
            raise ValueError(f"{path}: x has {x[split].shape[0]} windows but y has {y[split].shape[0]}")
    for key, arrays in (("x", x), ("y", y)):
        lengths = {split: a.shape[1] for split, a in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"the {key} windows differ in length between splits: {lengths}")
    lon_t, lat_t = torch.tensor(lon), torch.tensor(lat)
    return WindowedAirData(x, y, channels + ("wind_u", "wind_v"), names, lon_t, lat_t,
                           (len(channels), len(channels) + 1),
                           station_graph(lon_t, lat_t, graph_method, threshold_km=threshold_km, k=k),
                           float(step_hours))


def _read_stations(path: Path):
    """Station names and lon/lat (float64) of ``station.csv``, checking its columns."""
    table = pd.read_csv(path)
    absent = [c for c in STATION_COLUMNS if c not in table.columns]
    if absent:
        raise ValueError(f"{path} has no column {absent[0]!r}; expected columns {', '.join(STATION_COLUMNS)}, got "
                         f"{', '.join(map(str, table.columns))}")
    if table.empty or table["station"].duplicated().any():
        raise ValueError(f"{path} must list each station once, in the order of the station axis of x and y")
    coords = table[["longitude", "latitude"]].to_numpy(np.float64)
    if not np.isfinite(coords).all():
        raise ValueError(f"{path}: longitude and latitude must be finite numbers")
    return tuple(table["station"].astype(str)), coords[:, 0], coords[:, 1]


def _window_array(array: np.ndarray, path: Path, key: str, num_stations: int, channels: Tuple[str, ...],
                  speed: int, direction: int, missing_below: Optional[float]) -> Tensor:
    """One ``x`` or ``y`` array as float32 with NaN for missing values and the wind velocity appended."""
    if array.ndim != 4 or array.shape[2:] != (num_stations, len(channels)) or min(array.shape) < 1:
        raise ValueError(f"{path}: {key} must have shape (S, T, {num_stations}, {len(channels)}) for the "
                         f"{num_stations} stations of station.csv and the channels {', '.join(channels)}; got "
                         f"{array.shape}")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{path}: {key} must be numeric, got dtype {array.dtype}")
    values = np.where(np.isfinite(array), array, np.nan).astype(np.float64)
    if missing_below is not None:
        values[..., 0] = np.where(values[..., 0] < missing_below, np.nan, values[..., 0])
    velocity = wind_from_degrees(values[..., direction], np.where(values[..., speed] >= 0, values[..., speed], np.nan))
    return torch.from_numpy(np.concatenate([values, velocity], axis=-1).astype(np.float32))


class ArrayWindows(Dataset):
    r"""The windows of one split of :class:`WindowedAirData` as :class:`~sheafgraph.data.windows.Window` samples.

    ``start`` is the window's index in its file; ``hour`` is NaN (the files carry no clock).

    Args:
        data: the windows.
        split: ``"train"``, ``"val"`` or ``"test"``.
        scaler: standardises inputs and target (fit it on the training inputs).
        stride: keep every ``stride``-th window.

    Shapes:
        see :class:`~sheafgraph.data.windows.Window`.
    """

    def __init__(self, data: WindowedAirData, split: str, scaler: ChannelScaler, stride: int = 1):
        check_choice(split, SPLITS, "split")
        positive_int(stride, "stride")
        x, y = data.x[split][::stride], data.y[split][::stride]
        self.input_steps, self.stride = x.size(1), stride
        self.x, self.mask_x = scaler.transform(x), ~torch.isnan(x)
        self.y, self.mask_y = scaler.transform(y)[..., 0], ~torch.isnan(y[..., 0])
        wind = list(data.wind_channels)
        self.wind_x, self.wind_y = x[..., wind], y[..., wind]

    def __len__(self) -> int:
        return self.x.size(0)

    def __getitem__(self, index: int) -> Window:
        if not -len(self) <= index < len(self):
            raise IndexError(f"window {index} out of range for {len(self)} windows")
        i = index % len(self)
        return Window(self.x[i], self.mask_x[i], self.y[i], self.mask_y[i], self.wind_x[i], self.wind_y[i],
                      i * self.stride, float("nan"))


def airphynet_windows(data: WindowedAirData, *, train_stride: int = 1
                      ) -> Tuple[Dict[str, ArrayWindows], ChannelScaler]:
    """A :class:`ArrayWindows` per split with one scaler, fitted on the observed values of the training inputs
    (every channel; the reference scales PM2.5 only)."""
    train = data.x["train"]
    scaler = ChannelScaler.fit(train, ~torch.isnan(train))
    return {split: ArrayWindows(data, split, scaler, train_stride if split == "train" else 1)
            for split in SPLITS}, scaler
