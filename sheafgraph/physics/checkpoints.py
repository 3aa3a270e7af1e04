"""Checkpoints of air-quality runs: the weights with what a forecast needs besides them (the run's config, the scaler
fitted on its training data, the station network), so that a trained model is used without the training data.

:func:`~sheafgraph.physics.training.train_model` writes ``{"model", "config", "epoch"}`` plus
:func:`forecaster_state`; a run with ``calibrate`` then adds the validation residual table (:func:`store_residuals`),
with which a forecast's sampled intervals are calibrated; :func:`load_forecaster` reads it back (``weights_only``:
tensors and plain data only).
"""
from __future__ import annotations

import dataclasses
from typing import Dict, NamedTuple, Optional

import numpy as np
import torch
from torch import nn

from sheafgraph.data import AirQualityData, ChannelScaler
from sheafgraph.data.air import StationGraph
from sheafgraph.physics.recipes import AirConfig, AirData, build_model
from sheafgraph.physics.training import ResidualTable
from sheafgraph.utils import load_checkpoint, save_checkpoint


class TrainedForecaster(NamedTuple):
    """A trained model read back from its checkpoint, with what it needs to forecast: the run's config, the scaler
    fitted on its training data, its station network (an :class:`AirQualityData` without observations), and the
    validation residual table of a run with ``calibrate`` (else None)."""
    model: nn.Module
    config: AirConfig
    scaler: ChannelScaler
    network: AirQualityData
    epoch: int
    residuals: Optional[ResidualTable] = None


def forecaster_state(data: AirData, scaler: ChannelScaler) -> Dict[str, object]:
    """What a checkpoint holds besides the weights so that :func:`load_forecaster` needs no training data: the
    scaler, the stations with their coordinates and graph, the channels and the step."""
    g = data.graph
    return {"scaler": {"mean": scaler.mean, "std": scaler.std},
            "network": {"stations": list(data.stations), "channels": list(data.channels), "lon": data.lon,
                        "lat": data.lat, "edge_index": g.edge_index, "edge_weight": g.edge_weight,
                        "distance_km": g.distance_km, "wind_channels": list(data.wind_channels),
                        "step_hours": data.step_hours}}


def store_residuals(path: str, table: ResidualTable) -> None:
    """Add the validation residual table of the trained model to its checkpoint (rewritten atomically)."""
    state = load_checkpoint(path)
    state["residuals"] = table._asdict()
    save_checkpoint(state, path)


def load_forecaster(path: str, device: str = "cpu") -> TrainedForecaster:
    """Rebuild the model of a ``sheafgraph air --checkpoint`` file (``weights_only`` load) on ``device`` (cpu,
    cuda or auto; the config of the result holds the device resolved)."""
    state = load_checkpoint(path)
    missing = [key for key in ("model", "config", "epoch", "scaler", "network") if key not in state]
    if missing:
        raise ValueError(f"checkpoint {path} has no {', '.join(missing)}: it was not written by sheafgraph air "
                         "(or by a version that did not store the scaler and station network; train again)")
    config = dataclasses.replace(AirConfig(**state["config"]), device=device)
    net = state["network"]
    n, c = len(net["stations"]), len(net["channels"])
    network = AirQualityData(
        values=torch.zeros(0, n, c), mask=torch.zeros(0, n, c, dtype=torch.bool), channels=tuple(net["channels"]),
        stations=tuple(net["stations"]), lon=net["lon"], lat=net["lat"], timestamps=np.zeros(0, "datetime64[m]"),
        wind_channels=tuple(net["wind_channels"]),
        graph=StationGraph(net["edge_index"], net["edge_weight"], net["distance_km"]), step_hours=net["step_hours"])
    scaler = ChannelScaler(state["scaler"]["mean"], state["scaler"]["std"])
    model = build_model(config.model, network, scaler, config)
    model.load_state_dict(state["model"])
    residuals = ResidualTable(**state["residuals"]) if "residuals" in state else None
    return TrainedForecaster(model.to(config.device).eval(), config, scaler, network, int(state["epoch"]), residuals)
