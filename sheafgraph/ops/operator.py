"""``SparseOperator``: a block-sparse linear operator on node signals, differentiable in its values."""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from sheafgraph.ops.kernels import block_spmm
from sheafgraph.ops.structure import BlockPattern


class SparseOperator:
    """A ``(|V| d, |V| d)`` matrix made of d×d blocks on the pattern ``edges ∪ self-loops``.

    ``values`` holds one block per pattern slot: ``(B, d, d)`` for full blocks or ``(B, d)`` for diagonal ones
    (scalar operators are the case d = 1). The operator back-propagates to ``values`` (and so to whatever they were
    computed from: restriction maps, edge weights, velocities) and to the signal it multiplies.

    Shapes:
        ``op @ x`` with x of shape ``(|V| d, F)``, ``(|V|, d, F)`` or ``(|V| d,)``; the result has the shape of x.
    """

    def __init__(self, pattern: BlockPattern, values: Tensor, d: int, *, symmetric: bool = False):
        self.pattern = pattern
        self.values = values
        self.d = d
        self.diagonal_blocks = values.dim() == 2
        self.symmetric = symmetric

    @property
    def shape(self) -> Tuple[int, int]:
        n = self.pattern.num_nodes * self.d
        return (n, n)

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    @property
    def device(self) -> torch.device:
        return self.values.device

    def __repr__(self) -> str:
        kind = "diagonal" if self.diagonal_blocks else "full"
        return (f"SparseOperator(shape={self.shape}, blocks={self.pattern.num_blocks}, d={self.d}, {kind} blocks, "
                f"dtype={self.dtype}, device={self.device})")

    def __matmul__(self, x: Tensor) -> Tensor:
        return self.matmul(x)

    def matmul(self, x: Tensor) -> Tensor:
        """``self @ x`` (the method form traces under ``torch.compile``, which does not dispatch ``@`` to it)."""
        if not isinstance(x, Tensor):
            raise TypeError(f"can only multiply by a torch.Tensor, got {type(x).__name__}")
        n, d = self.pattern.num_nodes, self.d
        if x.dim() == 1 and x.size(0) == n * d:
            x2 = x.unsqueeze(1)
        elif x.dim() == 2 and x.size(0) == n * d:
            x2 = x
        elif x.dim() == 3 and x.shape[:2] == (n, d):
            x2 = x.reshape(n * d, x.size(2))
        else:
            raise ValueError(f"operator of shape {self.shape} (|V|={n}, d={d}) cannot multiply x of shape "
                             f"{tuple(x.shape)}; expected ({n * d}, F), ({n}, {d}, F) or ({n * d},)")
        if x.dtype != self.dtype or x.device != self.device:
            raise TypeError(f"x is {x.dtype} on {x.device} but the operator is {self.dtype} on {self.device}")
        sp = self.pattern.scalar(d, self.diagonal_blocks)
        y = block_spmm(self.values, x2.contiguous(), sp, self.symmetric)
        return y.reshape(x.shape)

    def t(self) -> "SparseOperator":
        """The transpose (blocks transposed and moved to the mirrored slot)."""
        if self.symmetric:
            return self
        pattern_t, perm = self.pattern.transposed()
        values = self.values[perm]
        if not self.diagonal_blocks:
            values = values.transpose(-1, -2)
        return SparseOperator(pattern_t, values, self.d)

    def to_dense(self) -> Tensor:
        """The dense ``(|V| d, |V| d)`` matrix (for tests and small graphs); differentiable."""
        n, d, p = self.pattern.num_nodes, self.d, self.pattern
        blocks = torch.diag_embed(self.values) if self.diagonal_blocks else self.values
        dense = blocks.new_zeros(n, n, d, d).index_put((p.row, p.col), blocks, accumulate=True)
        return dense.permute(0, 2, 1, 3).reshape(n * d, n * d)
