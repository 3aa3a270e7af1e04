"""The README's commands are the ones CI runs, and the console command answers."""
import re
import subprocess
import sys

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
