"""Evaluation metrics: graph statistics, classification, forecasting errors and molecule quality.

Names are imported from their submodule on first use (:mod:`sheafgraph._lazy`): a new metric adds its line to
:data:`_EXPORTS`.
"""
from sheafgraph._lazy import lazy_exports

#: public name -> the submodule that defines it (imported on first use)
_EXPORTS = {
    "accuracy": "classification", "roc_auc": "classification",
    "ForecastErrors": "forecasting", "ForecastReport": "forecasting", "INTERVAL_LEVELS": "forecasting",
    "central_interval": "forecasting", "crps_ensemble": "forecasting", "ensemble_quantiles": "forecasting",
    "masked_mae": "forecasting", "masked_rmse": "forecasting",
    "clustering_mmd": "graph_mmd", "degree_mmd": "graph_mmd", "graph_mmd": "graph_mmd", "orbit_counts": "graph_mmd",
    "orbit_mmd": "graph_mmd", "graph_statistics": "graph_statistics",
    "edge_homophily": "homophily", "node_homophily": "homophily",
    "fcd": "molecules", "molecule_properties": "molecules", "novelty": "molecules", "uniqueness": "molecules",
    "validity": "molecules", "validity_without_correction": "molecules", "vun": "molecules",
    "nspdk_mmd": "nspdk",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
