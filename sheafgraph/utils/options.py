"""Command-line flags generated from where options are declared: a config dataclass or a function's signature.

Each option is declared once, with its default and type, in the dataclass (or the keyword-only parameters of a
function); these helpers turn the declaration into ``argparse`` flags (``hidden_dim`` -> ``--hidden-dim``, booleans
as ``--flag/--no-flag``, the default in the help text) and collect the values the user gave. Flags default to
``None`` ("not given"), so presets and per-function defaults still apply below explicit flags.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from sheafgraph.utils.device import DEFAULT_THREADS, threads_option

_TYPES = (("bool", bool), ("int", int), ("float", float), ("str", str))


def _value_type(annotation: Any, default: Any) -> type:
    """The Python type of an option from its default, else from its (possibly string) annotation."""
    if default is not None and not isinstance(default, (list, tuple)):
        return type(default)
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)      # str: postponed annotations
    for name, kind in _TYPES:
        if name in text:
            return kind
    return str


def add_flag(parser, name: str, default: Any, help_text: str, *, annotation: Any = None,
             choices: Optional[Iterable] = None, show_default: bool = True, nargs: Optional[str] = None) -> None:
    """Add ``--name`` (underscores become dashes) whose value is ``None`` unless given; ``nargs`` (e.g. ``"+"``)
    takes several values of the default's type (a list)."""
    kind = _value_type(annotation, default)
    shown = f" (default {default})" if show_default and default is not None else ""
    flag = "--" + name.replace("_", "-")
    if kind is bool:
        parser.add_argument(flag, dest=name, default=None, action=argparse.BooleanOptionalAction,
                            help=help_text + shown)
    elif isinstance(default, (list, tuple)):
        parser.add_argument(flag, dest=name, default=None, nargs="*", choices=list(choices) if choices else None,
                            help=help_text + shown)
    else:
        parser.add_argument(flag, dest=name, default=None, nargs=nargs, type=kind,
                            choices=list(choices) if choices else None, help=help_text + shown)


def add_dataclass_flags(parser, cls, *, exclude: Iterable[str] = (), defaults: Optional[Any] = None) -> List[str]:
    """One flag per field of the dataclass ``cls`` (help, choices and nargs from each field's ``metadata``); returns the
    field names that got a flag. ``defaults``: an instance whose values the help shows (default ``cls()``)."""
    shown = defaults if defaults is not None else cls()
    names = []
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        add_flag(parser, f.name, getattr(shown, f.name), f.metadata.get("help", f.name.replace("_", " ")),
                 annotation=f.type, choices=f.metadata.get("choices"), nargs=f.metadata.get("nargs"))
        names.append(f.name)
    return names


def add_threads_flag(parser) -> None:
    """``--threads``: a positive int, or ``auto`` (the default: the idle cores, see
    :func:`~sheafgraph.utils.device.idle_cores`)."""
    parser.add_argument("--threads", type=threads_option, default=DEFAULT_THREADS,
                        help="torch CPU threads: a number, or auto (default: the cores idle when the command starts, "
                             "shared among torchrun's local processes; 1 on a busy machine, where more threads make "
                             "these small models many times slower)")


def add_run_flags(parser, *, json_help: str, seed_help: Optional[str] = None, device: str = "auto",
                  device_help: str = "") -> None:
    """The flags every computing command shares: ``--seed`` (when ``seed_help`` says what it seeds), ``--json``,
    ``--threads`` (default :data:`~sheafgraph.utils.device.DEFAULT_THREADS`) and ``--device``."""
    if seed_help is not None:
        parser.add_argument("--seed", type=int, default=0, help=f"seed of {seed_help} (default 0)")
    parser.add_argument("--json", default=None, help=json_help)
    add_threads_flag(parser)
    parser.add_argument("--device", default=device, help=f"cpu, cuda or auto (default {device}{device_help})")


def add_option_flags(parser, functions: Mapping[str, Callable], helps: Mapping[str, str],
                     notes: Optional[Mapping[str, str]] = None, exclude: Iterable[str] = ("generator", "callback")
                     ) -> List[str]:
    """A flag for every keyword-only option of any of ``functions`` (e.g. every sampler), with ``helps[option]`` and
    the defaults of the functions that take it (or ``notes[option]``); returns the option names. Which function
    accepts which option stays the functions' business (they reject the others by name)."""
    defaults: Dict[str, Dict[str, Any]] = {}
    annotations: Dict[str, Any] = {}
    for name, fn in functions.items():
        for key, (default, annotation) in keyword_options(fn, exclude).items():
            defaults.setdefault(key, {})[name] = default
            annotations[key] = annotation
    for key, per_function in defaults.items():
        note = (notes or {}).get(key) or "; ".join(f"{name}: {value}" for name, value in per_function.items())
        add_flag(parser, key, next(iter(per_function.values())), f"{helps[key]} ({note})",
                 annotation=annotations[key], show_default=False)
    return list(defaults)


def check_outputs(args: argparse.Namespace, *flags: str) -> None:
    """Before any work: every output file the user gave under ``flags`` (e.g. ``"json"`` for ``--json``) can be
    written (:func:`~sheafgraph.utils.checks.writable_file`)."""
    from sheafgraph.utils.checks import writable_file

    for flag in flags:
        if getattr(args, flag, None):
            writable_file(getattr(args, flag), f"--{flag}")


def keyword_options(fn: Callable, exclude: Iterable[str] = ()) -> Dict[str, Tuple[Any, Any]]:
    """``{name: (default, annotation)}`` of the keyword-only parameters of ``fn``."""
    params = inspect.signature(fn).parameters.values()
    return {p.name: (p.default, p.annotation) for p in params
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in set(exclude)}


def given(args: argparse.Namespace, names: Iterable[str]) -> Dict[str, Any]:
    """The values of ``names`` the user set on the command line (flags left at ``None`` are dropped)."""
    values = vars(args)
    return {n: values[n] for n in names if values.get(n) is not None}


def plain_text(doc: Optional[str]) -> str:
    """A docstring without reST markup, for ``--help``: a role ``:func:`a.b``` shows as Sphinx renders it (``a.b``;
    ``name`` alone for ``~a.b.name``) and literal double backquotes are dropped."""
    def shown(match: re.Match) -> str:
        target = match.group(2)
        return target.rsplit(".", 1)[-1] if match.group(1) else target

    return re.sub(r":[a-z]+:`(~?)([^`]*)`", shown, doc or "").replace("``", "")


def describe(options: Mapping[str, Any]) -> str:
    """``key=value, ...`` for printing a configuration."""
    return ", ".join(f"{k}={v}" for k, v in options.items())
