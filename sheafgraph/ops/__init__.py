"""The shared core: graph structure, sparse kernels and diffusion operators used by every model family."""
from sheafgraph.ops.advection import advection_operator, lonlat_to_km
from sheafgraph.ops.dense import adjacency_powers, mask_adjacency, mask_nodes, normalized_adjacency
from sheafgraph.ops.kernels import block_spmm
from sheafgraph.ops.laplacian import graph_laplacian
from sheafgraph.ops.operator import SparseOperator
from sheafgraph.ops.sheaf import sheaf_laplacian, streamed_sheaf_matmul, sym_matrix_power
from sheafgraph.ops.structure import GraphStructure, check_edge_index, check_values

__all__ = [
    "GraphStructure", "SparseOperator", "advection_operator", "adjacency_powers", "block_spmm", "check_edge_index",
    "check_values", "graph_laplacian", "lonlat_to_km", "mask_adjacency", "mask_nodes", "normalized_adjacency",
    "sheaf_laplacian", "streamed_sheaf_matmul", "sym_matrix_power",
]
