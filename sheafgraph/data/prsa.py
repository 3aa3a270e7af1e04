r"""UCI "Beijing Multi-Site Air-Quality" data (Zhang et al., 2017): 12 stations, hourly, 2013-03 to 2017-02.

Files, under ``<root>/air/``: ``prsa_beijing/PRSA_Data_<Station>_20130301-20170228.csv`` (the UCI release,
unchanged) and ``kdd2018_beijing/station.csv`` (station coordinates of the KDD Cup 2018 Beijing network, the same
monitoring stations). The loader merges the stations on time, averages blocks of ``step_hours`` hours (the mean
over the observed hours; a block with none observed stays missing) and keeps every missing value as NaN with
``mask`` False, never zero-filled.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from sheafgraph.data.air import AirQualityData, station_graph
from sheafgraph.data.paths import data_root, require_file, sha256
from sheafgraph.utils.checks import positive_int

# PRSA station name -> KDD Cup 2018 station id (Changping is spelled "pingchang" in the KDD file).
PRSA_STATIONS = {
    "Aotizhongxin": "aotizhongxin_aq", "Changping": "pingchang_aq", "Dingling": "dingling_aq",
    "Dongsi": "dongsi_aq", "Guanyuan": "guanyuan_aq", "Gucheng": "gucheng_aq", "Huairou": "huairou_aq",
    "Nongzhanguan": "nongzhanguan_aq", "Shunyi": "shunyi_aq", "Tiantan": "tiantan_aq", "Wanliu": "wanliu_aq",
    "Wanshouxigong": "wanshouxigong_aq",
}
MEASURED = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3", "TEMP", "PRES", "DEWP", "RAIN", "WSPM")
PRSA_CHANNELS = MEASURED + ("wind_u", "wind_v")
COMPASS_16 = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW")

# First 16 hex digits of the sha256 of the files as released (see the data's MANIFEST.txt).
SHA256_PREFIX = {
    "Aotizhongxin": "719312ca8fc53539", "Changping": "a2e21402a6d95fb7", "Dingling": "3d8dff81f18a80d9",
    "Dongsi": "9c0020214425e5ee", "Guanyuan": "59390fee3b032597", "Gucheng": "10ae48801ea55869",
    "Huairou": "812dcbe848b3ba2c", "Nongzhanguan": "572cf87b65ef543c", "Shunyi": "520b59e4ead3b0cf",
    "Tiantan": "0743e34799cf1ee3", "Wanliu": "0b1a6d754a07f0de", "Wanshouxigong": "ab1d6a356d6997a4",
    "station.csv": "0eb4f2e64cd82a39",
}
PRSA_HINT = ("it is part of the UCI 'Beijing Multi-Site Air-Quality Data' release "
             "(https://archive.ics.uci.edu/dataset/501/beijing+multi+site+air+quality+data): unzip the 12 "
             "PRSA_Data_*_20130301-20170228.csv files into <root>/air/prsa_beijing/")
STATION_HINT = ("it lists the KDD Cup 2018 Beijing air-quality stations (columns station, longitude, latitude); "
                "put it at <root>/air/kdd2018_beijing/station.csv")


def wind_vector(direction: Sequence, speed: Sequence) -> np.ndarray:
    r"""Velocity (u east, v north) of the air from a compass wind direction and a speed.

    The 16 points of ``COMPASS_16`` are 22.5 degrees apart clockwise from north (N = 0, E = 90); the velocity is
    :func:`wind_from_degrees` of those angles. A missing direction (None, NaN, empty) gives NaN unless the speed is
    exactly 0 (calm); a missing speed gives NaN.

    Args:
        direction: 16-point compass strings (``COMPASS_16``) or missing values.
        speed: wind speed (any unit; the result has the same unit), non-negative.

    Shapes:
        direction, speed: ``(*,)`` equal shapes; returns ``(*, 2)`` float64.
    """
    direction = np.asarray(direction, dtype=object)
    if direction.shape != np.shape(speed):
        raise ValueError(f"direction and speed must have the same shape, got {direction.shape} and "
                         f"{np.shape(speed)}")
    flat = pd.Series(direction.ravel()).replace("", None)
    degrees = flat.map({d: 22.5 * i for i, d in enumerate(COMPASS_16)}).to_numpy(np.float64)
    unknown = flat.notna().to_numpy() & np.isnan(degrees)
    if unknown.any():
        bad = sorted({str(x) for x in flat[unknown]})
        raise ValueError(f"unknown wind directions {bad}; valid: {', '.join(COMPASS_16)}")
    return wind_from_degrees(degrees.reshape(direction.shape), speed)


def wind_from_degrees(degrees: Sequence, speed: Sequence) -> np.ndarray:
    r"""Velocity (u east, v north) of the air from a wind direction in degrees and a speed.

    Meteorological convention: the direction is where the wind blows FROM, at :math:`\theta` degrees clockwise
    from north (N = 0, E = 90). The air moves toward :math:`\theta + 180`: :math:`u = -s\sin\theta`,
    :math:`v = -s\cos\theta`; a north wind of speed s gives (0, -s). A missing direction (NaN, or outside
    [0, 360], as the codes some networks use for variable winds) gives NaN unless the speed is exactly 0 (calm:
    the velocity is 0 whatever the direction); a missing speed gives NaN.

    Args:
        degrees: directions the wind blows from, clockwise from north.
        speed: wind speed (any unit; the result has the same unit), non-negative.

    Shapes:
        degrees, speed: ``(*,)`` equal shapes; returns ``(*, 2)`` float64.
    """
    degrees = np.asarray(degrees, dtype=np.float64)
    speed = np.asarray(speed, dtype=np.float64)
    if degrees.shape != speed.shape:
        raise ValueError(f"direction and speed must have the same shape, got {degrees.shape} and {speed.shape}")
    if bool((speed < 0).any()):
        raise ValueError(f"wind speed must be non-negative, got minimum {np.nanmin(speed)}")
    theta = np.deg2rad(np.where((degrees >= 0) & (degrees <= 360), degrees, np.nan))
    uv = -speed[..., None] * np.stack([np.sin(theta), np.cos(theta)], axis=-1)
    uv[speed == 0] = 0.0
    return uv


def load_prsa_beijing(root: Optional[os.PathLike] = None, *, stations: Optional[Sequence[str]] = None,
                      step_hours: int = 3, graph_method: str = "threshold", threshold_km: float = 30.0, k: int = 3,
                      verify: bool = True) -> AirQualityData:
    r"""Load the PRSA Beijing stations as a ``(T, |V|, 13)`` series on a distance graph.

    Channels: ``PRSA_CHANNELS`` = PM2.5 (target, channel 0), PM10, SO2, NO2, CO, O3 (ug/m3; CO too), TEMP, DEWP
    (deg C), PRES (hPa), RAIN (mm/h), WSPM (m/s), and the wind velocity ``wind_u``, ``wind_v`` (m/s, toward east
    and north; :func:`wind_vector`). Each step is the mean over the observed hours of a block of ``step_hours``
    hours starting at 00:00 local time (Beijing); the wind is averaged as a vector.

    Args:
        root: data directory (default ``$SHEAFGRAPH_DATA``, else the project's ``datasets/``).
        stations: PRSA station names to load, in this order (default all 12 in ``PRSA_STATIONS`` order).
        step_hours: block length in hours (1 keeps the hourly series).
        graph_method, threshold_km, k: passed to :func:`sheafgraph.data.air.station_graph`.
        verify: check the files' sha256 against the released data.

    Shapes:
        values, mask: ``(T, |V|, 13)``; T = 11,688 for all 3-hour blocks of the full release.
    """
    names = list(PRSA_STATIONS) if stations is None else list(stations)
    unknown = [s for s in names if s not in PRSA_STATIONS]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f"stations must be distinct names among {', '.join(PRSA_STATIONS)}; got {names}")
    positive_int(step_hours, "step_hours")
    base = data_root(root) / "air"
    station_file = require_file(base / "kdd2018_beijing" / "station.csv", STATION_HINT)
    files = [require_file(base / "prsa_beijing" / f"PRSA_Data_{s}_20130301-20170228.csv", PRSA_HINT) for s in names]
    if verify:
        for key, path in zip(names + ["station.csv"], files + [station_file]):
            _check_sha256(path, SHA256_PREFIX[key])
    lon, lat = _coordinates(station_file, [PRSA_STATIONS[s] for s in names])
    values, timestamps = prsa_series(files, names, step_hours)
    lon_t, lat_t = torch.tensor(lon), torch.tensor(lat)
    return AirQualityData(
        values=values, mask=~torch.isnan(values), channels=PRSA_CHANNELS, stations=tuple(names), lon=lon_t,
        lat=lat_t, timestamps=timestamps, wind_channels=(len(MEASURED), len(MEASURED) + 1),
        graph=station_graph(lon_t, lat_t, graph_method, threshold_km=threshold_km, k=k),
        step_hours=float(step_hours),
    )


def prsa_series(files: Sequence[os.PathLike], names: Sequence[str], step_hours: int = 3):
    r"""Station CSVs in the UCI PRSA format merged on time into blocks of ``step_hours`` hours.

    Each block is the mean over its observed hours (a block with none observed stays NaN), from the first block
    start (a multiple of ``step_hours`` after midnight) to the end of the last observed hour; the wind is averaged as
    a vector (:func:`wind_vector`). Channels: ``PRSA_CHANNELS``.

    Args:
        files: one CSV per station (columns year, month, day, hour, the ``MEASURED`` channels and wd).
        names: the station names, in the order of ``files`` (for error messages).
        step_hours: block length in hours.

    Shapes:
        returns values ``(T, |V|, 13)`` float32 (NaN where missing) and the blocks' start times ``(T,)``
        (numpy datetime64).
    """
    frames = [_read_station(Path(path)) for path in files]

    # Merge on time: one hourly grid from the first block start to the end of the last block.
    start = min(f.index[0] for f in frames).floor(f"{step_hours}h")
    hours = int((max(f.index[-1] for f in frames) - start) / pd.Timedelta(hours=1)) + 1
    hours += -hours % step_hours
    hourly = np.full((hours, len(names), len(PRSA_CHANNELS)), np.nan)
    for i, frame in enumerate(frames):
        rows = ((frame.index - start) / pd.Timedelta(hours=1)).to_numpy().astype(np.int64)
        hourly[rows, i, :len(MEASURED)] = frame[list(MEASURED)].to_numpy()
        hourly[rows, i, len(MEASURED):] = wind_vector(frame["wd"].to_numpy(), frame["WSPM"].to_numpy())

    # Block means over the observed hours; an all-missing block stays NaN.
    blocks = hourly.reshape(hours // step_hours, step_hours, len(names), len(PRSA_CHANNELS))
    count = np.isfinite(blocks).sum(axis=1)
    total = np.where(np.isfinite(blocks), blocks, 0.0).sum(axis=1)
    values = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    empty = [s for i, s in enumerate(names) if count[:, i, 0].sum() == 0]
    if empty:
        raise ValueError(f"station(s) {empty} have no observed PM2.5 value; drop them with `stations=`")
    timestamps = (start + pd.to_timedelta(np.arange(values.shape[0]) * step_hours, unit="h")).to_numpy()
    return torch.from_numpy(values.astype(np.float32)), timestamps


def prsa_station_files(folder: os.PathLike, names: Sequence[str]) -> List[Path]:
    """The CSV of each station in ``folder``: the one file named ``PRSA_Data_<name>_*.csv`` (any date range), in
    the order of ``names``; raises FileNotFoundError naming a station without one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {folder} not found")
    files = []
    for name in names:
        found = sorted(folder.glob(f"PRSA_Data_{name}_*.csv"))
        if len(found) != 1:
            what = "no file" if not found else f"{len(found)} files ({', '.join(p.name for p in found)})"
            raise FileNotFoundError(f"{folder} has {what} matching PRSA_Data_{name}_*.csv: put exactly one CSV of "
                                    f"station {name} in the UCI PRSA format there")
        files.append(found[0])
    return files


def _read_station(path: Path) -> pd.DataFrame:
    """One station CSV as a time-indexed frame of the measured columns and ``wd`` (blank fields -> NaN)."""
    frame = pd.read_csv(path, usecols=["year", "month", "day", "hour", *MEASURED, "wd"], na_values=[" "],
                        dtype={**{c: np.float64 for c in MEASURED}, "wd": object})
    frame.index = pd.to_datetime(frame[["year", "month", "day", "hour"]])
    if frame.index.has_duplicates or not frame.index.is_monotonic_increasing:
        raise ValueError(f"{path}: hours must be unique and in increasing order")
    return frame


def _coordinates(path: Path, ids: Sequence[str]):
    """Longitude and latitude (float64 arrays) of the KDD station ids, in the order given."""
    table = pd.read_csv(path).set_index("station")
    missing = [s for s in ids if s not in table.index]
    if missing:
        raise ValueError(f"{path} has no coordinates for {missing}")
    rows = table.loc[list(ids)]
    return rows["longitude"].to_numpy(np.float64), rows["latitude"].to_numpy(np.float64)


def _check_sha256(path: Path, prefix: str) -> None:
    digest = sha256(path)
    if not digest.startswith(prefix):
        raise ValueError(f"{path} has sha256 {digest[:16]}..., expected {prefix}...: it differs from the released "
                         "file; pass verify=False to load it anyway")
