"""The ``sheafgraph`` console command: one subcommand per task module.

Every entry of :data:`sheafgraph.tasks.TASKS` is a subcommand; its module ``sheafgraph.tasks.<name>`` defines
``add_subcommand(subparsers)``, whose parser sets ``func`` (called with the parsed arguments, returning an exit
code). Only the module of the subcommand being run is imported: ``--help`` and ``--version`` never import torch.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional, Sequence

import sheafgraph
from sheafgraph.tasks import TASKS
from sheafgraph.allocator import keep_freed_memory, restart_without_thread_cache


#: what a user's input or machine can cause (bad values, missing or unwritable files, a missing optional extra, a
#: diverging run): one line on stderr and exit status 2; anything else is a bug and keeps its traceback
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, PermissionError, IsADirectoryError, ImportError,
               FloatingPointError)


def build_parser(argv: Optional[Sequence[str]] = None) -> argparse.ArgumentParser:
    """The parser; the full options of a subcommand are added only when ``argv`` names it (``None``: all of them)."""
    parser = argparse.ArgumentParser(
        prog="sheafgraph",
        description="Diffusion on graphs: sheaf diffusion, air-quality forecasting, molecule generation.")
    parser.add_argument("--version", action="version", version=f"sheafgraph {sheafgraph.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = TASKS if argv is None else [a for a in argv if not a.startswith("-")][:1]
    for name, help_text in TASKS.items():
        if name in wanted:
            importlib.import_module(f"sheafgraph.tasks.{name}").add_subcommand(sub)
        else:
            sub.add_parser(name, help=help_text)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as err:
        print(f"sheafgraph {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sheafgraph {args.command}: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The console command (and ``python -m sheafgraph.cli``, as torchrun starts it): :func:`main` in a process that
    keeps its freed memory and can reuse it (:mod:`sheafgraph.allocator`: it starts again once, with glibc's
    per-thread cache off); a torchrun rank leaves its process group and then exits
    without the interpreter's teardown (:func:`~sheafgraph.utils.distributed.exit_without_teardown`)."""
    restart_without_thread_cache()
    keep_freed_memory()
    code = main()
    if "torch.distributed" in sys.modules:              # only a command that imported torch can have joined one
        from sheafgraph.utils.distributed import exit_without_teardown, leave_distributed
        if leave_distributed():
            exit_without_teardown(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
