"""Use a trained air-quality checkpoint: score it again on its dataset, or forecast the next steps at every station
from recent PRSA-layout CSVs (``sheafgraph air evaluate`` / ``sheafgraph air forecast``).

The checkpoint (:mod:`sheafgraph.physics.checkpoints`) holds the scaler and the station network, so a forecast
reads no training data.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

import numpy as np
import pandas as pd
import torch

from sheafgraph.data import AirQualityData, ChannelScaler
from sheafgraph.data.prsa import prsa_series, prsa_station_files
from sheafgraph.data.windows import Window
from sheafgraph.metrics.forecasting import INTERVAL_LEVELS, central_interval
from sheafgraph.physics.checkpoints import TrainedForecaster, load_forecaster
from sheafgraph.physics.experiment import data_graph, evaluate_experiment, prepare_experiment
from sheafgraph.physics.recipes import AirConfig
from sheafgraph.physics.training import draw_residuals, forecast, physics_summary, sample_generator, to_device


def evaluate_checkpoint(path: str, root: Optional[str] = None, device: str = "cpu", samples: int = 0,
                        show_progress: Optional[bool] = None, calibrate: bool = False,
                        calibrate_bins: int = AirConfig.calibrate_bins) -> Dict[str, object]:
    """Scores of a checkpoint on the validation and test windows of its dataset (read again from ``root``, default
    the run's), as :func:`~sheafgraph.physics.experiment.run_experiment` reports them; the data must give the
    scaler stored in the checkpoint. ``samples``, ``calibrate`` and ``calibrate_bins`` are those of
    :class:`~sheafgraph.physics.recipes.AirConfig` (with ``calibrate``, the validation ``calibration_check`` too),
    so calibrations are compared on one trained model."""
    trained = load_forecaster(path, device)
    config = dataclasses.replace(trained.config, root=root if root is not None else trained.config.root,
                                 samples=samples, calibrate=calibrate, calibrate_bins=calibrate_bins,
                                 show_progress=show_progress, checkpoint=None)
    exp = prepare_experiment(config)
    if not (torch.allclose(exp.scaler.mean, trained.scaler.mean) and torch.allclose(exp.scaler.std,
                                                                                     trained.scaler.std)):
        raise ValueError(f"the {config.data} data read from {config.root or 'the default root'} are not those "
                         f"{path} was trained on (the training-split scaler differs)")
    exp.model = trained.model
    return {"model": config.model, "data": config.data, "config": dataclasses.asdict(config), "checkpoint": path,
            "epoch": trained.epoch, "physics": physics_summary(exp.model), **evaluate_experiment(exp)}


def latest_window(data: AirQualityData, scaler: ChannelScaler, input_steps: int = 24) -> Window:
    """A batch of one window holding the last ``input_steps`` steps of a series as input; its forecast starts at
    the end of the series (the outputs, unknown, are None).

    Shapes:
        x_in, mask_in: ``(1, T_in, |V|, C)``; wind_in: ``(1, T_in, |V|, 2)``; start, hour: ``(1,)``.
    """
    t = data.num_steps
    if t < input_steps:
        raise ValueError(f"the series has {t} steps of {data.step_hours:g} h; a forecast needs the latest "
                         f"{input_steps}")
    recent = slice(t - input_steps, t)
    hour = (data.hour_of_day[-1] + data.step_hours) % 24
    return Window(scaler.transform(data.values[recent])[None], data.mask[recent][None], None, None,
                  data.wind[recent][None], None, torch.tensor([t - input_steps]), hour.view(1))


@torch.no_grad()
def forecast_from_csv(path: str, csv_dir: str, samples: int = 0, seed: int = 0, device: str = "cpu"
                      ) -> Tuple[pd.DataFrame, AirQualityData, TrainedForecaster]:
    r"""Forecast the next T_out steps at every station from the latest T_in steps of PRSA-layout CSVs.

    ``csv_dir`` holds one ``PRSA_Data_<station>_*.csv`` per station of the checkpoint (UCI format, any dates,
    :func:`~sheafgraph.data.prsa.prsa_station_files`); they are averaged into the checkpoint's steps as the PRSA
    loader does, and scaled with the checkpoint's scaler, on its station graph: no training data is read. The
    forecast starts at the end of the last step of the CSVs.

    Returns a table with one row per (station, lead): ``time`` (start of the forecast step), ``station``,
    ``lead_hours`` and ``pm25`` (the point forecast, ug/m3), and with ``samples`` = K >= 2 trajectories (seeded
    with ``seed``) the bounds ``pm25_low_80``, ``pm25_high_80``, ``pm25_low_90``, ``pm25_high_90`` of the central
    80% and 90% intervals; the series read; and the forecaster. The intervals are calibrated when the checkpoint
    holds a validation residual table (trained with ``--calibrate``): each trajectory then gets a draw from the
    residuals of its horizon and level bin, as in the run's evaluation; without it they are the latent
    trajectories' spread alone, far too narrow (module :mod:`sheafgraph.physics.experiment`).
    """
    trained = load_forecaster(path, device)
    config, network = dataclasses.replace(trained.config, samples=samples), trained.network    # checks samples
    if config.data != "prsa":
        raise ValueError(f"{path} was trained on {config.data}; forecasting from CSVs reads the PRSA layout")
    if config.wind_mode == "future":
        raise ValueError(f"{path} was trained with the observed future wind (--wind future), which a forecast "
                         "does not have")
    step = int(network.step_hours)
    values, timestamps = prsa_series(prsa_station_files(csv_dir, network.stations), network.stations, step)
    data = dataclasses.replace(network, values=values, mask=~torch.isnan(values), timestamps=timestamps)
    batch = to_device(latest_window(data, trained.scaler, config.input_steps), config.device)
    generator = sample_generator(seed)
    out = forecast(trained.model, batch, data_graph(data, config.device), generator, samples)
    unscale = trained.scaler.inverse_transform_target
    point = unscale(out.mean.double().cpu())                                               # (1, T_out, |V|)
    columns = {"pm25": point[0]}
    if samples:
        members = unscale(out.samples.double().cpu())                                     # (K, 1, T_out, |V|)
        if trained.residuals is not None:
            members = members + draw_residuals(trained.residuals, point, members.shape, generator)
        members = members[:, 0]
        for p in INTERVAL_LEVELS:
            low, high = central_interval(members, p)
            columns.update(zip(interval_columns(p), (low, high)))
    t_out, n = columns["pm25"].shape
    lead = network.step_hours * np.arange(1, t_out + 1)
    starts = timestamps[-1] + np.arange(1, t_out + 1) * np.timedelta64(step, "h")
    table = pd.DataFrame({"time": np.repeat(starts, n),
                          "station": np.tile(network.stations, t_out), "lead_hours": np.repeat(lead, n),
                          **{name: v.reshape(-1).numpy() for name, v in columns.items()}})
    return table.sort_values(["station", "lead_hours"], kind="stable").reset_index(drop=True), data, trained


def interval_columns(level: float) -> Tuple[str, str]:
    """Columns of the bounds of the central interval ``level`` in a forecast table: ``("pm25_low_80", ...)``."""
    return f"pm25_low_{100 * level:g}", f"pm25_high_{100 * level:g}"
