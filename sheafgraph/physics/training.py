r"""Training and evaluation of the forecasters on batches of :class:`~sheafgraph.data.windows.Window`.

Training (:func:`train_model`): Adam, a cosine learning-rate schedule, gradient-norm clipping, early stopping on the
validation MAE (:class:`~sheafgraph.utils.early_stopping.EarlyStopping`), and the best epoch's weights reloaded at
the end. Loss: masked MAE of the scaled target plus ``kl_weight`` times the latent KL term (AirPhyNet models).

Evaluation (:func:`evaluate`): masked MAE / RMSE in original units (ug/m3) per horizon and station; with
``samples`` = K >= 2, the model's K sampled trajectories per window are also scored by fair CRPS and the coverage
of the central 80% and 90% intervals (:class:`~sheafgraph.metrics.forecasting.ForecastErrors`). The point forecast
is the trajectory of the latent mean either way.

Calibration (:func:`residual_quantiles`, ``residuals=``): the latent trajectories spread far less than the forecast
errors, so their intervals are too narrow. Adding to each trajectory an independent draw :math:`r \sim \hat F_{h,b}`
from the empirical distribution of the point forecast's residuals (target minus forecast) at its horizon h, fitted
on the validation split, gives the predictive distribution ``trajectory + r``; test then checks its coverage. PM2.5
errors grow with the pollution level, so the residuals of each horizon may be split into B equal-count bins of the
point forecast :math:`\hat y` (edges :math:`e_{h,1} < \dots < e_{h,B-1}`, the validation forecasts' quantiles
j / B), and a trajectory draws from the bin b of its own :math:`\hat y` (:class:`ResidualTable`; B = 1: one table
per horizon).
"""
from __future__ import annotations

import copy
import dataclasses
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import torch
from torch import nn
from torch.utils.data import DataLoader

from sheafgraph.data import ChannelScaler
from sheafgraph.metrics.forecasting import ForecastErrors, ForecastReport, masked_mae
from sheafgraph.physics.forecaster import Forecast
from sheafgraph.physics.recipes import AirConfig
from sheafgraph.physics.transport import PhysicsGraph
from sheafgraph.utils import EMA, progress, save_checkpoint
from sheafgraph.utils.checks import positive_int
from sheafgraph.utils.early_stopping import EarlyStopping
from sheafgraph.utils.seed import rand


def to_device(batch, device):
    """A batch of :class:`~sheafgraph.data.windows.Window` with its tensors moved to ``device``."""
    return type(batch)(*(x.to(device) if isinstance(x, torch.Tensor) else x for x in batch))


def forecast(model: nn.Module, batch, graph: PhysicsGraph, generator: Optional[torch.Generator] = None,
             samples: int = 0) -> Forecast:
    """Run any forecaster on a batch of :class:`~sheafgraph.data.windows.Window` (the shared call of
    :class:`~sheafgraph.physics.forecaster.Forecaster`); ``samples`` sampled trajectories from models that have them."""
    return model(batch.x_in, batch.mask_in, graph=graph, wind_in=batch.wind_in, wind_out=batch.wind_out,
                 start=batch.start, hour=batch.hour, samples=samples, generator=generator)


def sample_generator(seed: int) -> torch.Generator:
    """The CPU generator that draws an evaluation's sampled trajectories (noise moves to the model's device)."""
    return torch.Generator().manual_seed(seed)


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


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, graph: PhysicsGraph, scaler: ChannelScaler,
             device: str = "cpu", show_progress: Optional[bool] = None, desc: str = "eval", samples: int = 0,
             generator: Optional[torch.Generator] = None, residuals: Optional[ResidualTable] = None
             ) -> Tuple[ForecastReport, float]:
    """Masked scores in original units (ug/m3) over a loader, and the mean NFE per batch.

    With ``samples`` = K >= 2 the model also returns K sampled trajectories per window (drawn with ``generator``),
    scored by CRPS and interval coverage (:class:`~sheafgraph.metrics.forecasting.ForecastErrors`); with
    ``residuals`` (:func:`residual_quantiles`) each trajectory gets a residual draw, from the table of its point
    forecast's level, added (module docstring).
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
        if members is not None and residuals is not None:
            members = members + draw_residuals(residuals, pred, members.shape, generator)
        errors.update(pred, target, batch.mask_out.cpu(), members)
        nfe, batches = nfe + out.nfe, batches + 1
    return errors.report(), nfe / max(batches, 1)


class ResidualTable(NamedTuple):
    r"""Quantiles of the point forecast's residuals per horizon h and level bin b (module docstring): bin b of
    horizon h holds the forecasts :math:`e_{h,b} < \hat y \le e_{h,b+1}` (:math:`e_{h,0} = -\infty`,
    :math:`e_{h,B} = \infty`), and ``quantiles[h, b]`` its residuals' quantiles at L evenly spaced levels in [0, 1].

    Shapes:
        edges: ``(T_out, B - 1)``; quantiles: ``(T_out, B, L)``.
    """
    edges: torch.Tensor
    quantiles: torch.Tensor

    def bin_of(self, point: torch.Tensor) -> torch.Tensor:
        """The bin of each point forecast at its horizon. Shapes: point ``(..., T_out, |V|)``; returns its shape."""
        by_step = point.movedim(-2, 0)                                                  # (T_out, ..., |V|)
        bins = torch.searchsorted(self.edges.contiguous(), by_step.reshape(by_step.size(0), -1).contiguous())
        return bins.view(by_step.shape).movedim(0, -2)


def residual_table(point: torch.Tensor, residual: torch.Tensor, bins: int = 1, levels: int = 201) -> ResidualTable:
    """Tabulate residuals per horizon in ``bins`` equal-count bins of the point forecast (edges: the quantiles j / B of
    the observed entries' forecasts), with ``levels`` quantiles per bin; ``bins`` = 1 pools each horizon.

    Shapes:
        point, residual: ``(N, T_out, |V|)``, residual NaN where unobserved.
    """
    bins = positive_int(bins, "calibrate_bins")
    r, p = residual.transpose(0, 1).flatten(1), point.transpose(0, 1).flatten(1)       # (T_out, N |V|)
    cuts = torch.linspace(0, 1, bins + 1, dtype=p.dtype)[1:-1]
    edges = torch.nanquantile(torch.where(r.isnan(), torch.nan, p), cuts, dim=1).t()          # (T_out, B - 1)
    bin_of = torch.searchsorted(edges.contiguous(), p.contiguous())
    q = torch.linspace(0, 1, levels, dtype=r.dtype)
    quantiles = torch.stack([torch.nanquantile(torch.where(bin_of == b, r, torch.nan), q, dim=1).t()
                             for b in range(bins)], dim=1)
    if quantiles.isnan().any():
        raise ValueError(f"{bins} bins leave a bin of some horizon without observed residuals: use fewer "
                         "calibrate_bins")
    return ResidualTable(edges, quantiles)


@torch.no_grad()
def residual_quantiles(model: nn.Module, loader: DataLoader, graph: PhysicsGraph, scaler: ChannelScaler,
                       device: str = "cpu", levels: int = 201, bins: int = 1) -> ResidualTable:
    """The :class:`ResidualTable` (:func:`residual_table`) of the point forecast's residuals, target minus forecast
    in ug/m3, over the observed entries of ``loader`` (the validation split)."""
    model.eval()
    points, residuals = [], []
    for batch in loader:
        batch = to_device(batch, device)
        point = scaler.inverse_transform_target(forecast(model, batch, graph).mean.double().cpu())
        r = scaler.inverse_transform_target(batch.y_out.double().cpu()) - point
        points.append(point)
        residuals.append(torch.where(batch.mask_out.cpu(), r, torch.nan))
    return residual_table(torch.cat(points), torch.cat(residuals), bins, levels)


def draw_residuals(table: ResidualTable, point: torch.Tensor, shape: torch.Size,
                   generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Independent draws from the distributions tabulated in ``table``, each from the bin of its point forecast at its
    horizon (inverse CDF, linear between quantiles).

    Shapes:
        point: ``(B, T_out, |V|)``; shape: ``(K, B, T_out, |V|)``; returns ``shape``.
    """
    quantiles = table.quantiles
    levels = quantiles.size(-1)
    position = rand(shape, generator, dtype=quantiles.dtype) * (levels - 1)
    low = position.floor().long().clamp_(max=levels - 2)
    step = torch.arange(quantiles.size(0)).view(1, 1, -1, 1).expand(shape)
    bin_of = table.bin_of(point).expand(shape)
    lo, hi = quantiles[step, bin_of, low], quantiles[step, bin_of, low + 1]
    return lo + (position - low) * (hi - lo)


def train_model(model: nn.Module, loaders: Dict[str, DataLoader], graph: PhysicsGraph, scaler: ChannelScaler,
                config: AirConfig, generator: torch.Generator, log: Callable[[str], None] = print,
                meta: Optional[Dict[str, object]] = None) -> List[Dict]:
    r"""Adam + cosine schedule + gradient clipping; early stopping on validation MAE; reloads the best weights.

    With ``config.checkpoint`` every new best state is saved there, with the config, the epoch and ``meta``
    (:func:`sheafgraph.physics.checkpoints.forecaster_state`: what a forecast needs besides the weights).
    With ``config.ema`` > 0 an exponential moving average of the weights (updated every batch) is what is validated,
    kept as the best state and tested.
    Returns one record per epoch (train loss, validation MAE in ug/m3, seconds, mean NFE, physics coefficients).
    """
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs, eta_min=config.lr / 20)
    stopper, initial, history = EarlyStopping(config.patience), copy.deepcopy(model.state_dict()), []
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
        if stopper.step(val.mae, epoch, lambda: copy.deepcopy(model.state_dict())):
            if config.checkpoint:
                save_checkpoint({"model": stopper.best_state, "config": dataclasses.asdict(config), "epoch": epoch,
                                 **(meta or {})}, config.checkpoint)
        elif stopper.should_stop:
            log(f"early stop after epoch {epoch}: no validation improvement for {stopper.stale} epochs")
            break
        if live is not None:                       # back to the live weights for the next epoch
            model.load_state_dict(live)
    model.load_state_dict(stopper.best_state if stopper.best_state is not None else initial)
    return history
