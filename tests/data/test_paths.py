"""Data and cache locations: explicit argument, then environment variable, then the default; missing files named."""
from pathlib import Path

import pytest

from sheafgraph.data.paths import DATASETS_DIR, cache_dir, data_root, require_file, sha256


def test_data_root_and_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("SHEAFGRAPH_DATA", raising=False)
    assert data_root() == DATASETS_DIR and (DATASETS_DIR / "heterophily").is_dir()
    monkeypatch.setenv("SHEAFGRAPH_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env" and data_root(tmp_path) == tmp_path

    monkeypatch.delenv("SHEAFGRAPH_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "sheafgraph"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "sheafgraph"
    monkeypatch.setenv("SHEAFGRAPH_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" and cache_dir(tmp_path / "x") == tmp_path / "x"


def test_require_file_and_sha256(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes(b"abc")
    assert require_file(f, "hint") == f
    assert sha256(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"   # sha256("abc")
    with pytest.raises(FileNotFoundError, match=r"b\.txt not found; download it from X"):
        require_file(tmp_path / "b.txt", "download it from X")
