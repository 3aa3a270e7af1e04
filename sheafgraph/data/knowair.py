r"""KnowAir (PM2.5-GNN, Wang et al. 2020): 184 Chinese cities, 3-hourly 2015-2018, 17 ERA5 channels + PM2.5.

Files, under ``<root>/air/``: ``knowair/KnowAir.npy`` (float array ``(T, 184, 18)``, PM2.5 in the LAST channel,
the 17 meteorological channels in ``KNOWAIR_METEO`` order before it) and ``knowair_graph/city.txt`` (index, name,
lon, lat per line) with ``knowair_graph/graph_data.npz`` (``edge_index`` ``(E, 2)`` directed edges in both
directions, ``edge_attr`` ``(E, 3)`` = [1/dist_km, dist_km, direction_deg]). The loader returns the same
:class:`~sheafgraph.data.air.AirQualityData` as the PRSA loader, with PM2.5 moved to channel 0.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import torch

from sheafgraph.data.air import AirQualityData, StationGraph, gaussian_kernel
from sheafgraph.data.paths import data_root, require_file, sha256

# Channel order of KnowAir.npy before PM2.5 (PM2.5-GNN's config.yaml, `metero_var`).
KNOWAIR_METEO = (
    "100m_u_component_of_wind", "100m_v_component_of_wind", "2m_dewpoint_temperature", "2m_temperature",
    "boundary_layer_height", "k_index", "relative_humidity+950", "relative_humidity+975", "specific_humidity+950",
    "surface_pressure", "temperature+925", "temperature+950", "total_precipitation", "u_component_of_wind+950",
    "v_component_of_wind+950", "vertical_velocity+950", "vorticity+950",
)
KNOWAIR_CHANNELS = ("PM2.5",) + KNOWAIR_METEO
SHA256_PREFIX = {"city.txt": "3c8f77ccf6ea8a74", "graph_data.npz": "ae0767f70fe58163"}
NPY_HINT = ("it is the KnowAir dataset of PM2.5-GNN (https://github.com/shuowang-ai/PM2.5-GNN, 'Download dataset "
            "KnowAir'); put KnowAir.npy at <root>/air/knowair/KnowAir.npy")
GRAPH_HINT = ("it is the KnowAir city graph (PM2.5-GNN's 184 cities; edges within 300 km and 1200 m altitude "
              "gap); put city.txt and graph_data.npz in <root>/air/knowair_graph/")


def load_knowair(root: Optional[os.PathLike] = None, *, start: str = "2015-01-01T00:00", step_hours: int = 3,
                 sigma_km: Optional[float] = None, verify: bool = True) -> AirQualityData:
    r"""Load a KnowAir-layout array as a ``(T, 184, 18)`` series on the KnowAir city graph.

    Channels: ``KNOWAIR_CHANNELS`` = PM2.5 (target, channel 0) then ``KNOWAIR_METEO``; the wind is the 950 hPa
    ERA5 velocity (``u_component_of_wind+950``, ``v_component_of_wind+950``; m/s toward east and north). Non-finite
    entries are missing (``mask`` False, value NaN). Edge distances are the file's ``dist_km``; edge weights are
    :func:`~sheafgraph.data.air.gaussian_kernel` of them, as for the PRSA station graph.

    Args:
        root: data directory (default ``$SHEAFGRAPH_DATA``, else the project's ``datasets/``).
        start: time of the first step (KnowAir: 2015-01-01 00:00 UTC); timestamps are tz-naive.
        step_hours: hours between steps.
        sigma_km: edge kernel width (default: mean edge length).
        verify: check the graph files' sha256 against the released ones.

    Shapes:
        values, mask: ``(T, |V|, 18)``; edge_index ``(2, |E|)`` (3,834 edges for the released graph).
    """
    base = data_root(root) / "air"
    npy = require_file(base / "knowair" / "KnowAir.npy", NPY_HINT)
    city_file = require_file(base / "knowair_graph" / "city.txt", GRAPH_HINT)
    graph_file = require_file(base / "knowair_graph" / "graph_data.npz", GRAPH_HINT)
    if verify:
        for path in (city_file, graph_file):
            digest = sha256(path)
            if not digest.startswith(SHA256_PREFIX[path.name]):
                raise ValueError(f"{path} has sha256 {digest[:16]}..., expected {SHA256_PREFIX[path.name]}...; "
                                 "pass verify=False to load it anyway")
    names, lon, lat = _read_cities(city_file)
    array = np.load(npy, allow_pickle=False)
    if array.ndim != 3 or array.shape[1:] != (len(names), len(KNOWAIR_CHANNELS)):
        raise ValueError(f"{npy} must have shape (T, {len(names)}, {len(KNOWAIR_CHANNELS)}) for the "
                         f"{len(names)} cities of {city_file}, got {array.shape}")
    values = torch.from_numpy(np.concatenate([array[..., -1:], array[..., :-1]], axis=-1).astype(np.float32))
    mask = torch.isfinite(values)
    values[~mask] = float("nan")
    wind_u = KNOWAIR_CHANNELS.index("u_component_of_wind+950")
    return AirQualityData(
        values=values, mask=mask, channels=KNOWAIR_CHANNELS, stations=names, lon=torch.tensor(lon),
        lat=torch.tensor(lat),
        timestamps=(pd.Timestamp(start) + pd.to_timedelta(np.arange(array.shape[0]) * step_hours, unit="h")).to_numpy(),
        wind_channels=(wind_u, wind_u + 1), graph=_read_graph(graph_file, len(names), sigma_km),
        step_hours=float(step_hours),
    )


def _read_cities(path: Path):
    """City names and lon/lat (float64) from ``index name lon lat`` lines, checking the indices run 0..N-1."""
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    bad = [i for i, r in enumerate(rows) if len(r) != 4 or r[0] != str(i)]
    if bad:
        raise ValueError(f"{path} line {bad[0] + 1}: expected 'index name lon lat' with index {bad[0]}")
    return (tuple(r[1] for r in rows), np.array([float(r[2]) for r in rows]),
            np.array([float(r[3]) for r in rows]))


def _read_graph(path: Path, num_nodes: int, sigma_km: Optional[float]) -> StationGraph:
    with np.load(path, allow_pickle=False) as z:
        edge_index, edge_attr = z["edge_index"], z["edge_attr"]
    if edge_index.ndim != 2 or edge_index.shape[1] != 2 or edge_attr.shape != (edge_index.shape[0], 3):
        raise ValueError(f"{path}: expected edge_index (E, 2) and edge_attr (E, 3), got {edge_index.shape} and "
                         f"{edge_attr.shape}")
    if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
        raise ValueError(f"{path}: edge_index has node ids outside [0, {num_nodes})")
    distance = torch.tensor(edge_attr[:, 1], dtype=torch.float64)
    return StationGraph(torch.tensor(edge_index.T, dtype=torch.long), gaussian_kernel(distance, sigma_km), distance)
