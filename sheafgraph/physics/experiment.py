r"""One air-quality forecasting run: data, windows, model, training, scores (what ``sheafgraph air`` runs).

Protocol (AirPhyNet's): 3-hour steps, 24 input steps -> 24 output steps (72 h), chronological 7:1:2 split, scaler
fitted on the observed training values, PM2.5 target, masked MAE / RMSE in ug/m3 per horizon (3 h ... 72 h) and per
station. Data: PRSA Beijing, KnowAir, or files in the AirPhyNet paper's layout (``data="airphynet"``, ``root`` the
folder: pre-cut train/val/test windows, :mod:`sheafgraph.data.airphynet`; those files have no clock, so ``clock``
and ``historical_average`` need a series). Models and options: :class:`~sheafgraph.physics.recipes.AirConfig`;
training and scores: :mod:`sheafgraph.physics.training`. The persistence baseline's test errors are reported next
to every model's (``reference``).

Probabilistic forecasts (``samples`` = K, AirPhyNet variants): after training, validation and test are also scored
on K trajectories per window sampled from the latent initial state (fair CRPS and the coverage of the central 80%
and 90% intervals per horizon); the samples of each split are drawn from a generator seeded with ``seed``, so the
same weights give the same samples. Sampling multiplies the final evaluation's cost by about K + 1; use K of a few
tens (with K = 20 the 10% quantile lies between the 2nd and 3rd smallest member). The spread is only the
uncertainty of the latent initial state: on PRSA (diff_adv, 6 epochs, K = 20) the validation 80% intervals covered
12% / 7% / 6% of the observations at 24 / 48 / 72 h, far from calibrated.

Calibration (``calibrate``, ``calibrate_bins`` = B; :mod:`sheafgraph.physics.training`): residual tables fitted on
validation widen the trajectories, and test checks them. Choosing B by test coverage would leak the test split, and
validation coverage with tables fitted on the same windows is optimistic, so :func:`calibration_check` refits them
on the first half of the validation windows (chronological) and scores the second half: choose B on that.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from sheafgraph.data import ChannelScaler, ForecastWindows, forecast_windows
from sheafgraph.data.airphynet import WindowedAirData, airphynet_windows
from sheafgraph.data.windows import chronological_split
from sheafgraph.metrics.forecasting import ForecastReport
from sheafgraph.physics.baselines import Persistence
from sheafgraph.physics.checkpoints import forecaster_state, store_residuals
from sheafgraph.physics.recipes import DATASETS, TRAINED, AirConfig, AirData, build_model
from sheafgraph.physics.training import (ResidualTable, evaluate, physics_summary, residual_quantiles,
                                         sample_generator, train_model)
from sheafgraph.physics.transport import PhysicsGraph, physics_graph
from sheafgraph.utils import seed_everything
from sheafgraph.utils.checks import int_in_range

REPORT_HOURS = (24, 48, 72)


def load_air_data(name: str, root: Optional[str] = None, stations: Optional[Sequence[str]] = None,
                  steps: Optional[int] = None) -> AirData:
    """Load a dataset of ``DATASETS`` and keep its first ``steps`` time steps (all when None).

    ``root`` is the data root, except for ``airphynet``: the folder holding its files.
    """
    loader = DATASETS[name]
    if stations is not None and name != "prsa":
        raise ValueError("choosing stations is supported for --data prsa only")
    if steps is not None and name == "airphynet":
        raise ValueError("--steps cuts a series; the airphynet layout holds windows cut in advance")
    data = loader(root, stations=stations) if stations is not None else loader(root)
    if steps is None:
        return data
    int_in_range(steps, "steps", 1, data.num_steps, "the steps of the series")
    return dataclasses.replace(data, values=data.values[:steps], mask=data.mask[:steps],
                               timestamps=data.timestamps[:steps])


def data_graph(data: AirData, device: str = "cpu") -> PhysicsGraph:
    """The physics-ready station graph of a dataset (distance-kernel weights, positions in km), on ``device``."""
    g = data.graph
    return physics_graph(g.edge_index.to(device), g.edge_weight.to(device), data.pos_km.to(device))


def split_windows(data: AirData, config: AirConfig) -> Tuple[Dict[str, Dataset], ChannelScaler]:
    """Windows per split (training windows every ``train_stride`` steps) and the scaler fitted on training data:
    cut from a series by the AirPhyNet protocol (:func:`~sheafgraph.data.windows.forecast_windows`), or the windows
    of the AirPhyNet layout, whose lengths must be the configured ones."""
    lengths = (config.input_steps, config.output_steps)
    if isinstance(data, WindowedAirData):
        if (data.input_steps, data.output_steps) != lengths:
            raise ValueError(f"the files hold windows of {data.input_steps} -> {data.output_steps} steps, the run "
                             f"expects input_steps -> output_steps = {lengths[0]} -> {lengths[1]}")
        return airphynet_windows(data, train_stride=config.train_stride)
    windows, scaler = forecast_windows(data, input_steps=lengths[0], output_steps=lengths[1])
    windows["train"] = ForecastWindows(data, chronological_split(data.num_steps)["train"], input_steps=lengths[0],
                                       output_steps=lengths[1], scaler=scaler, stride=config.train_stride)
    return windows, scaler


def summarize(report: ForecastReport, step_hours: float, stations: Sequence[str]) -> Dict[str, object]:
    """The report as a dict, with the 24 h / 48 h / 72 h errors (those within the horizon) also listed on top."""
    out = report.to_dict(step_hours, stations)
    horizon = step_hours * report.mae_by_step.numel()
    out["headline"] = {f"{h}h": report.at_hours(h, step_hours) for h in REPORT_HOURS if h <= horizon}
    return out


@dataclass
class AirExperiment:
    """A prepared run: the data, its windows and loaders, the scaler, the graph and the (untrained) model."""
    config: AirConfig
    data: AirData
    scaler: ChannelScaler
    windows: Dict[str, Dataset]
    loaders: Dict[str, DataLoader]
    graph: PhysicsGraph
    model: nn.Module
    generator: torch.Generator


def prepare_experiment(config: AirConfig, data: Optional[AirData] = None) -> AirExperiment:
    """Seed, load the data (unless ``data``, already loaded for this config, is given), split it into windows
    (:func:`split_windows`), build the model."""
    generator = seed_everything(config.seed)
    if data is None:
        data = load_air_data(config.data, config.root, config.stations, config.steps)
    windows, scaler = split_windows(data, config)
    loaders = {"train": DataLoader(windows["train"], batch_size=config.batch_size, shuffle=True, generator=generator),
               "val": DataLoader(windows["val"], batch_size=config.batch_size),
               "test": DataLoader(windows["test"], batch_size=config.batch_size)}
    model = build_model(config.model, data, scaler, config).to(config.device)
    return AirExperiment(config, data, scaler, windows, loaders, data_graph(data, config.device), model, generator)


def run_experiment(exp: AirExperiment, log: Callable[[str], None] = print) -> Dict[str, object]:
    """Train (trainable models), evaluate on validation and test; returns a JSON-ready dict.

    The dict holds per-horizon and per-station errors (with ``config.samples``, also CRPS and interval coverage),
    the training history, timings, mean NFE, the learned physical coefficients, and the persistence baseline's test
    errors (``reference``) for comparison. With ``config.checkpoint`` and ``config.calibrate`` the validation residual
    table is stored in the checkpoint, for the calibrated intervals of ``sheafgraph air forecast``.
    """
    config, data, graph = exp.config, exp.data, exp.graph
    log(f"{config.data}: {data.num_stations} stations x {len(data.channels)} channels, "
        f"{graph.structure.num_edges} edges; "
        f"windows train {len(exp.windows['train'])} / val {len(exp.windows['val'])} / test "
        f"{len(exp.windows['test'])}; model {config.model} ({sum(p.numel() for p in exp.model.parameters())} "
        "parameters)")
    history: List[Dict] = []
    start = time.perf_counter()
    if config.model in TRAINED:
        history = train_model(exp.model, exp.loaders, graph, exp.scaler, config, exp.generator, log,
                              forecaster_state(data, exp.scaler))
    train_seconds = time.perf_counter() - start
    result: Dict[str, object] = {
        "model": config.model, "data": config.data, "config": dataclasses.asdict(config),
        "epochs_run": len(history), "train_seconds": train_seconds,
        "seconds_per_epoch": float(np.mean([h["seconds"] for h in history])) if history else 0.0,
        "seconds_per_batch": float(np.mean([h["seconds_per_batch"] for h in history])) if history else 0.0,
        "physics": physics_summary(exp.model), "history": history,
    }
    residuals = validation_residuals(exp)
    if residuals is not None and config.checkpoint and config.model in TRAINED:
        store_residuals(config.checkpoint, residuals)
    return {**result, **evaluate_experiment(exp, residuals)}


def validation_residuals(exp: AirExperiment) -> Optional[ResidualTable]:
    """With ``config.calibrate``, the residual table of the model's point forecasts on the validation windows."""
    config = exp.config
    return (residual_quantiles(exp.model, exp.loaders["val"], exp.graph, exp.scaler, config.device,
                               bins=config.calibrate_bins) if config.calibrate else None)


def evaluate_experiment(exp: AirExperiment, residuals: Optional[ResidualTable] = None) -> Dict[str, object]:
    """Scores of the experiment's model on validation and test (with ``config.samples``, sampled from a generator
    seeded with ``config.seed``; with ``config.calibrate``, widened by the validation ``residuals``, computed here
    when not given), the persistence baseline's test errors (``reference``), and with ``config.calibrate`` the
    :func:`calibration_check` on validation."""
    config, data, graph = exp.config, exp.data, exp.graph
    result: Dict[str, object] = {}
    if residuals is None:
        residuals = validation_residuals(exp)
    for split in ("val", "test"):
        report, nfe = evaluate(exp.model, exp.loaders[split], graph, exp.scaler, config.device,
                               config.show_progress, split, config.samples, sample_generator(config.seed), residuals)
        result[split] = summarize(report, data.step_hours, data.stations)
        result[split]["nfe"] = nfe
    reference, _ = evaluate(Persistence(config.output_steps), exp.loaders["test"], graph, exp.scaler, config.device,
                            False)
    result["reference"] = {"persistence": summarize(reference, data.step_hours, data.stations)["headline"]}
    if config.calibrate:
        result["calibration_check"] = calibration_check(exp)
    return result


def calibration_check(exp: AirExperiment) -> Dict[str, object]:
    """Calibration measured on validation alone: residual tables (``config.calibrate_bins``) fitted on the first half
    of the validation windows, the sampled forecasts of the second half scored with them (CRPS, coverage of the 80%
    and 90% intervals per horizon; samples seeded with ``config.seed``). Only the windows next to the boundary share
    time steps with the other half (less than one window's span)."""
    config, val = exp.config, exp.windows["val"]
    half = len(val) // 2
    if half == 0:
        raise ValueError(f"the calibration check splits the validation windows in two; there are {len(val)}")
    fit, held_out = (DataLoader(Subset(val, part), batch_size=config.batch_size)
                     for part in (range(half), range(half, len(val))))
    table = residual_quantiles(exp.model, fit, exp.graph, exp.scaler, config.device, bins=config.calibrate_bins)
    report, _ = evaluate(exp.model, held_out, exp.graph, exp.scaler, config.device, config.show_progress, "check",
                         config.samples, sample_generator(config.seed), table)
    return {"fit_windows": half, "check_windows": len(val) - half,
            **summarize(report, exp.data.step_hours, exp.data.stations)}


def run_air(config: AirConfig, log: Callable[[str], None] = print) -> Dict[str, object]:
    """:func:`prepare_experiment` then :func:`run_experiment`."""
    return run_experiment(prepare_experiment(config), log)
