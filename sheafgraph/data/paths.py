"""Where datasets (and statistics derived from them) live on disk, and checks that a file is there and unchanged.

Every loader takes ``root``: an explicit directory, else the ``SHEAFGRAPH_DATA`` environment variable, else the
project's ``datasets/`` folder (small real data shipped with the repository). Derived statistics that are slow to
recompute (e.g. ChemNet statistics of a test split) go to :func:`cache_dir`.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, os.PathLike]

DATASETS_DIR = Path(__file__).resolve().parents[2] / "datasets"


def data_root(root: Optional[PathLike] = None) -> Path:
    """The data directory: ``root`` if given, else ``$SHEAFGRAPH_DATA``, else the project's ``datasets/``."""
    if root is not None:
        return Path(root)
    env = os.environ.get("SHEAFGRAPH_DATA")
    return Path(env) if env else DATASETS_DIR


def cache_dir(path: Optional[PathLike] = None) -> Path:
    """Cache directory: ``path`` if given, else ``$SHEAFGRAPH_CACHE``, else ``$XDG_CACHE_HOME/sheafgraph`` (default
    ``~/.cache/sheafgraph``)."""
    if path is not None:
        return Path(path)
    env = os.environ.get("SHEAFGRAPH_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sheafgraph"


def require_file(path: PathLike, hint: str) -> Path:
    """Return ``path`` if it is a file, else raise FileNotFoundError naming it and ``hint`` (where it comes from)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; {hint}")
    return path


def sha256(path: PathLike) -> str:
    """Hex sha256 digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
