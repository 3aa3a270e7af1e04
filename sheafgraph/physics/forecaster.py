r"""The call every forecaster shares: ``model(x, mask, *, graph, wind_in, wind_out, start, hour, samples, generator)``.

:class:`Forecaster` holds the one explicit signature and the checks of the observed window; a forecaster implements
:meth:`Forecaster.predict`, which receives the keyword data as :class:`ForecastInputs` and reads the fields it needs.
A misspelled or unknown keyword (``wnd_in=...``) is a ``TypeError`` naming it, not silently dropped.

Observed input (the entries where ``mask`` is True) must be finite: a NaN behind a True mask would otherwise flow
through the encoder into a NaN forecast. Missing values are marked by the mask (any value behind a False mask is
ignored), so a NaN that is really a gap should have its mask set to False.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor, nn

from sheafgraph.utils.checks import positive_int


class Forecast(NamedTuple):
    """A forecaster's output: the point forecast, the KL term of the latent state (0 if none), ODE evaluations
    (0 if none), and sampled forecasts (None unless asked for and the model has a latent distribution).

    Shapes:
        mean: ``(B, T_out, |V|)``; kl: scalar; samples: ``(K, B, T_out, |V|)``.
    """
    mean: Tensor
    kl: Tensor
    nfe: int
    samples: Optional[Tensor] = None


class ForecastInputs(NamedTuple):
    """The keyword data of a forecaster call (see :class:`Forecaster`); each model reads what it needs.

    Shapes:
        wind_in: ``(B, T_in, |V|, 2)`` m/s; wind_out: ``(B, T_out, |V|, 2)`` m/s; start, hour: ``(B,)``.
    """
    graph: Optional[object] = None
    wind_in: Optional[Tensor] = None
    wind_out: Optional[Tensor] = None
    start: Optional[Tensor] = None
    hour: Optional[Tensor] = None
    samples: int = 0
    generator: Optional[torch.Generator] = None


def check_inputs(x: Tensor, mask: Tensor, in_channels: Optional[int] = None) -> None:
    """Validate an input window ``x (B, T_in, |V|, C)`` (floating; NaN allowed only where masked) and ``mask``
    (bool, the shape of x). Finding a non-finite observed value reads one boolean on the host per call."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating torch.Tensor, got {getattr(x, 'dtype', type(x).__name__)}")
    if x.dim() != 4:
        raise ValueError(f"x must have shape (B, T_in, |V|, C), got {tuple(x.shape)}")
    if in_channels is not None and x.size(-1) != in_channels:
        raise ValueError(f"x has {x.size(-1)} channels but the model was built for in_channels={in_channels}")
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != x.shape:
        got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"mask must be a bool tensor of the shape of x {tuple(x.shape)}, got {got}")
    bad = mask & ~torch.isfinite(x)
    if bool(bad.any()):
        first = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"x has {int(bad.sum())} NaN or infinite value(s) where mask marks them observed (the "
                         f"first at (b, t, station, channel) = {first}); set mask False where a value is missing")


def station_sequences(x: Tensor, mask: Tensor) -> Tensor:
    """Per-station input sequences for a GRU: values (missing ones set to 0) next to their masks.

    Shapes:
        x, mask: ``(B, T_in, |V|, C)``; returns ``(B |V|, T_in, 2C)``, station i of sample b at row ``b|V| + i``.
    """
    b, t, n, c = x.shape
    inputs = torch.cat([torch.where(mask, x, 0.0), mask.to(x.dtype)], dim=-1)
    return inputs.permute(0, 2, 1, 3).reshape(b * n, t, 2 * c)


class Forecaster(nn.Module):
    r"""Base class of the forecasters: one explicit call signature for all of them.

    ``model(x, mask, *, graph=None, wind_in=None, wind_out=None, start=None, hour=None, samples=0, generator=None)``
    checks the window (:func:`check_inputs`, against ``in_channels`` when the model has one) and ``samples`` (K
    sampled trajectories to return besides the point forecast; models without a latent distribution return none),
    then calls :meth:`predict`. Every model accepts every keyword and ignores those it does not need, so one call
    serves all of them; an unknown keyword is a ``TypeError``.

    Shapes:
        x, mask: ``(B, T_in, |V|, C)``; the keywords as :class:`ForecastInputs`; returns a :class:`Forecast`.
    """

    in_channels: Optional[int] = None

    def forward(self, x: Tensor, mask: Tensor, *, graph=None, wind_in: Optional[Tensor] = None,
                wind_out: Optional[Tensor] = None, start: Optional[Tensor] = None, hour: Optional[Tensor] = None,
                samples: int = 0, generator: Optional[torch.Generator] = None) -> Forecast:
        check_inputs(x, mask, self.in_channels)
        positive_int(samples, "samples", minimum=0)
        return self.predict(x, mask, ForecastInputs(graph, wind_in, wind_out, start, hour, samples, generator))

    def predict(self, x: Tensor, mask: Tensor, inputs: ForecastInputs) -> Forecast:
        """The forecast of a checked window; ``inputs`` holds the call's keyword data."""
        raise NotImplementedError
