import math

import pytest
import torch

from sheafgraph.ops.dropout import dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keeps_the_right_share_and_is_unbiased(p):
    torch.manual_seed(0)
    n = 400_000
    y = dropout(torch.ones(n, dtype=torch.float64), p)
    kept = y != 0
    share = float(kept.double().mean())
    assert abs(share - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
    # the kept entries all carry one scale, the inverse of the kept probability rounded to 2^-16
    scale = y[kept].unique()
    assert scale.numel() == 1
    assert abs(float(scale) * (1 - p) - 1) < 2.0 ** -16 / (1 - p)
    assert abs(float(y.mean()) - 1) < 5 * math.sqrt(p / ((1 - p) * n))


def test_neighbouring_entries_are_independent():
    # four entries share one random 64-bit word: their masks must still be uncorrelated
    torch.manual_seed(1)
    kept = (dropout(torch.ones(4, 200_000), 0.5) != 0).double()
    for i in range(4):
        for j in range(i + 1, 4):
            corr = float(((kept[i] - 0.5) * (kept[j] - 0.5)).mean() / 0.25)
            assert abs(corr) < 0.015, (i, j, corr)
    row = kept.flatten()
    assert abs(float(((row[1:] - 0.5) * (row[:-1] - 0.5)).mean() / 0.25)) < 0.01


def test_gradient_against_the_mask_in_float64():
    torch.manual_seed(2)
    x = torch.randn(50, 7, dtype=torch.float64, requires_grad=True)
    w = torch.randn(50, 7, dtype=torch.float64)
    y = dropout(x, 0.3)
    (w * y).sum().backward()
    kept = y.detach() != 0
    scale = 2.0 ** 16 / round(0.7 * 2 ** 16)
    assert torch.equal(y.detach(), torch.where(kept, x.detach() * scale, torch.zeros_like(w)))
    assert torch.equal(x.grad, torch.where(kept, w * scale, torch.zeros_like(w)))

    def seeded(t):
        torch.manual_seed(3)
        return dropout(t, 0.3)

    assert torch.autograd.gradcheck(seeded, (x.detach().requires_grad_(),))


def test_seeded_identity_and_edge_cases():
    x = torch.randn(30, 5)
    torch.manual_seed(4)
    a = dropout(x, 0.5)
    torch.manual_seed(4)
    assert torch.equal(a, dropout(x, 0.5))
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    assert dropout(torch.empty(0, 3), 0.5).shape == (0, 3)
    for p in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="dropout probability"):
            dropout(x, p)
