r"""AirPhyNet (Hettige et al., "AirPhyNet: Harnessing Physics-Guided Neural Networks for Air Quality
Prediction", ICLR 2024): a latent ODE whose vector field is advection-diffusion on the station graph.

1. Encode: a GRU, shared across stations, reads each station's input window (all channels, missing values as 0,
   and their masks) and gives the initial latent state :math:`z_0 \sim \mathcal N(\mu, \mathrm{diag}\,\sigma^2)`
   per station (a sample while training, :math:`\mu` in evaluation: the point forecast).
2. Integrate: :math:`z(t_k) = z_0 + \int_0^{t_k} f(t, z)\,dt` at the forecast times :math:`t_k = k\Delta`
   (hours) with torchdiffeq's ``odeint``, f the :class:`~sheafgraph.physics.odefunc.AdvectionDiffusionODE`.
3. Decode: a two-layer MLP maps each :math:`z_i(t_k)` (and, with ``clock``, the phase of the day
   :math:`\phi(h_0 + t_k)`) to the (scaled) PM2.5 of station i at step k; with ``readout``, a linear readout of the
   encoder state per lead time is added, :math:`\hat y_{i,k} = \mathrm{dec}(z_i(t_k), t_k) + (W_r h_i + b_r)_k`
   (the GRU baseline's head, initialised at zero so training starts from the ODE forecast). With ``dropout`` p > 0,
   the encoder state h and the decoder's hidden layer are dropped out with probability p while training.

Probabilistic forecasts (``samples`` = K > 0): K more trajectories from
:math:`z_0^{(k)} = \mu + \sigma \odot \epsilon^{(k)}`, :math:`\epsilon^{(k)} \sim \mathcal N(0, I)` (the
reference samples 3 and averages them), integrated and decoded in the same way; their spread is the model's
uncertainty about the initial state (scores: :mod:`sheafgraph.metrics.forecasting`). The point forecast stays the
trajectory from :math:`\mu`.

With ``clock`` the vector field is also forced by the clock (:mod:`sheafgraph.physics.odefunc`); the model then
needs each sample's clock hour :math:`h_0` at the forecast origin (``hour``, the end of the input window).

Unlike the public reference code, the vector field is one persistent module trained with the rest (k, alpha,
gates), the advection operator is directed (upwind), the wind may vary along the forecast, the diffusion
coefficient is learned, and the decoder is learned. Variants (``VARIANTS``): ``diff``, ``adv``, ``diff_adv``
(both terms) and ``nophy`` (graph network only).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torchdiffeq import odeint

from sheafgraph.physics.forecaster import Forecast, ForecastInputs, Forecaster, station_sequences
from sheafgraph.physics.odefunc import AdvectionDiffusionODE, clock_features
from sheafgraph.physics.transport import PhysicsGraph, advection_operators, station_laplacian
from sheafgraph.physics.wind import WIND_SCHEDULES, forecast_wind
from sheafgraph.utils.checks import Registry, positive_float, positive_int, probability
from sheafgraph.utils.seed import randn

#: variant name -> (diffusion, advection)
VARIANTS: Registry[Tuple[bool, bool]] = Registry("AirPhyNet variant", {
    "diff": (True, False), "adv": (False, True), "diff_adv": (True, True), "nophy": (False, False)})
FIXED_STEP_METHODS = ("euler", "midpoint", "rk4", "explicit_adams", "implicit_adams")


class AirPhyNet(Forecaster):
    r"""The latent advection-diffusion ODE forecaster of the module docstring.

    Args:
        in_channels: C, input channels per station and step (e.g. 13 for PRSA).
        output_steps: T_out, forecast steps.
        variant: a key of ``VARIANTS``.
        hidden_dim: GRU and decoder width.
        latent_dim: D, latent channels per station.
        ode_hidden_dim: width of the vector field's graph network.
        ode_time_scale: :math:`\tau` in hours, the time scale of the graph network's output (1 makes its O(1)
            initial output move the latent state by O(72) over a 72-hour forecast and trains much worse).
        step_hours: :math:`\Delta`, hours between steps (the ODE runs in hours; wind in km/h, positions in km).
        wind_mode: wind schedule over the forecast, a key of ``WIND_SCHEDULES`` (:mod:`sheafgraph.physics.wind`).
        method: torchdiffeq solver (``"rk4"``, ``"dopri5"``, ...).
        step_size: solver step in hours for fixed-step methods (default :math:`\Delta`, one step per output).
        rtol, atol: tolerances of adaptive methods.
        init_k, init_alpha: initial diffusion coefficient (1/h) and advection scale.
        laplacian_normalization: ``None`` (:math:`L = D - W`, conservative), ``"sym"`` or ``"rw"``.
        clock: force the vector field and the decoder with the phase of the day (needs ``hour`` in the call).
        readout: add the per-lead-time linear readout of the encoder state to the decoded ODE states.
        dropout: dropout probability on the encoder state and the decoder's hidden layer while training.

    The call is :class:`~sheafgraph.physics.forecaster.Forecaster`'s: the data (keyword-only besides x, mask; this
    model reads ``graph``, ``wind_in``, ``wind_out`` and ``hour``) and ``samples``, the number K of sampled
    trajectories to return besides the point forecast (0: none), drawn with ``generator``. ``nfe`` counts the
    evaluations of all integrations.

    Shapes:
        x, mask: ``(B, T_in, |V|, C)``; wind_in: ``(B, T_in, |V|, 2)`` m/s; wind_out: ``(B, T_out, |V|, 2)`` m/s;
        hour: ``(B,)`` clock hours at the forecast origin; returns a :class:`Forecast` with mean ``(B, T_out, |V|)``
        and samples ``(K, B, T_out, |V|)``.
    """

    def __init__(self, in_channels: int, output_steps: int = 24, *, variant: str = "diff_adv", hidden_dim: int = 32,
                 latent_dim: int = 32, ode_hidden_dim: int = 32, ode_time_scale: float = 24.0,
                 step_hours: float = 3.0, wind_mode: str = "last", method: str = "rk4",
                 step_size: Optional[float] = None, rtol: float = 1e-3, atol: float = 1e-4, init_k: float = 0.05,
                 init_alpha: float = 0.05, laplacian_normalization: Optional[str] = None, clock: bool = False,
                 readout: bool = False, dropout: float = 0.0):
        super().__init__()
        diffusion, advection = VARIANTS[variant]
        WIND_SCHEDULES[wind_mode]                                    # the registry names a wrong wind mode
        for name, value in (("in_channels", in_channels), ("output_steps", output_steps), ("hidden_dim", hidden_dim),
                            ("latent_dim", latent_dim), ("ode_hidden_dim", ode_hidden_dim)):
            positive_int(value, name)
        self.in_channels, self.output_steps, self.variant = in_channels, output_steps, variant
        self.step_hours, self.wind_mode = positive_float(step_hours, "step_hours"), wind_mode
        self.normalization, self.method, self.rtol, self.atol = laplacian_normalization, method, rtol, atol
        self.step_size = positive_float(step_size, "step_size") if step_size is not None else self.step_hours
        self.encoder = nn.GRU(2 * in_channels, hidden_dim, batch_first=True)
        self.to_latent = nn.Linear(hidden_dim, 2 * latent_dim)
        self.func = AdvectionDiffusionODE(latent_dim, ode_hidden_dim, diffusion=diffusion, advection=advection,
                                          init_k=init_k, init_alpha=init_alpha, time_scale=ode_time_scale,
                                          clock=clock)
        self.dropout = nn.Dropout(probability(dropout, "dropout"))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1))
        self.decoder_clock = nn.Linear(2, hidden_dim, bias=False) if clock else None
        self.readout = nn.Linear(hidden_dim, output_steps) if readout else None
        if readout:
            nn.init.zeros_(self.readout.weight)
            nn.init.zeros_(self.readout.bias)

    def extra_repr(self) -> str:
        return (f"variant={self.variant!r}, wind_mode={self.wind_mode!r}, method={self.method!r}, "
                f"step_hours={self.step_hours}, output_steps={self.output_steps}, clock={self.func.clock}, "
                f"readout={self.readout is not None}, dropout={self.dropout.p}")

    def encode(self, x: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Mean and log-variance of :math:`z_0` per station.

        Shapes:
            x, mask: ``(B, T_in, |V|, C)``; returns two ``(B, |V|, D)``.
        """
        return self._latent(self._summary(x, mask), x.shape)

    def _summary(self, x: Tensor, mask: Tensor) -> Tensor:
        """The encoder GRU's final state h, ``(B |V|, H)`` (dropped out while training)."""
        return self.dropout(self.encoder(station_sequences(x, mask))[1][-1])

    def _latent(self, h: Tensor, shape: torch.Size) -> Tuple[Tensor, Tensor]:
        mean, logvar = self.to_latent(h).view(shape[0], shape[2], -1).chunk(2, dim=-1)
        return mean, logvar

    def predict(self, x: Tensor, mask: Tensor, inputs: ForecastInputs) -> Forecast:
        graph, hour, samples, generator = inputs.graph, inputs.hour, inputs.samples, inputs.generator
        if not isinstance(graph, PhysicsGraph):
            raise TypeError("AirPhyNet needs graph=PhysicsGraph (sheafgraph.physics.physics_graph)")
        n = x.size(2)
        if graph.num_nodes != n:
            raise ValueError(f"x has {n} stations but the graph has {graph.num_nodes} nodes")
        if self.func.clock:
            if hour is None:
                raise ValueError("AirPhyNet(clock=True) needs hour (B,), the clock hour at the forecast origin "
                                 "(Window.hour)")
            hour = torch.as_tensor(hour, dtype=x.dtype, device=x.device)
            if hour.shape != (x.size(0),) or not torch.isfinite(hour).all():
                raise ValueError(f"hour must be ({x.size(0)},) finite clock hours, got shape {tuple(hour.shape)}")
        # 1. encode: initial latent state, sampled while training
        h = self._summary(x, mask)
        mean, logvar = self._latent(h, x.shape)
        kl = 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar).sum(-1).mean()
        z0 = mean
        if self.training:
            noise = randn(mean.shape, generator, dtype=mean.dtype, device=mean.device)
            z0 = mean + (0.5 * logvar).exp() * noise
        # 2. the wind over the forecast (km/h) when the field advects
        velocity, wind_in = None, inputs.wind_in
        if self.func.advection:
            if wind_in is None:
                raise ValueError("AirPhyNet with advection needs wind_in (B, T_in, |V|, 2) in m/s")
            if wind_in.shape[:3] != x.shape[:3]:
                raise ValueError(f"wind_in {tuple(wind_in.shape)} does not match x {tuple(x.shape)} in (B, T_in, |V|)")
            velocity = forecast_wind(wind_in, inputs.wind_out, self.wind_mode)
        # 3. integrate and decode the point forecast, then the sampled trajectories
        laplacian = station_laplacian(graph, self.normalization)
        y, nfe = self._trajectories(z0, graph, laplacian, velocity, hour)
        ensemble = None
        if samples:
            noise = randn((samples, *mean.shape), generator, dtype=mean.dtype, device=mean.device)
            zk = (mean + (0.5 * logvar).exp() * noise).flatten(0, 1)                # (K B, |V|, D), row k B + b
            ensemble, more = self._trajectories(zk, graph, laplacian, velocity, hour, samples)
            ensemble, nfe = ensemble.view(samples, *y.shape), nfe + more
        if self.readout is not None:
            lead = self.readout(h).view(x.size(0), n, self.output_steps).transpose(1, 2)
            y = y + lead
            ensemble = ensemble + lead if ensemble is not None else None
        return Forecast(y, kl, nfe, ensemble)

    def _trajectories(self, z0: Tensor, graph: PhysicsGraph, laplacian, velocity: Optional[Tensor],
                      hour: Optional[Tensor], copies: int = 1) -> Tuple[Tensor, int]:
        r"""Integrate the latent ODE from ``z0`` (``copies`` stacked copies of the batch, row ``c B + b`` for copy c
        of sample b) and decode every forecast time (without the readout); also returns the evaluations of the field.

        Shapes:
            z0: ``(copies B, |V|, D)``; velocity: ``(B, T_w, |V|, 2)`` km/h; hour: ``(B,)``;
            returns ``(copies B, T_out, |V|)``.
        """
        if copies > 1:
            velocity = velocity.repeat(copies, 1, 1, 1) if velocity is not None else None
            hour = hour.repeat(copies) if hour is not None else None
        advection = advection_operators(graph, velocity) if velocity is not None else None
        field = self.func.bind(laplacian, advection, self.step_hours, hour)
        times = torch.arange(self.output_steps + 1, dtype=z0.dtype, device=z0.device) * self.step_hours
        options = {"step_size": self.step_size} if self.method in FIXED_STEP_METHODS else None
        zs = odeint(field, z0, times, method=self.method, options=options, rtol=self.rtol, atol=self.atol)
        # decode every forecast time (T_out, B, |V|, D) -> (B, T_out, |V|)
        hidden = self.decoder[0](zs[1:])
        if self.decoder_clock is not None:
            phase = clock_features(hour + times[1:, None])                          # (T_out, B, 2)
            hidden = hidden + self.decoder_clock(phase).unsqueeze(2)
        return self.decoder[2](self.dropout(self.decoder[1](hidden))).squeeze(-1).permute(1, 0, 2), field.nfe
