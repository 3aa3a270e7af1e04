"""sheafgraph: diffusion on graphs on one sparse operator core.

Three model families share :mod:`sheafgraph.ops`: Neural Sheaf Diffusion (:mod:`sheafgraph.sheaf`),
physics-guided air-quality forecasting (:mod:`sheafgraph.physics`) and score-based graph generation
(:mod:`sheafgraph.generative`). Subpackages are imported on first use (``import sheafgraph`` alone does not import
torch, so the command line answers ``--help`` and ``--version`` at once).

Error contract (every public function and command):

* Bad input is rejected at the boundary with a ``ValueError`` (bad value, shape, range, NaN, unknown name: the
  message names the argument and the expected form, and lists the valid names), a ``TypeError`` (wrong type or
  dtype) or a ``FileNotFoundError`` (naming the missing file and where it comes from). Damaged or foreign files are a
  ``ValueError`` naming the file (:func:`sheafgraph.data.paths.reading`); data files never execute pickled code.
* Inside, values are trusted: layers and samplers do not re-check (and never wait for the host on a GPU); a run
  that diverges (NaN samples or losses) is named once, with a hint, when its result is used.
* A missing optional extra is an ``ImportError`` naming the ``pip install`` that fixes it.
* The ``sheafgraph`` command checks its flags and that every output file can be written before it starts work,
  prints one line ``sheafgraph <task>: error: ...`` and exits with status 2 for all of the above (what it could
  compute before a missing extra is still printed and written); anything else is a bug and keeps its traceback.
* Checkpoints are written atomically and loaded with ``weights_only=True``; training resumes from them.

Shared checks: :mod:`sheafgraph.utils.checks`.
"""
import importlib

__version__ = "0.1.0"

_SUBPACKAGES = ("chem", "data", "generative", "metrics", "ops", "physics", "sheaf", "tasks", "utils")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"sheafgraph.{name}")
    raise AttributeError(f"module 'sheafgraph' has no attribute {name!r}")
