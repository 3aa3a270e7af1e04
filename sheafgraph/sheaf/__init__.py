"""Neural Sheaf Diffusion (Bodnar et al., NeurIPS 2022): restriction-map parameterisations, sheaf learners,
the :class:`SheafConv` layer, discrete and continuous NSD models, Dirichlet energy."""
from sheafgraph.sheaf.conv import SheafConv, SheafDiffusionTerm
from sheafgraph.sheaf.energy import dirichlet_energy
from sheafgraph.sheaf.learners import (ACTIVATIONS, MAP_KINDS, EdgeWeightLearner, SheafLearner, fold_edge_weights,
                                       num_map_params, restriction_maps)
from sheafgraph.sheaf.models import NSD, NSD_MODELS, ContinuousNSD, build_nsd
from sheafgraph.sheaf.orthogonal import ORTHOGONAL_MAPS, num_orthogonal_params, orthogonal_map
from sheafgraph.sheaf.stalks import FIXED_STALKS, fixed_stalk_laplacian, fixed_stalk_maps

__all__ = [
    "ACTIVATIONS", "ContinuousNSD", "EdgeWeightLearner", "FIXED_STALKS", "MAP_KINDS", "NSD", "NSD_MODELS",
    "ORTHOGONAL_MAPS", "SheafConv", "SheafDiffusionTerm", "SheafLearner", "build_nsd", "dirichlet_energy",
    "fixed_stalk_laplacian", "fixed_stalk_maps", "fold_edge_weights", "num_map_params", "num_orthogonal_params",
    "orthogonal_map", "restriction_maps",
]
