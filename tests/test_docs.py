"""The documentation (API reference from the docstrings, and the guides) builds with warnings as errors."""
import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("sphinx") is None, reason="sphinx not installed (pip install -e .[docs])")
def test_docs_build_without_warnings(tmp_path):
    out = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs",
                          str(tmp_path / "html")], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "html" / "api" / "ops.html").is_file()
    assert (tmp_path / "html" / "guides" / "pyg.html").is_file()
