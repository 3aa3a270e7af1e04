"""Evaluation metrics: graph statistics (homophily) and task scores."""
from sheafgraph.metrics.homophily import edge_homophily, node_homophily

__all__ = ["edge_homophily", "node_homophily"]
