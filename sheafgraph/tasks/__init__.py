"""End-to-end pipelines behind the command line, one module per subcommand.

A task is a module ``sheafgraph/tasks/<name>.py`` with a module-level ``HELP = "<one line>"`` and
``add_subcommand(subparsers)``: adding the file adds the subcommand. :data:`TASKS` reads every task's ``HELP``
from the source text (without importing it), so ``sheafgraph --help`` does not import torch; the command line
imports a task's module only when that subcommand runs.
"""
import ast
from pathlib import Path
from typing import Dict


def _task_helps() -> Dict[str, str]:
    helps = {}
    for path in sorted(Path(__file__).parent.glob("*.py")):
        if path.name.startswith("_"):
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "HELP" for t in node.targets):
                helps[path.stem] = ast.literal_eval(node.value)
    return helps


#: subcommand -> one-line help (the module is ``sheafgraph.tasks.<subcommand>``)
TASKS = _task_helps()
