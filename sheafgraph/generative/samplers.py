r"""Samplers for GDSS's reverse-time system of SDEs (Jo et al., ICML 2022, Sec. 3.3), k-diffusion style.

Every sampler is a pure function with one signature::

    sampler(model, graphs, sde, *, steps, eps, <options>, generator=None, callback=None) -> Sample(graphs, nfe)

``model(x, adj, mask, t) -> (eps_x, eps_adj)`` predicts the noise (score :math:`s = -\hat\epsilon/\sigma_t`),
``graphs`` is the prior sample (:meth:`GraphSDE.prior_sampling`), ``sde`` the :class:`GraphSDE`. Time runs from
``T`` to ``eps`` on ``steps`` uniform steps; ``callback(step, t, graphs)`` is called after each step; the
returned ``nfe`` counts evaluations of ``model`` (one call gives both components). Loops run under
``torch.no_grad()``; the noise is masked and symmetric for the adjacency, so masks and symmetry are preserved.

=================  ====================================================================================
``"pc"``           predictor-corrector: reverse-diffusion or Euler–Maruyama predictor, Langevin or no corrector
``"s4"``           GDSS's symmetric splitting solver (Alg. 2): Langevin correction, then half linear step,
                   score step, half linear step, one model call per step
``"ode"``          probability-flow ODE with torchdiffeq's fixed-grid Euler or Heun
``"dpm_solver"``   DPM-Solver (Lu et al., NeurIPS 2022), exponential integrator of first or second order
=================  ====================================================================================
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple

import torch
from torch import Tensor, nn
from torchdiffeq import odeint

from sheafgraph.generative.noise import Graphs, batch_view, graph_noise
from sheafgraph.generative.sde import SDE, GraphSDE, reverse_discretize, reverse_drift
from sheafgraph.utils.checks import Registry, check_choice, positive_int
from sheafgraph.utils.options import keyword_options

Callback = Optional[Callable[[int, float, Graphs], None]]

#: GDSS's Langevin corrector settings (its QM9 configuration): the defaults of every sampler with a corrector
SNR, SCALE_EPS = 0.2, 0.7


class Sample(NamedTuple):
    """Sampler output: the final (continuous) graphs and the number of model evaluations."""

    graphs: Graphs
    nfe: int


SPACINGS = ("uniform", "quadratic")


def time_grid(T: float, eps: float, steps: int, spacing: str = "uniform") -> Tensor:
    """``steps + 1`` times from ``T`` down to ``eps``: uniform, or ``"quadratic"`` (uniform in sqrt(t), denser near
    ``eps``, DPM-Solver's ``time_quadratic``)."""
    positive_int(steps, "steps")
    if not 0 < eps < T:
        raise ValueError(f"eps must be in (0, T={T}), got {eps}")
    check_choice(spacing, SPACINGS, "time spacing")
    if spacing == "quadratic":
        return torch.linspace(T ** 0.5, eps ** 0.5, steps + 1, dtype=torch.float64) ** 2
    return torch.linspace(T, eps, steps + 1, dtype=torch.float64)


def noise_prediction(model: nn.Module, graphs: Graphs, t: Tensor) -> Tuple[Tensor, Tensor]:
    """``model(x, adj, mask, t)``: the predicted noise of both components."""
    return model(graphs.x, graphs.adj, graphs.mask, t)


def scores(model: nn.Module, sde: GraphSDE, graphs: Graphs, t: Tensor) -> Tuple[Tensor, Tensor]:
    r"""Scores :math:`s_k = -\hat\epsilon_k / \sigma_{k,t}` of both components (one model evaluation)."""
    out = noise_prediction(model, graphs, t)
    return tuple(-e / batch_view(s.marginal_coefficients(t)[1], e) for e, s in zip(out, sde))


def _times(graphs: Graphs, t: Tensor) -> Tensor:
    return t.to(device=graphs.x.device, dtype=graphs.x.dtype).expand(graphs.x.shape[0])


def _grid(graphs: Graphs, T: float, eps: float, steps: int, spacing: str = "uniform") -> Tuple[Tensor, List[float]]:
    """The float64 :func:`time_grid` on the graphs' device (moved once, so steps never copy to the device and wait
    for it) and as Python floats (for the host-side schedule and callbacks)."""
    grid = time_grid(T, eps, steps, spacing)
    return grid.to(graphs.x.device), grid.tolist()


# ---------------------------------------------------------------- one-component updates (pure, per step)
def reverse_diffusion_update(sde: SDE, x: Tensor, t: Tensor, h: Tensor, score: Tensor, z: Tensor):
    """Reverse diffusion predictor: ``x - f + G^2 s + G z`` from the forward discretisation; returns (x, mean)."""
    f, G = reverse_discretize(sde, x, t, h, score)
    mean = x - f
    return mean + batch_view(G, x) * z, mean


def euler_maruyama_update(sde: SDE, x: Tensor, t: Tensor, h: Tensor, score: Tensor, z: Tensor):
    r"""Euler–Maruyama step of the reverse SDE: ``x - (f - g^2 s) h + g sqrt(h) z``; returns (x, mean)."""
    drift, g = reverse_drift(sde, x, t, score)
    mean = x - drift * batch_view(h, x)
    return mean + batch_view(g * h.sqrt(), x) * z, mean


def langevin_update(x: Tensor, score: Tensor, z: Tensor, snr: float, scale_eps: float):
    r"""Langevin step :math:`x + \delta s + \sqrt{2\delta}\,c\,z` with :math:`\delta = 2(r\|z\|/\|s\|)^2` (batch-mean
    norms, signal-to-noise ratio r = ``snr``, c = ``scale_eps``); returns (x, mean)."""
    grad_norm = score.flatten(1).norm(dim=-1).mean()
    noise_norm = z.flatten(1).norm(dim=-1).mean()
    step = 2 * (snr * noise_norm / grad_norm.clamp_min(1e-12)) ** 2
    mean = x + step * score
    return mean + (2 * step).sqrt() * scale_eps * z, mean


def check_langevin_options(snr: float, scale_eps: float, scale_eps_early: Optional[float]) -> None:
    """Reject negative (or NaN) Langevin options with an error that names them."""
    for name, value in (("snr", snr), ("scale_eps", scale_eps), ("scale_eps_early", scale_eps_early)):
        if value is not None and not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def langevin_noise_scale(t: float, scale_eps: float, scale_eps_early: Optional[float], switch_time: float) -> float:
    """The Langevin noise scale at time t: ``scale_eps_early`` while ``t > switch_time`` (when given), else
    ``scale_eps``. With ``scale_eps_early = 1`` the corrector samples the learned marginals faithfully at high noise,
    where atom types and bond orders are decided, and sharpens them (``scale_eps < 1``) only near the data."""
    return scale_eps_early if scale_eps_early is not None and t > switch_time else scale_eps


def transition_update(sde: SDE, x: Tensor, t: Tensor, h: Tensor, z: Tensor):
    """Exact step of the linear part of the reverse SDE from t to t - h (:meth:`SDE.transition`); returns (x, mean)."""
    mean, std = sde.transition(x, t, h)
    return mean + batch_view(std, x) * z, mean


PREDICTORS = Registry("predictor", {"reverse_diffusion": reverse_diffusion_update,
                                    "euler_maruyama": euler_maruyama_update})


def _pair(update, graphs: Graphs, *per_component) -> Tuple[Graphs, Graphs]:
    """Apply a one-component update to x and adj; returns (new graphs, their means)."""
    (x, mx), (a, ma) = (update(*args) for args in zip(*per_component))
    return Graphs(x, a, graphs.mask), Graphs(mx, ma, graphs.mask)


def langevin_step(graphs: Graphs, s: Tuple[Tensor, Tensor], z: Graphs, snr: float, scale: float) -> Graphs:
    """One Langevin step (:func:`langevin_update`) of both components with scores ``s`` and noise ``z``."""
    return _pair(partial(langevin_update, snr=snr, scale_eps=scale), graphs, graphs[:2], s, z[:2])[0]


class LangevinCorrector(NamedTuple):
    """Langevin corrector (Song et al., 2021, Alg. 4) with ``n_steps`` model calls per time step and the noise
    scale of :func:`langevin_noise_scale`."""

    snr: float = SNR
    scale_eps: float = SCALE_EPS
    n_steps: int = 1
    scale_eps_early: Optional[float] = None
    switch_time: float = 0.5

    def __call__(self, model, sde: GraphSDE, graphs: Graphs, t: Tensor, time: float, generator) -> Tuple[Graphs, int]:
        scale = langevin_noise_scale(time, self.scale_eps, self.scale_eps_early, self.switch_time)
        for _ in range(self.n_steps):
            s = scores(model, sde, graphs, t)
            graphs = langevin_step(graphs, s, graph_noise(graphs, generator), self.snr, scale)
        return graphs, self.n_steps


class NoCorrector:
    """The null corrector: leaves the graphs unchanged and costs no model call."""

    def __call__(self, model, sde, graphs: Graphs, t: Tensor, time: float, generator) -> Tuple[Graphs, int]:
        return graphs, 0


# ---------------------------------------------------------------- samplers
@torch.no_grad()
def sample_pc(model: nn.Module, graphs: Graphs, sde: GraphSDE, *, steps: int = 1000, eps: float = 1e-4,
              predictor: str = "reverse_diffusion", corrector: str = "langevin", snr: float = SNR,
              scale_eps: float = SCALE_EPS, corrector_steps: int = 1, scale_eps_early: Optional[float] = None,
              switch_time: float = 0.5, denoise: bool = True, generator: Optional[torch.Generator] = None,
              callback: Callback = None) -> Sample:
    """Predictor-corrector sampling (Song et al., 2021; GDSS's default sampler for QM9, Alg. 1).

    Args:
        predictor: ``"reverse_diffusion"`` or ``"euler_maruyama"``.
        corrector: ``"langevin"`` or ``"none"``.
        snr, scale_eps, corrector_steps, scale_eps_early, switch_time: Langevin options
            (:func:`langevin_noise_scale`).
        denoise: return the last step's mean (no final noise).
    """
    update = PREDICTORS[predictor]
    check_langevin_options(snr, scale_eps, scale_eps_early)
    langevin = LangevinCorrector(snr, scale_eps, corrector_steps, scale_eps_early, switch_time)
    correct = Registry("corrector", {"langevin": langevin, "none": NoCorrector()})[corrector]
    (ts, times), nfe, mean = _grid(graphs, sde.T, eps, steps), 0, graphs
    for i in range(steps):
        t, h = _times(graphs, ts[i]), _times(graphs, ts[i] - ts[i + 1])
        # correct at t, then predict t -> t - h
        graphs, cost = correct(model, sde, graphs, t, times[i], generator)
        s, z = scores(model, sde, graphs, t), graph_noise(graphs, generator)
        graphs, mean = _pair(update, graphs, sde, graphs[:2], (t, t), (h, h), s, z[:2])
        nfe += cost + 1
        if callback is not None:
            callback(i, times[i + 1], graphs)
    return Sample(mean if denoise else graphs, nfe)


@torch.no_grad()
def sample_s4(model: nn.Module, graphs: Graphs, sde: GraphSDE, *, steps: int = 1000, eps: float = 1e-4,
              snr: float = SNR, scale_eps: float = SCALE_EPS, scale_eps_early: Optional[float] = None,
              switch_time: float = 0.5, denoise: bool = True, generator: Optional[torch.Generator] = None,
              callback: Callback = None) -> Sample:
    r"""GDSS's S4 solver (Symmetric Splitting for System of SDEs, Alg. 2): per step one model call gives the scores
    :math:`s`; a Langevin correction reuses them (noise scale :func:`langevin_noise_scale`); then the reverse SDE is
    split into its linear part :math:`dx = f\,dt + g\,d\bar w` (solved exactly, :meth:`SDE.transition`) and the
    score part :math:`dx = -g^2 s\,dt`, combined as half linear step, score step, half linear step (Strang
    splitting).
    """
    check_langevin_options(snr, scale_eps, scale_eps_early)
    ts, times = _grid(graphs, sde.T, eps, steps)
    mean = graphs
    for i in range(steps):
        t, h = _times(graphs, ts[i]), _times(graphs, ts[i] - ts[i + 1])
        s = scores(model, sde, graphs, t)
        score_step = [batch_view(c.sde(v, t)[1].pow(2) * h, v) * si for c, v, si in zip(sde, graphs[:2], s)]
        # correction with the same scores
        scale = langevin_noise_scale(times[i], scale_eps, scale_eps_early, switch_time)
        graphs = langevin_step(graphs, s, graph_noise(graphs, generator), snr, scale)
        # half linear step t -> t - h/2, score step, half linear step t - h/2 -> t - h
        graphs, _ = _pair(transition_update, graphs, sde, graphs[:2], (t, t), (h / 2, h / 2),
                          graph_noise(graphs, generator)[:2])
        graphs = Graphs(graphs.x + score_step[0], graphs.adj + score_step[1], graphs.mask)
        graphs, mean = _pair(transition_update, graphs, sde, graphs[:2], (t - h / 2,) * 2, (h / 2, h / 2),
                             graph_noise(graphs, generator)[:2])
        if callback is not None:
            callback(i, times[i + 1], graphs)
    return Sample(mean if denoise else graphs, steps)


class ProbabilityFlow(nn.Module):
    r"""The probability-flow ODE :math:`dG/dt = f - \tfrac12 g^2 s(G, t)` of both components as a torchdiffeq vector
    field ``forward(t, (x, adj))``; counts its evaluations in ``nfe``."""

    def __init__(self, model: nn.Module, sde: GraphSDE, mask: Tensor, callback: Callback = None):
        super().__init__()
        self.model, self.sde, self.mask, self.callback = model, sde, mask, callback
        self.nfe, self.steps_done = 0, 0

    def callback_step(self, t0: Tensor, state: Tuple[Tensor, Tensor], dt: Tensor) -> None:
        """torchdiffeq's hook before each step: report the previous step's result, reached at time ``t0``."""
        if self.callback is not None and self.steps_done > 0:
            self.callback(self.steps_done - 1, float(t0), Graphs(*state, self.mask))
        self.steps_done += 1

    def forward(self, t: Tensor, state: Tuple[Tensor, Tensor]) -> Tuple[Tensor, Tensor]:
        self.nfe += 1
        graphs = Graphs(*state, self.mask)
        vec_t = _times(graphs, t)
        s = scores(self.model, self.sde, graphs, vec_t)
        return tuple(reverse_drift(c, v, vec_t, si, probability_flow=True)[0] for c, v, si in zip(self.sde, state, s))


ODE_METHODS = Registry("ODE method", {"euler": "euler", "heun": "heun2"})


@torch.no_grad()
def sample_ode(model: nn.Module, graphs: Graphs, sde: GraphSDE, *, steps: int = 100, eps: float = 1e-4,
               method: str = "heun", generator: Optional[torch.Generator] = None,
               callback: Callback = None) -> Sample:
    """Integrate the probability-flow ODE from T to eps with torchdiffeq's fixed-grid ``"euler"`` or ``"heun"``
    (2 model calls per step). Deterministic given the prior sample (``generator`` is unused)."""
    solver = ODE_METHODS[method]
    ts, times = _grid(graphs, sde.T, eps, steps)
    field = ProbabilityFlow(model, sde, graphs.mask, callback)
    options = {"grid_constructor": lambda func, y0, t: torch.linspace(t[0], t[-1], steps + 1, dtype=t.dtype,
                                                                      device=t.device)}
    x, adj = odeint(field, graphs[:2], ts[[0, -1]], method=solver, options=options)
    out = Graphs(x[-1], adj[-1], graphs.mask)
    if callback is not None:
        callback(steps - 1, times[-1], out)
    return Sample(out, field.nfe)


def _log_snr(sde: SDE, t: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    alpha, sigma = sde.marginal_coefficients(t)
    return alpha, sigma, alpha.log() - sigma.log()


def dpm_solver_1(sde: SDE, x: Tensor, t: Tensor, s: Tensor, eps_t: Tensor) -> Tensor:
    r"""First-order DPM-Solver (= DDIM) step from t to s < t for :math:`x_t = \alpha_t x_0 + \sigma_t \epsilon`
    (Lu et al., NeurIPS 2022, Eq. 3.7): with :math:`\lambda = \log(\alpha/\sigma)`, :math:`h = \lambda_s - \lambda_t`,

    .. math:: x_s = \frac{\alpha_s}{\alpha_t} x_t - \sigma_s (e^h - 1)\,\hat\epsilon(x_t, t).

    Exact for the linear drift of VP, sub-VP and VE SDEs.
    """
    a_t, _, l_t = _log_snr(sde, t)
    a_s, sig_s, l_s = _log_snr(sde, s)
    return batch_view(a_s / a_t, x) * x - batch_view(sig_s * torch.expm1(l_s - l_t), x) * eps_t


def dpm_solver_2(sde: SDE, x: Tensor, t: Tensor, s: Tensor, eps_t: Tensor, mid: Tensor, eps_mid: Tensor) -> Tensor:
    r"""Second-order DPM-Solver step (Lu et al., 2022, Alg. 4 with a general :math:`r`): the first-order step plus
    :math:`-\frac{\sigma_s}{2r}(e^h - 1)(\hat\epsilon_{mid} - \hat\epsilon_t)`, where ``eps_mid`` is the prediction at
    the first-order point of time ``mid`` and :math:`r = (\lambda_{mid} - \lambda_t)/h`."""
    _, _, l_t = _log_snr(sde, t)
    _, sig_s, l_s = _log_snr(sde, s)
    r = (_log_snr(sde, mid)[2] - l_t) / (l_s - l_t)
    correction = batch_view(sig_s * torch.expm1(l_s - l_t) / (2 * r), x) * (eps_mid - eps_t)
    return dpm_solver_1(sde, x, t, s, eps_t) - correction


@torch.no_grad()
def sample_dpm_solver(model: nn.Module, graphs: Graphs, sde: GraphSDE, *, steps: int = 50, eps: float = 1e-4,
                      order: int = 2, spacing: str = "quadratic", generator: Optional[torch.Generator] = None,
                      callback: Callback = None) -> Sample:
    """DPM-Solver-1/2 on the probability-flow ODE of both components (``order`` model calls per step), with the
    intermediate time of the second-order step at the midpoint in t and ``spacing`` of the time steps
    (``"quadratic"`` by default: large log-SNR jumps near ``eps`` are where few-step solvers lose accuracy).
    Deterministic given the prior sample."""
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    (ts, times), nfe = _grid(graphs, sde.T, eps, steps, spacing), 0
    for i in range(steps):
        t, s = _times(graphs, ts[i]), _times(graphs, ts[i + 1])
        e_t = noise_prediction(model, graphs, t)
        if order == 1:
            new = [dpm_solver_1(c, v, t, s, e) for c, v, e in zip(sde, graphs[:2], e_t)]
        else:
            mid = 0.5 * (t + s)
            u = Graphs(*(dpm_solver_1(c, v, t, mid, e) for c, v, e in zip(sde, graphs[:2], e_t)), graphs.mask)
            e_mid = noise_prediction(model, u, mid)
            new = [dpm_solver_2(c, v, t, s, e, mid, em) for c, v, e, em in zip(sde, graphs[:2], e_t, e_mid)]
        graphs, nfe = Graphs(*new, graphs.mask), nfe + order
        if callback is not None:
            callback(i, times[i + 1], graphs)
    return Sample(graphs, nfe)


SAMPLERS: Registry[Callable[..., Sample]] = Registry("sampler", {"pc": sample_pc, "s4": sample_s4, "ode": sample_ode,
                                                                  "dpm_solver": sample_dpm_solver})

#: one line of help per sampler option (the command line shows it with the samplers that take the option)
OPTION_HELP = {
    "steps": "time steps from T to eps",
    "eps": "last time of the reverse process",
    "predictor": f"predictor ({', '.join(PREDICTORS)})",
    "corrector": "corrector (langevin, none)",
    "snr": "Langevin signal-to-noise ratio",
    "scale_eps": "Langevin noise scale",
    "corrector_steps": "Langevin steps per time step",
    "scale_eps_early": "Langevin noise scale while t > switch_time (default: scale_eps throughout)",
    "switch_time": "time below which scale_eps replaces scale_eps_early",
    "denoise": "return the last step's mean (no final noise)",
    "method": f"ODE solver ({', '.join(ODE_METHODS)})",
    "order": "DPM-Solver order (1 or 2)",
    "spacing": f"time-step spacing ({', '.join(SPACINGS)})",
}


def get_sampler(name: str) -> Callable[..., Sample]:
    """The sampler registered under ``name`` (see the table in this module's docstring)."""
    return SAMPLERS[name]


def sampler_options(name: str) -> Dict[str, Any]:
    """The keyword options of sampler ``name`` and their defaults (its signature is the schema), e.g.
    ``sampler_options("ode") == {"steps": 100, "eps": 1e-4, "method": "heun"}``."""
    options = keyword_options(get_sampler(name), exclude=("generator", "callback"))
    return {key: default for key, (default, _) in options.items()}


def check_sampler_options(name: str, options: Mapping[str, Any]) -> None:
    """Raise a ValueError naming every option in ``options`` that sampler ``name`` does not take."""
    valid = sampler_options(name)
    unknown = [k for k in options if k not in valid]
    if unknown:
        raise ValueError(f"sampler {name!r} does not take {', '.join(unknown)}; its options: {', '.join(valid)}")
