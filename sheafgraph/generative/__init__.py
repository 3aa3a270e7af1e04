"""GDSS: score-based generation of graphs with a system of SDEs (Jo, Lee, Hwang, ICML 2022).

Forward SDEs (:mod:`.sde`), score networks (:mod:`.score_networks`), the denoising score-matching loss
(:mod:`.losses`), training (:mod:`.training`), samplers (:mod:`.samplers`) and quantisation to molecules
(:mod:`.quantize`, :mod:`.generate`), valence guidance for any sampler (:mod:`.guidance`).
"""
from sheafgraph.generative.bond_channels import BOND_LEVELS, bond_order_view, to_bond_channels
from sheafgraph.generative.generate import GeneratedGraphs, generate, sample_node_counts
from sheafgraph.generative.guidance import ValenceGuidance
from sheafgraph.generative.losses import dsm_loss
from sheafgraph.generative.noise import Graphs, batch_view, edge_noise, graph_noise, node_mask, node_noise
from sheafgraph.generative.quantize import quantize_atoms, quantize_bonds, quantize_graphs
from sheafgraph.generative.samplers import (SAMPLERS, Sample, get_sampler, sample_dpm_solver, sample_ode, sample_pc,
                                            sample_s4)
from sheafgraph.generative.score_networks import GDSSNoiseModel, ScoreNetworkA, ScoreNetworkX
from sheafgraph.generative.sde import SDE, SDES, GraphSDE, SubVPSDE, VESDE, VPSDE, get_sde
from sheafgraph.generative.training import EMA, fit, train_step

__all__ = ["BOND_LEVELS", "EMA", "GDSSNoiseModel", "GeneratedGraphs", "GraphSDE", "Graphs", "SAMPLERS", "SDE",
           "SDES", "Sample", "ScoreNetworkA", "ScoreNetworkX", "SubVPSDE", "VESDE", "VPSDE", "ValenceGuidance",
           "batch_view", "bond_order_view", "dsm_loss", "edge_noise", "fit", "generate", "get_sampler", "get_sde", "graph_noise",
           "node_mask", "node_noise", "quantize_atoms", "quantize_bonds", "quantize_graphs", "sample_dpm_solver",
           "sample_node_counts", "sample_ode", "sample_pc", "sample_s4", "to_bond_channels", "train_step"]
