"""The example scripts users copy from still run and print sane results (the air-quality example trains on the full
PRSA series for minutes and is left to `sheafgraph air`'s own tests)."""
import re
import runpy
import sys

import pytest

from tests.conftest import REPO


def run_example(name, args, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [name, *args])
    runpy.run_path(str(REPO / "examples" / name), run_name="__main__")
    return capsys.readouterr().out


@pytest.mark.slow
def test_node_classification_example(capsys, monkeypatch):
    out = run_example("node_classification.py", [], capsys, monkeypatch)
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert accuracy >= 0.7                                 # Texas: the majority class is 0.55-0.6 of the test nodes
    energies = [float(e) for e in re.findall(r"normalised Dirichlet energy ([0-9.]+)", out)]
    assert len(energies) == 2 and all(0.0 <= e <= 2.0 for e in energies)


@pytest.mark.slow
def test_generate_molecules_example(tmp_path, capsys, monkeypatch):
    png = tmp_path / "grid.png"
    out = run_example("generate_molecules.py", ["--num", "8", "--png", str(png)], capsys, monkeypatch)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert float(re.search(r"validity w/o correction ([0-9.]+)%", out).group(1)) >= 50.0
    valid = int(re.search(r"valid as sampled: (\d)/8", out).group(1))
    assert valid >= 4


@pytest.mark.slow
def test_pyg_model_example(capsys, monkeypatch):
    out = run_example("pyg_model.py", [], capsys, monkeypatch)
    assert "SheafConv(48, 48, d=3, maps='orthogonal'" in out
    assert float(re.search(r"test accuracy ([0-9.]+)", out).group(1)) >= 0.65     # majority class: 0.55-0.6


@pytest.mark.parametrize("name", ["node_classification.py", "generate_molecules.py", "air_quality.py",
                                  "pyg_model.py"])
def test_examples_have_a_usage_docstring(name):
    text = (REPO / "examples" / name).read_text()
    assert text.startswith('"""') and f"python examples/{name}" in text


def test_air_quality_example_without_data_names_the_file_and_the_root(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SHEAFGRAPH_DATA", str(tmp_path))
    with pytest.raises(SystemExit, match=r"station\.csv not found; .*--root .*SHEAFGRAPH_DATA"):
        run_example("air_quality.py", [], capsys, monkeypatch)
