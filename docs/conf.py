"""Sphinx configuration: an API reference built from the docstrings, plus the guides in docs/guides/.

Build (warnings are errors, as in CI): ``python -m sphinx -W -b html docs docs/_build/html``. The API pages
(docs/api/, not in git) are written here from the package's modules, so a new module is documented without editing
anything.
"""
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sheafgraph  # noqa: E402

project = "sheafgraph"
release = version = sheafgraph.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
napoleon_google_docstring = True
napoleon_custom_sections = [("Shapes", "notes_style")]
autodoc_member_order = "bysource"
autodoc_typehints = "none"
exclude_patterns = ["_build"]
html_theme = "alabaster"
suppress_warnings = ["ref.python"]          # short cross-references such as :func:`fit` resolve only by full path

PACKAGES = {
    "ops": "The shared core: graph structure, kernels, diffusion operators",
    "sheaf": "Neural Sheaf Diffusion: layers, models, node-classification training",
    "physics": "AirPhyNet: advection-diffusion latent ODE and forecasting",
    "generative": "GDSS: SDEs, score networks, samplers, molecule and graph generation",
    "data": "Dataset loaders",
    "chem": "Chemistry: molecule <-> graph, validity, valency correction",
    "metrics": "Metrics",
    "utils": "Utilities: checks, options, checkpoints, devices, seeding",
    "tasks": "Command-line tasks",
}


def write_api_pages() -> None:
    folder = Path(__file__).parent / "api"
    folder.mkdir(exist_ok=True)
    for package, title in PACKAGES.items():
        path = ROOT / "sheafgraph" / package
        modules = sorted(m.name for m in pkgutil.iter_modules([str(path)]) if not m.name.startswith("_"))
        heading = f"sheafgraph.{package}: {title.lower()}"
        lines = [heading, "=" * len(heading), "", f".. automodule:: sheafgraph.{package}", ""]
        for module in modules:
            name = f"sheafgraph.{package}.{module}"
            lines += [name, "-" * len(name), "",
                      f".. automodule:: sheafgraph.{package}.{module}", "   :members:", ""]
        (folder / f"{package}.rst").write_text("\n".join(lines))


write_api_pages()
