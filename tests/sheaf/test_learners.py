import pytest
import torch

from sheafgraph.sheaf import num_map_params, restriction_maps


@pytest.mark.parametrize("kind, shape", [("diag", (5, 3)), ("orthogonal", (5, 3, 3)), ("general", (5, 3, 3))])
def test_restriction_maps_shapes(kind, shape):
    assert restriction_maps(torch.randn(5, num_map_params(kind, 3)), kind, 3).shape == shape


def test_restriction_maps_reject_unknown_kinds_and_wrong_widths():
    with pytest.raises(ValueError, match="unknown restriction-map kind 'foo'"):
        restriction_maps(torch.randn(5, 4), "foo", 2)
    with pytest.raises(ValueError, match=r"params for 'general' maps with d=2 must have shape \(\|E\|, 4\), got \(5, 7\)"):
        restriction_maps(torch.randn(5, 7), "general", 2)
    with pytest.raises(ValueError, match=r"'orthogonal' maps with d=3 must have shape \(\|E\|, 3\)"):
        restriction_maps(torch.randn(5, 9), "orthogonal", 3)
