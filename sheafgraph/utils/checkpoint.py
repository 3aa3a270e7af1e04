"""Checkpoints that never lose what a user saved: atomic writes, ``weights_only`` loads, resumable state."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Mapping, Union

import torch

PathLike = Union[str, os.PathLike]


def save_checkpoint(state: Dict[str, Any], path: PathLike) -> Path:
    """Write ``state`` (tensors, state dicts, numbers, strings, lists, dicts) to ``path`` atomically.

    The file is written to a temporary file in the same folder, flushed to disk and renamed over ``path``, so a
    crash mid-write leaves the previous checkpoint intact; temporary files that a killed write of the same checkpoint
    left behind are removed here (one writer per checkpoint file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for orphan in path.parent.glob(f".{path.name}.*.tmp"):
        orphan.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device, None] = "cpu") -> Dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True`` (no arbitrary code runs).

    Raises:
        FileNotFoundError: naming the missing file.
        ValueError: the file is not a readable checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise ValueError(f"could not read checkpoint {path}: {err}") from err
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} holds a {type(state).__name__}, expected a dict")
    return state


def check_same_run(saved: Mapping[str, Any], current: Mapping[str, Any], path: PathLike) -> None:
    """Refuse to resume the checkpoint ``path`` with another run: ``saved`` (kept in the checkpoint) and ``current``
    describe a run (dataset, options, seed, ...; nested dicts compared entry by entry) and must be equal.

    Raises:
        ValueError: naming every entry that differs, with both values.
    """
    def flat(d: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for key, value in d.items():
            out.update(flat(value, f"{prefix}{key}.") if isinstance(value, Mapping) else {prefix + key: value})
        return out

    old, new = flat(saved), flat(current)
    diffs = [f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in sorted(set(old) | set(new))
             if old.get(k) != new.get(k)]
    if diffs:
        raise ValueError(f"checkpoint {path} belongs to another run ({'; '.join(diffs)}): resume with the same "
                         f"dataset, options, seed, splits and number of processes, or start a new checkpoint")
