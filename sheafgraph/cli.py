"""The ``sheafgraph`` console command: one subcommand per task module.

Every module in :mod:`sheafgraph.tasks` that defines ``add_subcommand(subparsers)`` contributes a subcommand; the
parser it adds sets ``func`` (called with the parsed arguments, returning an exit code).
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import List, Optional

import sheafgraph
import sheafgraph.tasks


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sheafgraph",
        description="Diffusion on graphs: sheaf diffusion, air-quality forecasting, molecule generation.")
    parser.add_argument("--version", action="version", version=f"sheafgraph {sheafgraph.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(sheafgraph.tasks.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"sheafgraph.tasks.{info.name}")
        if hasattr(module, "add_subcommand"):
            module.add_subcommand(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"sheafgraph {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
