r"""Valence guidance: a sampling-time force that keeps GDSS's molecules within their atoms' valences.

At time :math:`t` the noise model gives clean estimates :math:`\hat x_0 = (x_t - \sigma_t\hat\epsilon_x)/\alpha_t`
and :math:`\hat A_0 = (A_t - \sigma_t\hat\epsilon_A)/\alpha_t`. Rounded as a sample would be (atom types by argmax,
bond orders by :func:`~sheafgraph.generative.quantize.quantize_bonds`, an aromatic bond counting 1.5), they give each
atom's excess valence :math:`e_i = \max(0, \sum_j b_{ij} - v_i)`, :math:`v_i` the largest valence of the neutral
element (:attr:`AtomVocabulary.max_valences`: C 4, N 3, O 2, F 1). Guidance lowers the clean estimate of every bond
(:math:`b_{ij} \ge 1`) at an over-valent atom, :math:`\hat A_0' = \hat A_0 - \lambda g` with
:math:`g_{ij} = (e_i + e_j)\,[b_{ij} \ge 1]`, which is the noise prediction

.. math:: \hat\epsilon_A' = \hat\epsilon_A + \lambda\,\alpha_t\,g / \sigma_t
          \qquad (\text{score } s_A' = s_A - \lambda\,\alpha_t\,g / \sigma_t^2),

applied while :math:`t \le t_{\text{start}}` and nowhere else; the atom features are left alone. It wraps a noise
model, so every sampler (PC, S4, ODE, DPM-Solver) can use it, and it costs no extra model call. The samples are still
decoded as is: no bond is removed after sampling, so "validity without correction" keeps its meaning, but it is a
constraint built into the sampler and results say when it was on.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from sheafgraph.chem.decode import AROMATIC_BOND
from sheafgraph.generative.noise import batch_view
from sheafgraph.generative.quantize import quantize_atoms, quantize_bonds
from sheafgraph.generative.sde import GraphSDE


def excess_valence(atom_types: Tensor, bond_orders: Tensor, max_valences: Tensor) -> Tensor:
    """:math:`e_i = \\max(0, \\sum_j b_{ij} - v_{type_i})` per node ``(B, N)``; 0 on padding (type -1).

    Shapes:
        atom_types: ``(B, N)`` (-1 padding); bond_orders: ``(B, N, N)`` bond codes (4 = aromatic, order 1.5).
    """
    orders = torch.where(bond_orders == AROMATIC_BOND, 1.5, bond_orders.to(max_valences.dtype))
    real = atom_types >= 0
    return torch.where(real, (orders.sum(-1) - max_valences[atom_types.clamp_min(0)]).clamp_min(0), 0.0)


class ValenceGuidance(nn.Module):
    """A noise model with valence guidance (module docstring): ``forward(x, adj, mask, t) -> (eps_x, eps_adj')``.

    Args:
        model: the noise model (scalar bond-order adjacency: kekulised or aromatic-aware, not categorical bonds).
        sde: its system of SDEs. max_valences: largest valence per atom-feature channel.
        strength: :math:`\\lambda` (bond-order units per unit of excess valence; 0 turns guidance off).
        start: guide only while ``t <= start``. aromatic: bond orders of the aromatic-aware encoding.
    """

    def __init__(self, model: nn.Module, sde: GraphSDE, max_valences: Sequence[int], *, strength: float,
                 start: float = 1.0, aromatic: bool = False):
        super().__init__()
        if getattr(model, "adj_channels", 1) != 1:
            raise ValueError("valence guidance needs a scalar bond-order adjacency; this model has categorical bonds")
        check_guidance(strength, start)
        self.model, self.sde, self.strength, self.start, self.aromatic = model, sde, strength, start, aromatic
        self.register_buffer("max_valences", torch.tensor([float(v) for v in max_valences]), persistent=False)

    @property
    def adj_channels(self) -> int:
        return 1

    def forward(self, x: Tensor, adj: Tensor, mask: Tensor, t: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        eps_x, eps_adj = self.model(x, adj, mask, t)
        if self.strength == 0 or t is None or float(t.max()) > self.start:
            return eps_x, eps_adj
        (ax, sx), (aa, sa) = self.sde.x.marginal_coefficients(t), self.sde.adj.marginal_coefficients(t)
        x0 = (x - batch_view(sx, x) * eps_x) / batch_view(ax, x)
        a0 = (adj - batch_view(sa, adj) * eps_adj) / batch_view(aa, adj)
        bonds = quantize_bonds(a0, mask, self.aromatic)
        excess = excess_valence(quantize_atoms(x0, mask), bonds, self.max_valences.to(adj.dtype))
        push = (excess.unsqueeze(-1) + excess.unsqueeze(-2)) * (bonds > 0)
        return eps_x, eps_adj + self.strength * batch_view(aa / sa, adj) * push


def check_guidance(strength: float, start: float) -> None:
    """Reject a negative (or NaN) strength or a start time outside (0, 1] with errors that name them."""
    if not strength >= 0:
        raise ValueError(f"valence guidance strength must be >= 0, got {strength}")
    if not 0 < start <= 1:
        raise ValueError(f"valence guidance start time must be in (0, 1], got {start}")
