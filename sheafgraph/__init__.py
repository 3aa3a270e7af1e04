"""sheafgraph: diffusion on graphs on one sparse operator core.

Three model families share :mod:`sheafgraph.ops`: Neural Sheaf Diffusion (:mod:`sheafgraph.sheaf`),
physics-guided air-quality forecasting (:mod:`sheafgraph.physics`) and score-based graph generation
(:mod:`sheafgraph.generative`). Subpackages are imported on first use (``import sheafgraph`` alone does not import
torch, so the command line answers ``--help`` and ``--version`` at once).
"""
import importlib

__version__ = "0.1.0"

_SUBPACKAGES = ("chem", "data", "generative", "metrics", "ops", "physics", "sheaf", "tasks", "utils")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"sheafgraph.{name}")
    raise AttributeError(f"module 'sheafgraph' has no attribute {name!r}")
