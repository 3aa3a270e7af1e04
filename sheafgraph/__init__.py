"""sheafgraph: diffusion on graphs on one sparse operator core.

Three model families share :mod:`sheafgraph.ops`: Neural Sheaf Diffusion (:mod:`sheafgraph.sheaf`),
physics-guided air-quality forecasting (:mod:`sheafgraph.physics`) and score-based graph generation
(:mod:`sheafgraph.generative`).
"""

__version__ = "0.1.0"

from sheafgraph import ops  # noqa: E402,F401
