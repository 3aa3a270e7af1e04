r"""Air-quality forecasting: train and evaluate AirPhyNet variants and baselines on PRSA Beijing, KnowAir, or files in
the AirPhyNet paper's layout (``--data airphynet --root <folder>``: pre-cut train/val/test windows,
:mod:`sheafgraph.data.airphynet`; those files have no clock, so ``--clock`` and ``historical_average`` need a series).

Protocol (AirPhyNet's): 3-hour steps, 24 input steps -> 24 output steps (72 h), chronological 7:1:2 split, scaler
fitted on the observed training values, PM2.5 target, masked MAE / RMSE in ug/m3 per horizon (3 h ... 72 h) and per
station. Models (``MODELS``): the AirPhyNet variants ``diff``, ``adv``, ``diff_adv``, ``nophy``
(:mod:`sheafgraph.physics.airphynet`) and the baselines ``persistence``, ``historical_average`` and ``gru``
(:mod:`sheafgraph.physics.baselines`; with ``--wind future`` the GRU also reads the observed future wind, the
fair control for AirPhyNet with future wind). Trained models use Adam, a cosine learning-rate schedule, gradient-norm
clipping, early stopping on the validation MAE and reload the best epoch's weights before testing.

Probabilistic forecasts (``--samples K``, AirPhyNet variants): after training, validation and test are also scored
on K trajectories per window sampled from the latent initial state (:class:`~sheafgraph.physics.AirPhyNet`):
fair CRPS and the coverage of the central 80% and 90% intervals per horizon
(:mod:`sheafgraph.metrics.forecasting`), and the plot draws the intervals. The point forecast (MAE / RMSE) is the
trajectory of the latent mean either way. Default 0 (off): sampling multiplies the final evaluation's cost by
about K + 1; use K of a few tens (with K = 20 the 10% quantile lies between the 2nd and 3rd smallest member). The
spread is only the uncertainty of the latent initial state: on PRSA (diff_adv, 6 epochs, K = 20) the validation
80% intervals covered 12% / 7% / 6% of the observations at 24 / 48 / 72 h, far from calibrated.

Threads: ``--threads`` defaults to 1 (``sheafgraph.utils.DEFAULT_THREADS``, as every command): the model is
small, so extra threads barely help and slow everything down on a shared machine (one diff_adv epoch on a loaded
2-core machine took 708 s with torch's default threads against 42 s with 1; ``benchmarks/air.py`` under a load of
about 5 on 2 cores: 0.54 s per diff_adv training batch with 1 thread, 4.8 s with 2). On an idle many-core machine
``--threads`` may be raised.

A checkpoint (``--checkpoint``) also stores the scaler and the station network, so that it can be used without
the training data: ``sheafgraph air evaluate --checkpoint ck.pt`` scores it again on its dataset, and
``sheafgraph air forecast --checkpoint ck.pt --csv-dir recent/`` forecasts the next 24 steps at every station from the
latest 24 steps of PRSA-layout CSVs (a table, as CSV, and a plot).

Command line: ``sheafgraph air --data prsa --model diff_adv --epochs 10 --samples 20 --json out.json --plot out.png``.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from sheafgraph.data import AirQualityData, ChannelScaler, ForecastWindows, forecast_windows, load_knowair, \
    load_prsa_beijing
from sheafgraph.data.air import StationGraph
from sheafgraph.data.airphynet import WindowedAirData, airphynet_windows, load_airphynet
from sheafgraph.data.prsa import prsa_series, prsa_station_files
from sheafgraph.data.windows import Window, chronological_split
from sheafgraph.metrics.forecasting import INTERVAL_LEVELS, ForecastErrors, ForecastReport, central_interval, \
    level_name, masked_mae
from sheafgraph.physics import VARIANTS, AirPhyNet, GRUForecaster, HistoricalAverage, Persistence, PhysicsGraph, \
    physics_graph
from sheafgraph.physics.wind import WIND_MODES
from sheafgraph.tasks import TASKS
from sheafgraph.utils import DEFAULT_THREADS, EMA, load_checkpoint, progress, resolve_device, save_checkpoint, \
    seed_everything, set_threads

AirData = Union[AirQualityData, WindowedAirData]
DATASETS: Dict[str, Callable[..., AirData]] = {"prsa": load_prsa_beijing, "knowair": load_knowair,
                                               "airphynet": load_airphynet}
BASELINES = ("persistence", "historical_average", "gru")
MODELS = BASELINES + tuple(VARIANTS)
TRAINED = ("gru",) + tuple(VARIANTS)
REPORT_HOURS = (24, 48, 72)


@dataclass
class AirConfig:
    """Everything a run depends on (the CLI flags of ``sheafgraph air``); see :func:`add_subcommand` for meanings."""
    data: str = "prsa"
    root: Optional[str] = None
    model: str = "diff_adv"
    stations: Optional[Sequence[str]] = None
    steps: Optional[int] = None
    input_steps: int = 24
    output_steps: int = 24
    train_stride: int = 1
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    clip: float = 1.0
    patience: int = 3
    kl_weight: float = 1e-3
    ema: float = 0.0
    hidden_dim: int = 32
    latent_dim: int = 32
    ode_hidden_dim: int = 32
    ode_time_scale: float = 24.0
    clock: bool = False
    readout: bool = False
    dropout: float = 0.0
    wind_mode: str = "last"
    method: str = "rk4"
    step_size: Optional[float] = None
    samples: int = 0
    seed: int = 0
    device: str = "cpu"
    checkpoint: Optional[str] = None
    show_progress: Optional[bool] = None

    def __post_init__(self):
        if self.data not in DATASETS:
            raise ValueError(f"unknown dataset {self.data!r}; valid datasets: {', '.join(DATASETS)}")
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; valid models: {', '.join(MODELS)}")
        if self.wind_mode not in WIND_MODES:
            raise ValueError(f"unknown wind mode {self.wind_mode!r}; valid modes: {', '.join(WIND_MODES)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1) (0 turns weight averaging off), got {self.ema}")
        if min(self.epochs, self.batch_size, self.train_stride, self.input_steps, self.output_steps) < 1:
            raise ValueError("epochs, batch_size, train_stride, input_steps and output_steps must be >= 1")
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples == 1 \
                or self.samples < 0:
            raise ValueError(f"samples must be 0 (point forecasts only) or at least 2, got {self.samples!r}")
        if self.data == "airphynet" and (self.clock or self.model == "historical_average"):
            raise ValueError("the airphynet layout has no timestamps: --clock and historical_average need a series "
                             "dataset (prsa, knowair)")
        if self.samples and self.model not in VARIANTS:
            raise ValueError(f"samples need a model with a latent distribution ({', '.join(VARIANTS)}); "
                             f"{self.model} gives point forecasts only")


# ------------------------------------------------------------------------------------------------------------ data

def load_air_data(name: str, root: Optional[str] = None, stations: Optional[Sequence[str]] = None,
                  steps: Optional[int] = None) -> AirData:
    """Load a dataset of ``DATASETS`` and keep its first ``steps`` time steps (all when None).

    ``root`` is the data root, except for ``airphynet``: the folder holding its files.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}")
    if stations is not None and name != "prsa":
        raise ValueError("choosing stations is supported for --data prsa only")
    if steps is not None and name == "airphynet":
        raise ValueError("--steps cuts a series; the airphynet layout holds windows cut in advance")
    data = DATASETS[name](root, stations=stations) if stations is not None else DATASETS[name](root)
    if steps is None:
        return data
    if not 1 <= steps <= data.num_steps:
        raise ValueError(f"steps must be in [1, {data.num_steps}], got {steps}")
    return dataclasses.replace(data, values=data.values[:steps], mask=data.mask[:steps],
                               timestamps=data.timestamps[:steps])


def data_graph(data: AirData, device: str = "cpu") -> PhysicsGraph:
    """The physics-ready station graph of a dataset (distance-kernel weights, positions in km), on ``device``."""
    g = data.graph
    return physics_graph(g.edge_index.to(device), g.edge_weight.to(device), data.pos_km.to(device))


# ---------------------------------------------------------------------------------------------------------- models

def build_model(name: str, data: AirData, scaler: ChannelScaler, config: AirConfig) -> nn.Module:
    """A forecaster of ``MODELS`` for ``data``; ``historical_average`` is fitted on the training steps here."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    c, t_out = len(data.channels), config.output_steps
    if name == "persistence":
        return Persistence(t_out)
    if name == "historical_average":
        train = chronological_split(data.num_steps)["train"]
        target = scaler.transform(data.values)[..., 0]
        hour = data.hour_of_day.floor().long()
        return HistoricalAverage(target, data.mask[..., 0], hour, train, t_out)
    if name == "gru":
        return GRUForecaster(c, t_out, hidden_dim=config.hidden_dim, future_wind=config.wind_mode == "future")
    return AirPhyNet(c, t_out, variant=name, hidden_dim=config.hidden_dim, latent_dim=config.latent_dim,
                     ode_hidden_dim=config.ode_hidden_dim, ode_time_scale=config.ode_time_scale,
                     step_hours=data.step_hours, wind_mode=config.wind_mode, method=config.method,
                     step_size=config.step_size, clock=config.clock, readout=config.readout,
                     dropout=config.dropout)


def forecast(model: nn.Module, batch, graph: PhysicsGraph, generator: Optional[torch.Generator] = None,
             samples: int = 0):
    """Run any forecaster on a batch of :class:`~sheafgraph.data.windows.Window` (uniform keyword call); ``samples``
    sampled trajectories from models that have them."""
    return model(batch.x_in, batch.mask_in, graph=graph, wind_in=batch.wind_in, wind_out=batch.wind_out,
                 start=batch.start, hour=batch.hour, samples=samples, generator=generator)


def model_label(config: AirConfig) -> str:
    """The model and the options that change it, for titles, e.g. ``"AirPhyNet diff_adv (wind last, clock)"``."""
    if config.model in VARIANTS:
        options = [f"wind {config.wind_mode}"] if VARIANTS[config.model][1] else []
        options += [name for name, on in (("clock", config.clock), ("readout", config.readout)) if on]
        options += [f"{name} {value:g}" for name, value in (("dropout", config.dropout), ("EMA", config.ema)) if value]
        return f"AirPhyNet {config.model}" + (f" ({', '.join(options)})" if options else "")
    if config.model == "gru":
        return "GRU" + (" (future wind)" if config.wind_mode == "future" else "")
    return config.model.replace("_", " ")


@torch.no_grad()
def physics_summary(model: nn.Module) -> Dict[str, float]:
    """Learned physical coefficients of an AirPhyNet model (empty for the others)."""
    func = getattr(model, "func", None)
    if func is None:
        return {}
    out: Dict[str, float] = {}
    if func.diffusion:
        out.update(k=float(func.k), diffusion_gate=float(torch.sigmoid(func.diffusion_gate).mean()))
    if func.advection:
        out.update(alpha=float(func.alpha), advection_gate=float(torch.sigmoid(func.advection_gate).mean()))
    return out


# ------------------------------------------------------------------------------------------------ train / evaluate

def to_device(batch, device):
    """A batch of :class:`~sheafgraph.data.windows.Window` with its tensors moved to ``device``."""
    return type(batch)(*(x.to(device) if isinstance(x, torch.Tensor) else x for x in batch))


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, graph: PhysicsGraph, scaler: ChannelScaler,
             device: str = "cpu", show_progress: Optional[bool] = None, desc: str = "eval", samples: int = 0,
             generator: Optional[torch.Generator] = None) -> Tuple[ForecastReport, float]:
    """Masked scores in original units (ug/m3) over a loader, and the mean NFE per batch.

    With ``samples`` = K >= 2 the model also returns K sampled trajectories per window (drawn with ``generator``),
    scored by CRPS and interval coverage (:class:`~sheafgraph.metrics.forecasting.ForecastErrors`).
    """
    model.eval()
    errors, nfe, batches = ForecastErrors(), 0, 0
    for batch in progress(loader, desc=desc, enabled=show_progress):
        batch = to_device(batch, device)
        out = forecast(model, batch, graph, generator, samples)
        if samples and out.samples is None:
            raise ValueError(f"{type(model).__name__} gives point forecasts only: it cannot be sampled")
        pred = scaler.inverse_transform_target(out.mean.double().cpu())
        target = scaler.inverse_transform_target(batch.y_out.double().cpu())
        members = scaler.inverse_transform_target(out.samples.double().cpu()) if samples else None
        errors.update(pred, target, batch.mask_out.cpu(), members)
        nfe, batches = nfe + out.nfe, batches + 1
    return errors.report(), nfe / max(batches, 1)


def train_model(model: nn.Module, loaders: Dict[str, DataLoader], graph: PhysicsGraph, scaler: ChannelScaler,
                config: AirConfig, generator: torch.Generator, log: Callable[[str], None] = print,
                meta: Optional[Dict[str, object]] = None) -> List[Dict]:
    r"""Adam + cosine schedule + gradient clipping; early stopping on validation MAE; reloads the best weights.

    With ``config.checkpoint`` every new best state is saved there, with the config, the epoch and ``meta``
    (:func:`forecaster_state`: what a forecast needs besides the weights).

    Loss: masked MAE of the scaled target plus ``kl_weight`` times the latent KL term (AirPhyNet models).
    With ``config.ema`` > 0 an exponential moving average of the weights (updated every batch) is what is validated,
    kept as the best state and tested.
    Returns one record per epoch (train loss, validation MAE in ug/m3, seconds, mean NFE, physics coefficients).
    """
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs, eta_min=config.lr / 20)
    best, best_state, stale, history = math.inf, copy.deepcopy(model.state_dict()), 0, []
    ema = EMA(model, config.ema) if config.ema > 0 else None
    for epoch in range(1, config.epochs + 1):
        model.train()
        start, total, count, nfe = time.perf_counter(), 0.0, 0, 0
        for batch in progress(loaders["train"], desc=f"epoch {epoch}/{config.epochs}", enabled=config.show_progress):
            batch = to_device(batch, config.device)
            out = forecast(model, batch, graph, generator)
            loss = masked_mae(out.mean, batch.y_out, batch.mask_out) + config.kl_weight * out.kl
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite training loss at epoch {epoch}; lower --lr or --step-size")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            opt.step()
            if ema is not None:
                ema.update(model)
            total, count, nfe = total + float(loss.detach()), count + 1, nfe + out.nfe
        sched.step()
        seconds = time.perf_counter() - start
        live = None
        if ema is not None:                        # validate (and keep) the averaged weights
            live = copy.deepcopy(model.state_dict())
            model.load_state_dict(ema.state_dict())
        val, _ = evaluate(model, loaders["val"], graph, scaler, config.device, config.show_progress, "val")
        record = {"epoch": epoch, "train_loss": total / count, "val_mae": val.mae, "val_rmse": val.rmse,
                  "seconds": seconds, "seconds_per_batch": seconds / count, "nfe": nfe / count,
                  **physics_summary(model)}
        history.append(record)
        log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
        if val.mae < best:
            best, best_state, stale = val.mae, copy.deepcopy(model.state_dict()), 0
            if config.checkpoint:
                save_checkpoint({"model": best_state, "config": dataclasses.asdict(config), "epoch": epoch,
                                 **(meta or {})}, config.checkpoint)
        else:
            stale += 1
            if stale >= config.patience:
                log(f"early stop after epoch {epoch}: no validation improvement for {stale} epochs")
                break
        if live is not None:                       # back to the live weights for the next epoch
            model.load_state_dict(live)
    model.load_state_dict(best_state)
    return history


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


def prepare_experiment(config: AirConfig) -> AirExperiment:
    """Seed, load the data, split it into windows (:func:`split_windows`), build the model."""
    generator = seed_everything(config.seed)
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
    errors (``reference``) for comparison. The samples of each split are drawn from a generator seeded with
    ``config.seed``, so the same weights give the same samples.
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
    return {**result, **evaluate_experiment(exp)}


def evaluate_experiment(exp: AirExperiment) -> Dict[str, object]:
    """Scores of the experiment's model on validation and test (with ``config.samples``, sampled from a generator
    seeded with ``config.seed``), and the persistence baseline's test errors (``reference``)."""
    config, data, graph = exp.config, exp.data, exp.graph
    result: Dict[str, object] = {}
    for split in ("val", "test"):
        report, nfe = evaluate(exp.model, exp.loaders[split], graph, exp.scaler, config.device,
                               config.show_progress, split, config.samples, sample_generator(config.seed))
        result[split] = summarize(report, data.step_hours, data.stations)
        result[split]["nfe"] = nfe
    reference, _ = evaluate(Persistence(config.output_steps), exp.loaders["test"], graph, exp.scaler, config.device,
                            False)
    result["reference"] = {"persistence": summarize(reference, data.step_hours, data.stations)["headline"]}
    return result


def sample_generator(seed: int) -> torch.Generator:
    """The CPU generator that draws an evaluation's sampled trajectories (noise moves to the model's device)."""
    return torch.Generator().manual_seed(seed)


def run_air(config: AirConfig, log: Callable[[str], None] = print) -> Dict[str, object]:
    """:func:`prepare_experiment` then :func:`run_experiment`."""
    return run_experiment(prepare_experiment(config), log)


# ---------------------------------------------------------------------------------------------------------- plot

@torch.no_grad()
def forecast_figure(model: nn.Module, data: AirData, windows: Dataset, graph: PhysicsGraph, scaler: ChannelScaler,
                    station: str, *, label: str = "", window: Optional[int] = None, days: int = 60,
                    device: str = "cpu", samples: int = 0, generator: Optional[torch.Generator] = None):
    """A matplotlib figure: (top) one test window's history, observation and forecast at ``station``; (bottom) the
    observations over the first ``days`` of the windows against the forecasts 24 h and 72 h ahead. With ``samples``
    (a sampling model) both panels shade the central intervals of ``INTERVAL_LEVELS``.

    The forecast is issued at the forecast origin, the end of the input window (the start of the first forecast
    step), and is titled with ``label`` (:func:`model_label`). Times are ``data.timestamps`` of a series; windows
    without timestamps (the AirPhyNet layout) are placed in hours after the first window's origin, taking
    consecutive windows one step apart.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    if station not in data.stations:
        raise ValueError(f"unknown station {station!r}; stations: {', '.join(data.stations)}")
    i = data.stations.index(station)
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
    import matplotlib.pyplot as plt

    fig = forecast_figure(model, data, windows, graph, scaler, station, **options)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------- use a trained checkpoint

class Forecaster(NamedTuple):
    """A trained model read back from its checkpoint, with what it needs to forecast: the run's config, the scaler
    fitted on its training data, and its station network (an :class:`AirQualityData` without observations)."""
    model: nn.Module
    config: AirConfig
    scaler: ChannelScaler
    network: AirQualityData
    epoch: int


def forecaster_state(data: AirData, scaler: ChannelScaler) -> Dict[str, object]:
    """What a checkpoint holds besides the weights so that :func:`load_forecaster` needs no training data: the
    scaler, the stations with their coordinates and graph, the channels and the step."""
    g = data.graph
    return {"scaler": {"mean": scaler.mean, "std": scaler.std},
            "network": {"stations": list(data.stations), "channels": list(data.channels), "lon": data.lon,
                        "lat": data.lat, "edge_index": g.edge_index, "edge_weight": g.edge_weight,
                        "distance_km": g.distance_km, "wind_channels": list(data.wind_channels),
                        "step_hours": data.step_hours}}


def load_forecaster(path: str, device: str = "cpu") -> Forecaster:
    """Rebuild the model of a ``sheafgraph air --checkpoint`` file (``weights_only`` load) on ``device``."""
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
    return Forecaster(model.to(device).eval(), config, scaler, network, int(state["epoch"]))


def evaluate_checkpoint(path: str, root: Optional[str] = None, device: str = "cpu", samples: int = 0,
                        show_progress: Optional[bool] = None) -> Dict[str, object]:
    """Scores of a checkpoint on the validation and test windows of its dataset (read again from ``root``, default
    the run's), as :func:`run_experiment` reports them; the data must give the scaler stored in the checkpoint."""
    trained = load_forecaster(path, device)
    config = dataclasses.replace(trained.config, root=root if root is not None else trained.config.root,
                                 samples=samples, show_progress=show_progress, checkpoint=None)
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
                      ) -> Tuple[pd.DataFrame, AirQualityData, Forecaster]:
    r"""Forecast the next T_out steps at every station from the latest T_in steps of PRSA-layout CSVs.

    ``csv_dir`` holds one ``PRSA_Data_<station>_*.csv`` per station of the checkpoint (UCI format, any dates,
    :func:`~sheafgraph.data.prsa.prsa_station_files`); they are averaged into the checkpoint's steps as the PRSA
    loader does, and scaled with the checkpoint's scaler, on its station graph: no training data is read. The
    forecast starts at the end of the last step of the CSVs.

    Returns a table with one row per (station, lead): ``time`` (start of the forecast step), ``station``,
    ``lead_hours`` and ``pm25`` (the point forecast, ug/m3), and with ``samples`` = K >= 2 trajectories (seeded
    with ``seed``) the bounds ``pm25_low_80``, ``pm25_high_80``, ``pm25_low_90``, ``pm25_high_90`` of the central
    80% and 90% intervals; the series read; and the forecaster.
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
    batch = to_device(latest_window(data, trained.scaler, config.input_steps), device)
    out = forecast(trained.model, batch, data_graph(data, device), sample_generator(seed), samples)
    unscale = trained.scaler.inverse_transform_target
    columns = {"pm25": unscale(out.mean[0].double().cpu())}                                # (T_out, |V|)
    if samples:
        members = unscale(out.samples[:, 0].double().cpu())
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


def plot_latest_forecast(path: str, table: pd.DataFrame, data: AirQualityData, label: str = "") -> Path:
    """Save a PNG with one panel per station: the latest observed PM2.5 and the forecast of :func:`forecast_from_csv`
    (with its 80% and 90% intervals when it has them)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------------------------ CLI

def add_subcommand(subparsers) -> None:
    p = subparsers.add_parser("air", help=TASKS["air"],
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = AirConfig()
    p.add_argument("--data", default=d.data, choices=list(DATASETS), help="dataset (default %(default)s)")
    p.add_argument("--root", default=None,
                   help="data root (default $SHEAFGRAPH_DATA, else the project's datasets/); for --data airphynet "
                        "the folder holding train.npz, val.npz, test.npz and station.csv (default <data "
                        "root>/air/airphynet)")
    p.add_argument("--model", default=d.model, choices=list(MODELS), help="model (default %(default)s)")
    p.add_argument("--stations", default=None, help="comma-separated PRSA station names (default all)")
    p.add_argument("--steps", type=int, default=None, help="use only the first STEPS time steps (default all)")
    p.add_argument("--train-stride", type=int, default=d.train_stride, help="steps between training windows")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--clip", type=float, default=d.clip, help="gradient-norm clipping threshold")
    p.add_argument("--patience", type=int, default=d.patience, help="early-stopping patience in epochs")
    p.add_argument("--kl-weight", type=float, default=d.kl_weight)
    p.add_argument("--ema", type=float, default=d.ema,
                   help="decay of a moving average of the weights (per batch) that is validated and tested "
                        f"(0: off; default {d.ema})")
    p.add_argument("--hidden-dim", type=int, default=d.hidden_dim)
    p.add_argument("--latent-dim", type=int, default=d.latent_dim)
    p.add_argument("--ode-hidden-dim", type=int, default=d.ode_hidden_dim)
    p.add_argument("--ode-time-scale", type=float, default=d.ode_time_scale,
                   help="hours per unit output of the vector field's graph network (default %(default)s)")
    p.add_argument("--clock", action="store_true",
                   help="AirPhyNet option: force the vector field and decoder with the phase of the day")
    p.add_argument("--readout", action="store_true",
                   help="AirPhyNet option: add a per-lead-time linear readout of the encoder state")
    p.add_argument("--dropout", type=float, default=d.dropout,
                   help="AirPhyNet option: dropout on the encoder state and decoder while training "
                        "(default %(default)s)")
    p.add_argument("--wind", dest="wind_mode", default=d.wind_mode, choices=list(WIND_MODES),
                   help="wind over the forecast: last observed held, input mean held, or observed future "
                        "(default %(default)s); 'future' also feeds the GRU baseline the observed future wind")
    p.add_argument("--method", default=d.method, help="torchdiffeq solver (default %(default)s)")
    p.add_argument("--step-size", type=float, default=None, help="fixed solver step in hours (default one step)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="cpu, cuda or auto (default %(default)s)")
    p.add_argument("--samples", type=int, default=d.samples,
                   help="AirPhyNet variants: sampled trajectories per window for CRPS, interval coverage and plot "
                        "bands after training (0: point forecasts only; at least 2 otherwise, e.g. 20; default "
                        "%(default)s)")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help="torch CPU threads (default %(default)s: these models are small, and more threads slow a "
                        "shared machine down)")
    p.add_argument("--checkpoint", default=None, help="save the best weights here")
    p.add_argument("--json", default=None, help="write the results as JSON here")
    p.add_argument("--plot", default=None, help="save a PNG of forecast vs observation here")
    p.add_argument("--station", default=None, help="station to plot (default the first)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run)
    actions = p.add_subparsers(dest="action", metavar="ACTION",
                               help="use a checkpoint of a run (without ACTION: train and test a model)")
    e = actions.add_parser("evaluate", help="score a checkpoint on its dataset's validation and test windows",
                           description=evaluate_checkpoint.__doc__)
    e.add_argument("--checkpoint", required=True, help="a file written by sheafgraph air --checkpoint")
    e.add_argument("--root", default=None, help="where to read the data (default the run's --root)")
    e.add_argument("--json", default=None, help="write the results as JSON here")
    e.add_argument("--no-progress", action="store_true", help="hide progress bars")
    f = actions.add_parser("forecast", help="forecast the next 72 h at every station from recent PRSA-layout CSVs",
                           description=forecast_from_csv.__doc__)
    f.add_argument("--checkpoint", required=True, help="a file written by sheafgraph air --checkpoint (PRSA data)")
    f.add_argument("--csv-dir", required=True, help="folder with one PRSA_Data_<station>_*.csv per station")
    f.add_argument("--out", default=None, help="write the forecast table as CSV here (default: print it)")
    f.add_argument("--plot", default=None, help="save a PNG of the latest observations and the forecast here")
    for sub in (e, f):
        sub.add_argument("--samples", type=int, default=0,
                         help="sampled trajectories for CRPS / intervals (AirPhyNet variants; default 0)")
        sub.add_argument("--device", default="cpu", help="cpu, cuda or auto (default %(default)s)")
        sub.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                         help="torch CPU threads (default %(default)s)")
    e.set_defaults(func=run_evaluate)
    f.add_argument("--seed", type=int, default=0, help="seed of the sampled trajectories (default 0)")
    f.set_defaults(func=run_forecast)


def _scores(summary: Dict[str, object]) -> str:
    """``MAE .. RMSE ..`` of a summary, then ``CRPS .. coverage 80% ..`` when it has samples."""
    text = f"MAE {summary['mae']:.2f} RMSE {summary['rmse']:.2f}"
    if "crps" in summary:
        text += f" CRPS {summary['crps']:.2f} coverage " + " ".join(
            f"{level} {value:.2f}" for level, value in summary["coverage"].items())
    return text


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    fields = {f.name for f in dataclasses.fields(AirConfig)}
    args.device = str(resolve_device(args.device))
    config = AirConfig(**{k: v for k, v in vars(args).items() if k in fields and k != "stations"},
                       stations=[s.strip() for s in args.stations.split(",")] if args.stations else None,
                       show_progress=False if args.no_progress else None)
    exp = prepare_experiment(config)
    station = args.station or exp.data.stations[0]
    if station not in exp.data.stations:
        raise ValueError(f"unknown station {station!r}; stations: {', '.join(exp.data.stations)}")
    result = run_experiment(exp)
    if args.plot:
        path = plot_forecast(args.plot, exp.model, exp.data, exp.windows["test"], exp.graph, exp.scaler, station,
                             label=model_label(config), device=config.device, samples=config.samples,
                             generator=sample_generator(config.seed))
        print(f"plot: {path}")
    _report(result, args.json)
    return 0


def _report(result: Dict[str, object], path: Optional[str]) -> None:
    """Print the test scores of a result; write it as JSON to ``path`` when given."""
    test = result["test"]
    print(f"test {result['model']}: {_scores(test)} ug/m3 overall; " + "; ".join(
        f"{h}: {_scores(v)}" for h, v in test["headline"].items()))
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=1))
        print(f"results: {path}")


def run_evaluate(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    result = evaluate_checkpoint(args.checkpoint, args.root, str(resolve_device(args.device)), args.samples,
                                 False if args.no_progress else None)
    _report(result, args.json)
    return 0


def run_forecast(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    table, data, trained = forecast_from_csv(args.checkpoint, args.csv_dir, args.samples, args.seed,
                                             str(resolve_device(args.device)))
    print(f"{model_label(trained.config)} (epoch {trained.epoch}): forecast issued {str(table['time'].min())[:16]} "
          f"from {data.num_steps} steps read, the last at {str(data.timestamps[-1])[:16]}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False, float_format="%.2f")
        print(f"forecast: {args.out}")
    else:
        print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    if args.plot:
        print(f"plot: {plot_latest_forecast(args.plot, table, data, model_label(trained.config))}")
    return 0
