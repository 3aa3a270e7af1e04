"""The ``sheafgraph`` console command: one subcommand per task."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

import sheafgraph


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sheafgraph",
        description="Diffusion on graphs: sheaf diffusion, air-quality forecasting, molecule generation.")
    parser.add_argument("--version", action="version", version=f"sheafgraph {sheafgraph.__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
