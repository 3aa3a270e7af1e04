import re

import pytest
import torch

from sheafgraph.ops.kernels import csr_matmul


def random_csr(rows, cols, nnz, seed):
    """A rectangular CSR matrix (row pointers, sorted columns, float64 values) and its dense twin."""
    g = torch.Generator().manual_seed(seed)
    keys = torch.randperm(rows * cols, generator=g)[:nnz].sort().values
    row, col = keys // cols, keys % cols
    crow = torch.zeros(rows + 1, dtype=torch.long).index_add_(0, row + 1, torch.ones_like(row)).cumsum(0)
    values = torch.randn(nnz, dtype=torch.float64, generator=g)
    dense = torch.zeros(rows, cols, dtype=torch.float64)
    dense[row, col] = values
    return crow, col, values, dense


def test_csr_matmul_matches_dense_reference_and_gradients():
    crow, col, values, dense = random_csr(7, 11, 20, seed=0)
    x = torch.randn(11, 3, dtype=torch.float64)
    torch.testing.assert_close(csr_matmul(crow, col, values, 7, x), dense @ x)
    empty = torch.zeros(8, dtype=torch.long), col[:0], values[:0]                  # no entries: a zero product
    torch.testing.assert_close(csr_matmul(*empty, 7, x), torch.zeros(7, 3, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda v, x: csr_matmul(crow, col, v, 7, x),
                                    (values.clone().requires_grad_(), x.clone().requires_grad_()))


@pytest.mark.parametrize("bad, named", [
    ("crow", "got crow (6,)"), ("col", "col (1, 20)"), ("values", "values (19,)"), ("x", "x (11,)")])
def test_csr_matmul_names_shapes_that_do_not_fit(bad, named):
    crow, col, values, _ = random_csr(7, 11, 20, seed=1)
    args = {"crow": crow, "col": col, "values": values, "x": torch.randn(11, 2, dtype=torch.float64)}
    args[bad] = {"crow": crow[:-2], "col": col.view(1, -1), "values": values[:-1], "x": torch.randn(11)}[bad]
    with pytest.raises(ValueError, match=re.escape(named)):
        csr_matmul(args["crow"], args["col"], args["values"], 7, args["x"])
