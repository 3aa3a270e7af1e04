"""Evaluation metrics: graph statistics, classification, forecasting errors and molecule quality."""
from sheafgraph.metrics.classification import accuracy, roc_auc
from sheafgraph.metrics.forecasting import masked_mae, masked_rmse
from sheafgraph.metrics.graph_mmd import clustering_mmd, degree_mmd, graph_mmd, orbit_counts, orbit_mmd
from sheafgraph.metrics.homophily import edge_homophily, node_homophily
from sheafgraph.metrics.molecules import fcd, novelty, uniqueness, validity, validity_without_correction
from sheafgraph.metrics.nspdk import nspdk_mmd

__all__ = [
    "accuracy", "clustering_mmd", "degree_mmd", "edge_homophily", "fcd", "graph_mmd", "masked_mae", "masked_rmse",
    "node_homophily", "novelty", "nspdk_mmd", "orbit_counts", "orbit_mmd", "roc_auc", "uniqueness", "validity",
    "validity_without_correction",
]
