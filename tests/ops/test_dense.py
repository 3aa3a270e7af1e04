import pytest
import torch

from sheafgraph.ops import adjacency_powers, mask_adjacency, mask_nodes, normalized_adjacency
from sheafgraph.ops.dense import size_buckets


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(3, 6, 6, generator=g, dtype=torch.float64)
    a = a + a.transpose(1, 2)
    a = a * (1 - torch.eye(6, dtype=torch.float64))
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] + [0] * 5], dtype=torch.float64)
    return a, mask


def test_normalized_adjacency_matches_loop_reference():
    a, mask = batch()
    out = normalized_adjacency(a, mask)
    for b in range(3):
        n = int(mask[b].sum())
        ah = a[b, :n, :n] + torch.eye(n, dtype=torch.float64)
        d = ah.sum(1).rsqrt()
        torch.testing.assert_close(out[b, :n, :n], d[:, None] * ah * d[None, :])
        assert out[b, n:].abs().sum() == 0 and out[b, :, n:].abs().sum() == 0
    torch.testing.assert_close(out, out.transpose(1, 2))


def test_min_degree_clamps_noisy_degrees_against_loop_reference():
    """Noisy weights (degrees near or below zero): min_degree=1 divides by max(d, 1), the default drops rows with
    d <= 0 and amplifies 0 < d < 1; for non-negative weights with self-loops both agree."""
    g = torch.Generator().manual_seed(4)
    a = torch.randn(2, 5, 5, generator=g, dtype=torch.float64)
    a = (a + a.transpose(1, 2)) * (1 - torch.eye(5, dtype=torch.float64))
    mask = torch.tensor([[1.0] * 5, [1.0] * 3 + [0.0] * 2], dtype=torch.float64)
    out, legacy = normalized_adjacency(a, mask, min_degree=1.0), normalized_adjacency(a, mask)
    seen = set()
    for b in range(2):
        n = int(mask[b].sum())
        ah = a[b, :n, :n] + torch.eye(n, dtype=torch.float64)
        deg = ah.sum(1)
        seen |= {("low" if d < 1 else "high") for d in deg.tolist()}
        d = torch.tensor([max(v, 1.0) ** -0.5 for v in deg.tolist()], dtype=torch.float64)
        torch.testing.assert_close(out[b, :n, :n], d[:, None] * ah * d[None, :])
        dl = torch.tensor([v ** -0.5 if v > 0 else 0.0 for v in deg.tolist()], dtype=torch.float64)
        torch.testing.assert_close(legacy[b, :n, :n], dl[:, None] * ah * dl[None, :])
        assert out[b, n:].abs().sum() == 0 and out[b, :, n:].abs().sum() == 0
    assert seen == {"low", "high"}                      # both branches exercised
    pos, pmask = batch(5)
    torch.testing.assert_close(normalized_adjacency(pos, pmask, min_degree=1.0), normalized_adjacency(pos, pmask))
    with pytest.raises(ValueError, match="min_degree"):
        normalized_adjacency(pos, pmask, min_degree=-1.0)


def test_adjacency_powers_and_masks():
    a, mask = batch(1)
    p = adjacency_powers(a, 3)
    assert p.shape == (3, 3, 6, 6)
    torch.testing.assert_close(p[:, 2], torch.linalg.matrix_power(a, 3))
    am = mask_adjacency(a, mask)
    assert am[1, 4:].abs().sum() == 0 and am[1, :, 4:].abs().sum() == 0
    torch.testing.assert_close(am[1, :4, :4], a[1, :4, :4])
    assert mask_adjacency(p, mask)[1, :, 4:].abs().sum() == 0
    x = torch.ones(3, 6, 2, dtype=torch.float64)
    assert mask_nodes(x, mask).sum() == 2 * mask.sum()


def test_permutation_equivariance():
    a, mask = batch(2)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    out = normalized_adjacency(a, mask)
    outp = normalized_adjacency(a[:, perm][:, :, perm], mask[:, perm])
    torch.testing.assert_close(outp, out[:, perm][:, :, perm])


def test_gradcheck():
    a, mask = batch(3)
    a = a[:1, :4, :4].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda a: normalized_adjacency(a, mask[:1, :4]), (a,))


def test_bad_input():
    with pytest.raises(ValueError, match=r"\(B, N, N\)"):
        normalized_adjacency(torch.rand(3, 4, 5))
    with pytest.raises(ValueError, match="mask must have shape"):
        normalized_adjacency(torch.rand(2, 4, 4), torch.ones(2, 5))
    with pytest.raises(TypeError, match="floating"):
        normalized_adjacency(torch.ones(2, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN"):
        adjacency_powers(torch.full((1, 2, 2), float("nan")), 2)
    with pytest.raises(ValueError, match="positive int"):
        adjacency_powers(torch.rand(1, 2, 2), 0)


def test_size_buckets_cover_every_graph_once_within_the_ratio():
    counts = torch.tensor([125, 3, 40, 33, 90, 17, 8, 64, 2, 28, 0, 125])
    mask = (torch.arange(125) < counts[:, None]).float()
    groups = size_buckets(mask, ratio=0.75, min_gain=1.0, overhead=0)
    rows = torch.cat([r for r, _ in groups])
    assert sorted(rows.tolist()) == list(range(12))
    sizes = [s for _, s in groups]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 125 and sizes[-1] == 1   # the empty graph: size 1
    for r, size in groups:
        assert int(counts[r].max().clamp_min(1)) == size and bool((counts[r].clamp_min(1) >= 0.75 * size).all())
    assert [s for _, s in size_buckets(mask, ratio=0.5, min_gain=1.0, overhead=0)] == [125, 40, 17, 8, 3, 1]


def test_size_buckets_use_the_last_real_node_and_decline_when_nothing_is_saved():
    mask = torch.zeros(4, 10)
    mask[0, 9] = 1                                       # one real node, but at the end: nothing can be cropped
    mask[1:, :2] = 1
    groups = size_buckets(mask, min_gain=1.0, overhead=0)
    assert [(r.tolist(), s) for r, s in groups] == [([0], 10), ([1, 2, 3], 2)]
    assert size_buckets(torch.ones(5, 10)) is None                 # one size: the padded pass
    assert size_buckets(mask, min_gain=1.0, overhead=150) is None  # the extra pass costs more than it saves
    assert size_buckets(torch.ones(0, 10)) is None
    with pytest.raises(ValueError, match="ratio"):
        size_buckets(mask, ratio=0.0)
    with pytest.raises(ValueError, match=r"mask must be a \(B, N\) tensor"):
        size_buckets(torch.ones(10))
