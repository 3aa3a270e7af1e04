r"""Air-quality station data: the container every air loader returns, and the station graph built from distances.

Loaders: :func:`sheafgraph.data.prsa.load_prsa_beijing` (UCI Beijing multi-site, 12 stations) and
:func:`sheafgraph.data.knowair.load_knowair` (KnowAir layout, 184 cities). Forecasting windows:
:mod:`sheafgraph.data.windows`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from sheafgraph.ops import lonlat_to_km
from sheafgraph.utils.checks import check_choice, int_in_range, positive_float

GRAPH_METHODS = ("threshold", "knn")


class StationGraph(NamedTuple):
    """Undirected station graph stored as directed edges in both directions, without self-loops.

    Shapes:
        edge_index: ``(2, |E|)`` long; edge_weight, distance_km: ``(|E|,)`` float64.
    """
    edge_index: Tensor
    edge_weight: Tensor
    distance_km: Tensor


def gaussian_kernel(distance_km: Tensor, sigma_km: Optional[float] = None) -> Tensor:
    r"""Edge weights :math:`w_{ij} = \exp(-d_{ij}^2 / (2\sigma^2))` from distances in km.

    Args:
        distance_km: edge lengths.
        sigma_km: kernel width; default the mean edge length, so a typical edge weighs :math:`e^{-1/2} \approx 0.61`.

    Shapes:
        distance_km: ``(|E|,)``; returns ``(|E|,)``.
    """
    distance_km = torch.as_tensor(distance_km, dtype=torch.float64)
    if distance_km.numel() == 0:
        return distance_km.clone()
    sigma = positive_float(float(distance_km.mean()) if sigma_km is None else float(sigma_km), "sigma_km")
    return torch.exp(-distance_km.square() / (2.0 * sigma * sigma))


def station_graph(lon: Tensor, lat: Tensor, method: str = "threshold", threshold_km: float = 30.0, k: int = 3,
                  sigma_km: Optional[float] = None) -> StationGraph:
    r"""Distance graph of stations: pairs within ``threshold_km``, or each station's ``k`` nearest (symmetrised).

    Distances are Euclidean in the local equirectangular projection :func:`sheafgraph.ops.lonlat_to_km` (good to
    well under 1% over a city); weights are :func:`gaussian_kernel` of the distance. The kNN relation is made
    symmetric by union (i ~ j if j is among i's k nearest or i among j's), so a station may have more than k
    neighbours. The default 30 km is the smallest round threshold that connects the 12 PRSA Beijing stations.

    Args:
        lon, lat: station coordinates in degrees.
        method: ``"threshold"`` or ``"knn"``.
        threshold_km: maximum edge length for ``"threshold"``.
        k: neighbours per station for ``"knn"`` (1 <= k < ``|V|``).
        sigma_km: kernel width (default: mean edge length).

    Shapes:
        lon, lat: ``(|V|,)``; returns edge_index ``(2, |E|)`` sorted by source then target, weights and
        distances ``(|E|,)``.
    """
    check_choice(method, GRAPH_METHODS, "graph method")
    pos = lonlat_to_km(lon, lat)
    n = pos.size(0)
    dist = torch.cdist(pos, pos)
    dist.fill_diagonal_(float("inf"))
    if method == "threshold":
        positive_float(threshold_km, "threshold_km")
        adj = dist <= threshold_km
    else:
        int_in_range(k, "k", 1, n - 1, f"for {n} stations")
        nearest = dist.topk(k, dim=1, largest=False).indices
        adj = torch.zeros(n, n, dtype=torch.bool).scatter_(1, nearest, True)
        adj |= adj.t().clone()
    edge_index = adj.nonzero().t()
    if edge_index.size(1) == 0 and n > 1:
        raise ValueError(f"no pair of the {n} stations lies within threshold_km={threshold_km}")
    distance = dist[edge_index[0], edge_index[1]]
    return StationGraph(edge_index, gaussian_kernel(distance, sigma_km), distance)


@dataclass
class AirQualityData:
    r"""A multivariate time series on a station graph, with missing values kept as NaN and flagged in ``mask``.

    Channel 0 is the forecasting target (PM2.5). ``wind`` is the velocity the air moves toward (u east, v north,
    m/s), read from the two ``wind_channels``; it is NaN where unobserved.

    Shapes:
        values, mask: ``(T, |V|, C)`` float32 / bool; timestamps: ``(T,)`` numpy datetime64; lon, lat: ``(|V|,)``
        float64; wind: ``(T, |V|, 2)``.
    """
    values: Tensor
    mask: Tensor
    channels: Tuple[str, ...]
    stations: Tuple[str, ...]
    lon: Tensor
    lat: Tensor
    timestamps: np.ndarray
    wind_channels: Tuple[int, int]
    graph: StationGraph
    step_hours: float

    def __post_init__(self):
        if self.values.dim() != 3 or self.values.dtype != torch.float32:
            raise ValueError(f"values must be float32 (T, N, C), got {self.values.dtype} {tuple(self.values.shape)}")
        t, n, c = self.values.shape
        if self.mask.shape != self.values.shape or self.mask.dtype != torch.bool:
            raise ValueError(f"mask must be bool {(t, n, c)}, got {self.mask.dtype} {tuple(self.mask.shape)}")
        if len(self.channels) != c or len(self.stations) != n:
            raise ValueError(f"{len(self.channels)} channel and {len(self.stations)} station names for values of "
                             f"shape {(t, n, c)}")
        if self.lon.shape != (n,) or self.lat.shape != (n,) or self.timestamps.shape != (t,):
            raise ValueError(f"lon/lat must have shape ({n},) and timestamps ({t},), got {tuple(self.lon.shape)}, "
                             f"{tuple(self.lat.shape)}, {self.timestamps.shape}")
        if len(self.wind_channels) != 2 or not all(0 <= i < c for i in self.wind_channels):
            raise ValueError(f"wind_channels must be two channel indices in [0, {c}), got {self.wind_channels}")

    @property
    def wind(self) -> Tensor:
        """``(T, |V|, 2)`` wind velocity (u east, v north, m/s), NaN where unobserved."""
        return self.values[..., list(self.wind_channels)]

    @property
    def pos_km(self) -> Tensor:
        """``(|V|, 2)`` station positions in km (x east, y north) about their mean, float64."""
        return lonlat_to_km(self.lon, self.lat)

    @property
    def num_steps(self) -> int:
        return self.values.size(0)

    @property
    def hour_of_day(self) -> Tensor:
        """``(T,)`` float64 local clock hour (0 <= h < 24, minutes as fractions) at the start of every step."""
        minutes = self.timestamps.astype("datetime64[m]").astype(np.int64) % (24 * 60)
        return torch.from_numpy(minutes / 60.0)

    @property
    def num_stations(self) -> int:
        return self.values.size(1)

