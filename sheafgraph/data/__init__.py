"""Dataset loaders returning tensors / PyG data, each reading from a data ``root`` (:mod:`sheafgraph.data.paths`).

Names are imported from their submodule on first use (:mod:`sheafgraph._lazy`): a new loader adds its line to
:data:`_EXPORTS`.
"""
from sheafgraph._lazy import lazy_exports

#: public name -> the submodule that defines it (imported on first use)
_EXPORTS = {
    "AirQualityData": "air", "StationGraph": "air", "gaussian_kernel": "air", "station_graph": "air",
    "AIRPHYNET_CHANNELS": "airphynet", "ArrayWindows": "airphynet", "WindowedAirData": "airphynet",
    "airphynet_windows": "airphynet", "load_airphynet": "airphynet",
    "csbm": "csbm",
    "DenseGraphs": "generic_graphs", "GENERIC_GRAPH_DATASETS": "generic_graphs",
    "GenericGraphSpec": "generic_graphs", "GraphSplits": "generic_graphs", "generic_graph_spec": "generic_graphs",
    "graphs_to_dense": "generic_graphs", "load_generic_graphs": "generic_graphs",
    "load_node_dataset": "heterophily", "node_dataset_names": "heterophily", "row_normalize": "heterophily",
    "load_knowair": "knowair",
    "load_moses": "molecules", "load_qm9": "molecules", "load_zinc250k": "molecules",
    "molecule_dataset_spec": "molecules",
    "load_prsa_beijing": "prsa", "wind_from_degrees": "prsa", "wind_vector": "prsa",
    "ChannelScaler": "windows", "ForecastWindows": "windows", "Window": "windows", "chronological_split": "windows",
    "forecast_windows": "windows",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
