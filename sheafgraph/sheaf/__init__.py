"""Neural Sheaf Diffusion (Bodnar et al., NeurIPS 2022): restriction-map parameterisations, sheaf learners,
the :class:`SheafConv` layer, discrete and continuous NSD models, Dirichlet energy; node-classification baselines,
recipes (configuration and presets) and the split-by-split trainer.

Names are imported from their submodule on first use (:mod:`sheafgraph._lazy`).
"""
from sheafgraph._lazy import lazy_exports

#: public name -> the submodule that defines it (imported on first use)
_EXPORTS = {
    "BASELINES": "baselines", "GCN": "baselines", "MLP": "baselines",
    "SheafConv": "conv", "SheafDiffusionTerm": "conv",
    "dirichlet_energy": "energy",
    "ACTIVATIONS": "learners", "EdgeWeightLearner": "learners", "MAP_KINDS": "learners", "SheafLearner": "learners",
    "fold_edge_weights": "learners", "num_map_params": "learners", "restriction_maps": "learners",
    "NSD": "models", "NSD_MODELS": "models", "ContinuousNSD": "models", "build_nsd": "models",
    "ORTHOGONAL_MAPS": "orthogonal", "num_orthogonal_params": "orthogonal", "orthogonal_map": "orthogonal",
    "MODELS": "recipes", "NodeClsConfig": "recipes", "OWN_PRESETS": "recipes", "PAPER_PRESETS": "recipes",
    "build_model": "recipes", "resolve_config": "recipes",
    "FIXED_STALKS": "stalks", "fixed_stalk_laplacian": "stalks", "fixed_stalk_maps": "stalks",
    "FoldResult": "training", "fold_masks": "training", "model_features": "training", "run_folds": "training",
    "train_fold": "training",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
