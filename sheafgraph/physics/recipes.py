"""Air-quality recipes: the configuration of one forecasting run and the forecaster it builds.

:class:`AirConfig` is the single declaration of every option of ``sheafgraph air``: its default, help text, choices
(a :class:`~sheafgraph.utils.checks.Registry`) and check sit in the field's metadata; flags are generated from it
(:func:`sheafgraph.utils.options.add_dataclass_flags`) and ``__post_init__`` runs the checks, so a run is refused
before any data is read. Models (``MODELS``): the AirPhyNet variants ``diff``, ``adv``, ``diff_adv``, ``nophy``
(:mod:`sheafgraph.physics.airphynet`) and the baselines ``persistence``, ``historical_average`` and ``gru``
(:mod:`sheafgraph.physics.baselines`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

from torch import nn

from sheafgraph.data import AirQualityData, ChannelScaler, load_knowair, load_prsa_beijing
from sheafgraph.data.airphynet import WindowedAirData, load_airphynet
from sheafgraph.data.windows import chronological_split
from sheafgraph.physics.airphynet import VARIANTS, AirPhyNet
from sheafgraph.physics.baselines import GRUForecaster, HistoricalAverage, Persistence
from sheafgraph.physics.wind import WIND_SCHEDULES
from sheafgraph.utils.checks import Registry, nonnegative_float, positive_float, positive_int, probability
from sheafgraph.utils.device import resolve_device

AirData = Union[AirQualityData, WindowedAirData]
DATASETS: Registry[Callable[..., AirData]] = Registry(
    "dataset", {"prsa": load_prsa_beijing, "knowair": load_knowair, "airphynet": load_airphynet})


def _persistence(name: str, data: AirData, scaler: ChannelScaler, config: "AirConfig") -> nn.Module:
    return Persistence(config.output_steps)


def _historical_average(name: str, data: AirData, scaler: ChannelScaler, config: "AirConfig") -> nn.Module:
    train = chronological_split(data.num_steps)["train"]
    target = scaler.transform(data.values)[..., 0]
    hour = data.hour_of_day.floor().long()
    return HistoricalAverage(target, data.mask[..., 0], hour, train, config.output_steps)


def _gru(name: str, data: AirData, scaler: ChannelScaler, config: "AirConfig") -> nn.Module:
    return GRUForecaster(len(data.channels), config.output_steps, hidden_dim=config.hidden_dim,
                         future_wind=config.wind_mode == "future")


def _airphynet(name: str, data: AirData, scaler: ChannelScaler, config: "AirConfig") -> nn.Module:
    return AirPhyNet(len(data.channels), config.output_steps, variant=name, hidden_dim=config.hidden_dim,
                     latent_dim=config.latent_dim, ode_hidden_dim=config.ode_hidden_dim,
                     ode_time_scale=config.ode_time_scale, step_hours=data.step_hours, wind_mode=config.wind_mode,
                     method=config.method, step_size=config.step_size, clock=config.clock, readout=config.readout,
                     dropout=config.dropout)


#: model name -> builder ``(name, data, scaler, config) -> forecaster``
MODELS: Registry[Callable[..., nn.Module]] = Registry("model", {
    "persistence": _persistence, "historical_average": _historical_average, "gru": _gru,
    **{variant: _airphynet for variant in VARIANTS}})
BASELINES = ("persistence", "historical_average", "gru")
TRAINED = ("gru",) + tuple(VARIANTS)


def _samples(value: Any, name: str) -> int:
    if positive_int(value, name, minimum=0) == 1:
        raise ValueError(f"{name} must be 0 (point forecasts only) or at least 2, got {value!r}")
    return value


def _option(default, help_text: str, *, check: Optional[Callable[[Any, str], Any]] = None,
            choices: Optional[Registry] = None):
    """A field with its help, its choices (a Registry) and its check (``check(value, name)``, skipped for None)."""
    return field(default=default, metadata={"help": help_text, "choices": choices, "check": check})


@dataclass
class AirConfig:
    """Everything a forecasting run depends on (the flags of ``sheafgraph air``), each option declared once."""
    data: str = _option("prsa", "dataset", choices=DATASETS)
    root: Optional[str] = _option(None, "data root (default $SHEAFGRAPH_DATA, else the project's datasets/); for "
                                        "--data airphynet the folder holding train.npz, val.npz, test.npz and "
                                        "station.csv (default <data root>/air/airphynet)")
    model: str = _option("diff_adv", "model", choices=MODELS)
    stations: Optional[Sequence[str]] = _option(None, "comma-separated PRSA station names (default all)")
    steps: Optional[int] = _option(None, "use only the first STEPS time steps (default all)")
    input_steps: int = _option(24, "input steps per window", check=positive_int)
    output_steps: int = _option(24, "forecast steps per window", check=positive_int)
    train_stride: int = _option(1, "steps between training windows", check=positive_int)
    epochs: int = _option(10, "maximum training epochs", check=positive_int)
    batch_size: int = _option(64, "windows per batch", check=positive_int)
    lr: float = _option(3e-3, "learning rate (Adam, cosine schedule)", check=positive_float)
    weight_decay: float = _option(0.0, "weight decay", check=nonnegative_float)
    clip: float = _option(1.0, "gradient-norm clipping threshold", check=positive_float)
    patience: int = _option(3, "early-stopping patience in epochs (validation MAE)", check=positive_int)
    kl_weight: float = _option(1e-3, "weight of the latent KL term in the loss", check=nonnegative_float)
    ema: float = _option(0.0, "decay of a moving average of the weights (per batch) that is validated and tested "
                              "(0: off)", check=probability)
    hidden_dim: int = _option(32, "GRU and decoder width", check=positive_int)
    latent_dim: int = _option(32, "AirPhyNet latent channels per station", check=positive_int)
    ode_hidden_dim: int = _option(32, "width of the vector field's graph network", check=positive_int)
    ode_time_scale: float = _option(24.0, "hours per unit output of the vector field's graph network",
                                    check=positive_float)
    clock: bool = _option(False, "AirPhyNet option: force the vector field and decoder with the phase of the day")
    readout: bool = _option(False, "AirPhyNet option: add a per-lead-time linear readout of the encoder state")
    dropout: float = _option(0.0, "AirPhyNet option: dropout on the encoder state and decoder while training",
                             check=probability)
    wind_mode: str = _option("last", "wind over the forecast: last observed held, input mean held, or observed "
                                     "future; 'future' also feeds the GRU baseline the observed future wind",
                             choices=WIND_SCHEDULES)
    method: str = _option("rk4", "torchdiffeq solver")
    step_size: Optional[float] = _option(None, "fixed solver step in hours (default one step)", check=positive_float)
    samples: int = _option(0, "AirPhyNet variants: sampled trajectories per window for CRPS, interval coverage and "
                              "plot bands (0: point forecasts only; at least 2 otherwise, e.g. 20)", check=_samples)
    calibrate: bool = _option(False, "with samples: add to every sampled trajectory a draw from the point forecast's "
                                     "validation residuals at its horizon (intervals calibrated on validation)")
    calibrate_bins: int = _option(2, "with calibrate: residual tables per horizon in B equal-count bins of the point "
                                     "forecast's level, each trajectory drawing from its own forecast's bin (1: one "
                                     "table per horizon); choose B by the validation calibration_check (2 won it "
                                     "on PRSA, diff_adv)", check=positive_int)
    seed: int = _option(0, "seed of the weights, the batches and the sampled trajectories",
                        check=lambda value, name: positive_int(value, name, minimum=0))
    device: str = _option("cpu", "cpu, cuda or auto (auto: CUDA when available)")
    checkpoint: Optional[str] = _option(None, "save the best weights (with the scaler and station network) here")
    show_progress: Optional[bool] = _option(None, "progress bars (None: when the output is a terminal)")

    def __post_init__(self):
        if isinstance(self.stations, str):
            self.stations = [s.strip() for s in self.stations.split(",")]
        for f in dataclasses.fields(self):
            value, choices, check = getattr(self, f.name), f.metadata.get("choices"), f.metadata.get("check")
            if choices is not None:
                choices[value]                              # the registry names an unknown choice
            if check is not None and value is not None:
                check(value, f.name)
        self.device = str(resolve_device(self.device))          # checks the name and the machine
        if self.data == "airphynet" and (self.clock or self.model == "historical_average"):
            raise ValueError("the airphynet layout has no timestamps: --clock and historical_average need a series "
                             "dataset (prsa, knowair)")
        if self.calibrate and not self.samples:
            raise ValueError("calibrate widens sampled forecasts: give samples (at least 2) too")
        if self.samples and self.model not in VARIANTS:
            raise ValueError(f"samples need a model with a latent distribution ({', '.join(VARIANTS)}); "
                             f"{self.model} gives point forecasts only")


def build_model(name: str, data: AirData, scaler: ChannelScaler, config: AirConfig) -> nn.Module:
    """A forecaster of ``MODELS`` for ``data``; ``historical_average`` is fitted on the training steps here."""
    return MODELS[name](name, data, scaler, config)


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
