"""Dataset loaders returning tensors / PyG data, each reading from a data ``root`` (:mod:`sheafgraph.data.paths`)."""
from sheafgraph.data.air import AirQualityData, StationGraph, gaussian_kernel, station_graph
from sheafgraph.data.generic_graphs import (GENERIC_GRAPH_DATASETS, DenseGraphs, GenericGraphSpec, GraphSplits,
                                           generic_graph_spec, graphs_to_dense, load_generic_graphs)
from sheafgraph.data.heterophily import load_node_dataset, node_dataset_names, row_normalize
from sheafgraph.data.knowair import load_knowair
from sheafgraph.data.molecules import load_moses, load_qm9, load_zinc250k, molecule_dataset_spec
from sheafgraph.data.prsa import load_prsa_beijing, wind_vector
from sheafgraph.data.windows import ChannelScaler, ForecastWindows, Window, chronological_split, forecast_windows

__all__ = [
    "AirQualityData", "ChannelScaler", "DenseGraphs", "ForecastWindows", "GENERIC_GRAPH_DATASETS", "GenericGraphSpec",
    "GraphSplits", "StationGraph", "Window", "chronological_split", "forecast_windows", "gaussian_kernel",
    "generic_graph_spec", "graphs_to_dense", "load_generic_graphs", "load_knowair", "load_moses", "load_node_dataset",
    "load_prsa_beijing", "load_qm9", "load_zinc250k", "molecule_dataset_spec",
    "node_dataset_names", "row_normalize", "station_graph", "wind_vector",
]
