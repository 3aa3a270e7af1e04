"""The README's commands are the ones CI runs, and the console command answers."""
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO


def test_ci_runs_the_readme_test_command():
    ci_lines = [ln.strip() for ln in (REPO / ".ci" / "run").read_text().splitlines()]
    test_cmd = next(ln for ln in ci_lines if "pytest" in ln)
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1).splitlines()
    assert block[1].strip() == test_cmd


def test_console_command_version_and_help():
    out = subprocess.run([sys.executable, "-m", "sheafgraph.cli", "--version"], capture_output=True, text=True,
                         cwd=REPO, check=True)
    assert out.stdout.startswith("sheafgraph ")
    out = subprocess.run([sys.executable, "-m", "sheafgraph.cli", "--help"], capture_output=True, text=True,
                         cwd=REPO, check=True)
    assert "usage: sheafgraph" in out.stdout


@pytest.mark.slow
def test_help_and_version_import_no_task_and_no_torch():
    # start-up cost: the command line imports a task (and torch) only for the subcommand being run
    probe = ("import sys; from sheafgraph.cli import main\n"
             "for argv in (['--version'], ['--help']):\n"
             "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
             "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('sheafgraph.tasks.')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert all(name in out.stdout for name in ("air", "molgen", "nodecls"))


def test_every_task_module_is_registered_with_its_subcommand():
    import importlib
    import pkgutil

    import sheafgraph.tasks
    from sheafgraph.cli import build_parser

    modules = {m.name for m in pkgutil.iter_modules(sheafgraph.tasks.__path__)}
    assert modules == set(sheafgraph.tasks.TASKS)
    for name in modules:
        assert hasattr(importlib.import_module(f"sheafgraph.tasks.{name}"), "add_subcommand")
    assert build_parser(["nodecls"]).parse_args(["nodecls", "--dataset", "texas"]).func is not None


@pytest.mark.slow
def test_lazy_package_exports_resolve_and_stay_lazy():
    import importlib

    for package in ("sheafgraph.data", "sheafgraph.metrics"):
        module = importlib.import_module(package)
        assert module.__all__ and all(getattr(module, name) is not None for name in module.__all__)
    probe = "import sys; from sheafgraph.data import load_qm9; print('torch_geometric' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"
