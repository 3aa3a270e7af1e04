"""Where datasets (and statistics derived from them) live on disk, and checks that a file is there, unchanged and
readable.

Every loader takes ``root``: an explicit directory, else the ``SHEAFGRAPH_DATA`` environment variable, else the
project's ``datasets/`` folder (small real data shipped with the repository). Derived statistics that are slow to
recompute (e.g. ChemNet statistics of a test split) go to :func:`cache_dir`.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, Optional, Union

import numpy as np

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
    """Return ``path`` if it is a file, else raise FileNotFoundError naming it, ``hint`` (where it comes from) and how
    to point the loaders at a data root."""
    path = Path(path)
    if not path.is_file():
        where = "" if "SHEAFGRAPH_DATA" in hint else (" (data root: --root on the command line, root= in Python, or "
                                                       "the SHEAFGRAPH_DATA environment variable)")
        raise FileNotFoundError(f"{path} not found; {hint}{where}")
    return path


#: what parsers raise on a damaged, truncated or wrong file (pandas' ParserError is a ValueError; gzip's
#: BadGzipFile an OSError)
PARSE_ERRORS = (ValueError, OSError, EOFError, KeyError, IndexError, UnicodeDecodeError, zipfile.BadZipFile,
                pickle.UnpicklingError)


@contextmanager
def reading(path: PathLike, what: str) -> Iterator[None]:
    """Around the parsing of one file: any parse error becomes a ValueError naming the file and what it should be
    (a missing file stays a FileNotFoundError)."""
    try:
        yield
    except FileNotFoundError:
        raise
    except PARSE_ERRORS as err:
        raise ValueError(f"{path}: not a readable {what} ({type(err).__name__}: {err})") from None


def verify_sha256(path: PathLike, expected: str) -> None:
    """Raise a ValueError unless the file's sha256 starts with ``expected`` (the full digest or a prefix of it)."""
    digest = sha256(path)
    if not digest.startswith(expected):
        raise ValueError(f"{path} has sha256 {digest[:16]}..., expected {expected[:16]}...: it differs from the "
                         "released file; restore the original or pass verify=False to load it anyway")


def load_npz(path: PathLike, what: str) -> Dict[str, np.ndarray]:
    """Every array of a ``.npz`` file (no pickles), or a ValueError naming the file and ``what`` it should be."""
    with reading(path, what):
        if not zipfile.is_zipfile(path):
            raise ValueError("not a zip (.npz) archive")
        with np.load(path) as f:
            return {key: f[key] for key in f.files}


def as_mask(array, what: str):
    """A 0/1 (or boolean) array as a NumPy bool mask; any other value (2, -1, 0.5, NaN) is an error naming ``what``."""
    array = np.asarray(array)
    if array.dtype != bool:
        bad = ~np.isin(array, (0, 1))
        if bad.any():
            raise ValueError(f"{what} must hold 0/1 (or booleans), found {array[bad][0].item()!r}")
    return array.astype(bool)


def sha256(path: PathLike) -> str:
    """Hex sha256 digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
