r"""Forward SDEs of score-based generative models (Song et al., ICLR 2021) and GDSS's system of two SDEs.

A forward SDE :math:`dx = f(x, t)\,dt + g(t)\,dw` on :math:`t \in [0, T]` with a linear drift has Gaussian
marginals :math:`x_t = \alpha_t x_0 + \sigma_t z`. Its reverse-time SDE (Anderson, 1982) is

.. math:: dx = [f(x, t) - g(t)^2 \nabla_x \log p_t(x)]\,dt + g(t)\,d\bar w,

and the probability-flow ODE drops the noise and halves the score term. GDSS (Jo, Lee, Hwang, ICML 2022, Eq. 3)
diffuses node features X and adjacency A with one SDE each, coupled only through the score network.

Every method takes per-graph times ``t (B,)``; coefficients are broadcast with :func:`batch_view`.
"""
from __future__ import annotations

import abc
import math
from typing import Callable, Dict, NamedTuple, Optional, Tuple, Type

import torch
from torch import Tensor

from sheafgraph.generative.noise import Graphs, batch_view, standard_normal
from sheafgraph.ops.dense import mask_adjacency, mask_nodes
from sheafgraph.utils.checks import Registry

ScoreFn = Callable[[Tensor, Tensor], Tensor]


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")


class SDE(abc.ABC):
    """A forward SDE with linear drift on ``[0, T]`` (the contract of score_sde's ``sde_lib.SDE``).

    Subclasses define :meth:`sde`, :meth:`marginal_coefficients`, :meth:`transition` and ``prior_std``.
    """

    T: float = 1.0
    prior_std: float = 1.0

    @abc.abstractmethod
    def sde(self, x: Tensor, t: Tensor) -> Tuple[Tensor, Tensor]:
        """Drift ``f(x, t)`` (shaped like x) and diffusion ``g(t) (B,)``."""

    @abc.abstractmethod
    def marginal_coefficients(self, t: Tensor) -> Tuple[Tensor, Tensor]:
        r""":math:`(\alpha_t, \sigma_t)`, each ``(B,)``, with :math:`x_t = \alpha_t x_0 + \sigma_t z`."""

    @abc.abstractmethod
    def transition(self, x: Tensor, t: Tensor, h: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Exact mean and std ``(B,)`` of the *linear part* :math:`dx = f\,dt + g\,d\bar w` of the reverse SDE,
        integrated backwards from ``t`` to ``t - h`` (the split-off half step of GDSS's S4 solver)."""

    def marginal_prob(self, x: Tensor, t: Tensor) -> Tuple[Tensor, Tensor]:
        """Mean (shaped like ``x``) and std ``(B,)`` of ``p_t(x_t | x_0 = x)``."""
        alpha, sigma = self.marginal_coefficients(t)
        return batch_view(alpha, x) * x, sigma

    def prior_sampling(self, shape, generator: Optional[torch.Generator] = None, *, symmetric: bool = False,
                       dtype: Optional[torch.dtype] = None, device=None) -> Tensor:
        """Sample the prior ``N(0, prior_std^2 I)``; ``symmetric=True`` for adjacency noise (zero diagonal)."""
        return self.prior_std * standard_normal(shape, generator, symmetric=symmetric, dtype=dtype, device=device)

    def prior_logp(self, z: Tensor) -> Tensor:
        """Log-density ``(B,)`` of ``z (B, ...)`` under the isotropic Gaussian prior (all entries i.i.d.)."""
        n = z[0].numel()
        var = self.prior_std ** 2
        return -0.5 * n * math.log(2 * math.pi * var) - z.pow(2).flatten(1).sum(-1) / (2 * var)

    def discretize(self, x: Tensor, t: Tensor, h: Tensor) -> Tuple[Tensor, Tensor]:
        """One forward step ``x_t = x_{t-h} + f + G z``.

        Euler–Maruyama by default: ``f = f(x, t) h``, ``G = g sqrt(h)``.
        """
        drift, diffusion = self.sde(x, t)
        return drift * batch_view(h, x), diffusion * h.sqrt()

    @abc.abstractmethod
    def params(self) -> Dict[str, float]:
        """The constructor arguments (for checkpoints and ``repr``)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.params().items())})"

    def reverse(self, score_fn: ScoreFn, probability_flow: bool = False) -> "ReverseSDE":
        """The reverse-time SDE (or probability-flow ODE) driven by ``score_fn(x, t)``."""
        return ReverseSDE(self, score_fn, probability_flow)


def reverse_drift(sde: SDE, x: Tensor, t: Tensor, score: Tensor,
                  probability_flow: bool = False) -> Tuple[Tensor, Tensor]:
    r"""Drift and diffusion of the reverse-time SDE: :math:`f - g^2 s` and :math:`g`, or for the probability-flow
    ODE :math:`f - \tfrac12 g^2 s` and 0.

    Shapes:
        x, score: ``(B, ...)``; t: ``(B,)``; returns drift like x and diffusion ``(B,)``.
    """
    drift, diffusion = sde.sde(x, t)
    weight = 0.5 if probability_flow else 1.0
    drift = drift - batch_view(diffusion.pow(2), x) * score * weight
    return drift, (torch.zeros_like(diffusion) if probability_flow else diffusion)


def reverse_discretize(sde: SDE, x: Tensor, t: Tensor, h: Tensor, score: Tensor,
                       probability_flow: bool = False) -> Tuple[Tensor, Tensor]:
    r"""Reverse step of the forward discretisation: ``x_{t-h} = x - f + c G^2 s + G z`` returns ``(f - cG^2 s, G)``
    with ``c = 1`` (``1/2`` and ``G = 0`` for the probability flow)."""
    f, G = sde.discretize(x, t, h)
    weight = 0.5 if probability_flow else 1.0
    f = f - batch_view(G.pow(2), x) * score * weight
    return f, (torch.zeros_like(G) if probability_flow else G)


class ReverseSDE:
    """The reverse-time SDE of ``sde`` for a score function ``score_fn(x, t)`` (one component)."""

    def __init__(self, sde: SDE, score_fn: ScoreFn, probability_flow: bool = False):
        self.forward_sde, self.score_fn, self.probability_flow = sde, score_fn, probability_flow

    def sde(self, x: Tensor, t: Tensor) -> Tuple[Tensor, Tensor]:
        return reverse_drift(self.forward_sde, x, t, self.score_fn(x, t), self.probability_flow)

    def discretize(self, x: Tensor, t: Tensor, h: Tensor) -> Tuple[Tensor, Tensor]:
        return reverse_discretize(self.forward_sde, x, t, h, self.score_fn(x, t), self.probability_flow)


class VPSDE(SDE):
    r"""Variance preserving SDE :math:`dx = -\tfrac12\beta(t) x\,dt + \sqrt{\beta(t)}\,dw` with
    :math:`\beta(t) = \beta_0 + t(\beta_1 - \beta_0)`; :math:`\alpha_t = e^{-\Lambda(t)/2}`,
    :math:`\sigma_t^2 = 1 - e^{-\Lambda(t)}`, :math:`\Lambda(t) = \int_0^t \beta`.

    Args:
        beta_min: :math:`\beta_0`. beta_max: :math:`\beta_1`.
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        _check_positive(beta_min=beta_min, beta_max=beta_max)
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)

    def beta(self, t: Tensor) -> Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def integral(self, t: Tensor) -> Tensor:
        r""":math:`\Lambda(t) = \int_0^t \beta(s)\,ds`."""
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t ** 2

    def sde(self, x, t):
        beta = self.beta(t)
        return -0.5 * batch_view(beta, x) * x, beta.sqrt()

    def marginal_coefficients(self, t):
        lam = self.integral(t)
        return torch.exp(-0.5 * lam), (-torch.expm1(-lam)).sqrt()

    def discretize(self, x, t, h):
        """DDPM step ``x_t = sqrt(1 - b) x + sqrt(b) z`` with :math:`b = 1 - e^{-(\\Lambda(t) - \\Lambda(t-h))}`."""
        beta_h = -torch.expm1(self.integral(t - h) - self.integral(t))
        return (batch_view((1 - beta_h).sqrt(), x) - 1) * x, beta_h.sqrt()

    def transition(self, x, t, h):
        big = self.integral(t) - self.integral(t - h)
        return batch_view(torch.exp(0.5 * big), x) * x, torch.expm1(big).sqrt()

    def params(self):
        return {"beta_min": self.beta_min, "beta_max": self.beta_max}


class SubVPSDE(VPSDE):
    r"""Sub-VP SDE: the VP drift with :math:`g(t)^2 = \beta(t)(1 - e^{-2\Lambda(t)})`;
    :math:`\sigma_t = 1 - e^{-\Lambda(t)}`."""

    def sde(self, x, t):
        beta = self.beta(t)
        discount = -torch.expm1(-2 * self.integral(t))
        return -0.5 * batch_view(beta, x) * x, (beta * discount).sqrt()

    def marginal_coefficients(self, t):
        lam = self.integral(t)
        return torch.exp(-0.5 * lam), -torch.expm1(-lam)

    discretize = SDE.discretize

    def transition(self, x, t, h):
        lt, ls = self.integral(t), self.integral(t - h)
        var = torch.expm1(lt - ls) + torch.exp(-ls - lt) - torch.exp(-2 * ls)
        return batch_view(torch.exp(0.5 * (lt - ls)), x) * x, var.clamp_min(0).sqrt()


class VESDE(SDE):
    r"""Variance exploding SDE :math:`dx = \sigma(t)\sqrt{2\log(\sigma_{max}/\sigma_{min})}\,dw` with
    :math:`\sigma(t) = \sigma_{min}(\sigma_{max}/\sigma_{min})^t`; :math:`\alpha_t = 1`, :math:`\sigma_t = \sigma(t)`.

    Args:
        sigma_min: noise scale at t = 0. sigma_max: noise scale at t = T (the prior's std).
    """

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0):
        _check_positive(sigma_min=sigma_min, sigma_max=sigma_max)
        if sigma_min >= sigma_max:
            raise ValueError(f"sigma_min must be below sigma_max, got {sigma_min} >= {sigma_max}")
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)
        self.prior_std = self.sigma_max

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def sde(self, x, t):
        rate = math.sqrt(2 * math.log(self.sigma_max / self.sigma_min))
        return torch.zeros_like(x), self.sigma(t) * rate

    def marginal_coefficients(self, t):
        return torch.ones_like(t), self.sigma(t)

    def discretize(self, x, t, h):
        """SMLD step: ``f = 0``, ``G = sqrt(σ(t)^2 - σ(t-h)^2)``."""
        return torch.zeros_like(x), (self.sigma(t) ** 2 - self.sigma(t - h) ** 2).clamp_min(0).sqrt()

    def transition(self, x, t, h):
        return x, (self.sigma(t) ** 2 - self.sigma(t - h) ** 2).clamp_min(0).sqrt()

    def params(self):
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max}


SDES: Registry[Type[SDE]] = Registry("SDE", {"vp": VPSDE, "subvp": SubVPSDE, "ve": VESDE})


def get_sde(name: str, **params: float) -> SDE:
    """Build an SDE by name: ``"vp"`` (beta_min, beta_max), ``"subvp"`` (same), ``"ve"`` (sigma_min, sigma_max)."""
    key = str(name).lower().replace("-", "").replace("_", "")
    try:
        return SDES[key](**params)
    except TypeError as err:
        raise TypeError(f"bad parameters {params} for SDE {name!r}: {err}") from err


class GraphSDE(NamedTuple):
    """GDSS's system of SDEs: one for node features ``x`` and one for the adjacency ``adj`` (Eq. 3)."""

    x: SDE
    adj: SDE

    @property
    def T(self) -> float:
        return self.adj.T

    def prior_sampling(self, mask: Tensor, num_features: int, generator: Optional[torch.Generator] = None,
                       adj_channels: int = 1) -> Graphs:
        """Prior graphs for node ``mask (B, N)``: i.i.d. features, symmetric adjacency (``(B, N, N)``, or
        ``(B, adj_channels, N, N)`` for categorical bonds), both masked."""
        b, n = mask.shape
        x = self.x.prior_sampling((b, n, num_features), generator, dtype=mask.dtype, device=mask.device)
        shape = (b, n, n) if adj_channels == 1 else (b, adj_channels, n, n)
        adj = self.adj.prior_sampling(shape, generator, symmetric=True, dtype=mask.dtype, device=mask.device)
        return Graphs(mask_nodes(x, mask), mask_adjacency(adj, mask), mask)

    def perturb(self, graphs: Graphs, t: Tensor, noise: Graphs) -> Graphs:
        """Sample ``p_t(· | graphs)``: ``alpha_t * graphs + sigma_t * noise`` per component (noise already masked)."""
        mean_x, std_x = self.x.marginal_prob(graphs.x, t)
        mean_a, std_a = self.adj.marginal_prob(graphs.adj, t)
        return Graphs(mask_nodes(mean_x + batch_view(std_x, mean_x) * noise.x, graphs.mask),
                      mask_adjacency(mean_a + batch_view(std_a, mean_a) * noise.adj, graphs.mask), graphs.mask)

    def config(self) -> Dict[str, Dict[str, float]]:
        """A plain-dict description (for checkpoints): ``{"x": {"name": ..., params}, "adj": {...}}``."""
        return {"x": _sde_config(self.x), "adj": _sde_config(self.adj)}

    @classmethod
    def from_config(cls, config: Dict[str, Dict[str, float]]) -> "GraphSDE":
        """The system of a :meth:`config` dict."""
        if not isinstance(config, dict) or any(not isinstance(config.get(k), dict) for k in ("x", "adj")):
            raise ValueError(f"an SDE config needs 'x' and 'adj' entries, each {{'name': ..., params}}, got {config!r}")
        return cls(*(get_sde(**dict(config[k])) for k in ("x", "adj")))


def _sde_config(sde: SDE) -> Dict[str, float]:
    name = {v: k for k, v in SDES.items()}[type(sde)]
    return {"name": name, **sde.params()}
