import argparse
from dataclasses import dataclass, field
from typing import Optional, Tuple

import pytest

from sheafgraph.utils.options import add_dataclass_flags, add_flag, given, keyword_options


@dataclass
class Config:
    hidden_dim: int = field(default=8, metadata={"help": "width"})
    rate: Optional[float] = field(default=None, metadata={"help": "rate"})
    fast: bool = False
    mode: str = field(default="a", metadata={"help": "mode", "choices": ("a", "b")})
    extra: Tuple[str, ...] = field(default=(), metadata={"help": "extras", "choices": ("x", "y")})
    counts: int = field(default=10, metadata={"help": "one or several counts", "nargs": "+"})


def test_dataclass_flags_types_defaults_and_help():
    parser = argparse.ArgumentParser()
    names = add_dataclass_flags(parser, Config, exclude=("fast",))
    assert names == ["hidden_dim", "rate", "mode", "extra", "counts"]
    args = parser.parse_args(["--hidden-dim", "4", "--rate", "0.5", "--extra", "x", "y", "--counts", "10", "3"])
    assert given(args, names) == {"hidden_dim": 4, "rate": 0.5, "extra": ["x", "y"], "counts": [10, 3]}  # no mode
    assert given(parser.parse_args([]), names) == {}
    help_text = parser.format_help()
    assert "width (default 8)" in help_text and "--fast" not in help_text
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "c"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--hidden-dim", "2.5"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--counts", "3", "x"])


def test_bool_flags_and_signatures():
    def fn(x, *, steps: int = 3, denoise: bool = True, scale: Optional[float] = None, generator=None):
        return x

    options = keyword_options(fn, exclude=("generator",))
    assert list(options) == ["steps", "denoise", "scale"] and options["steps"][0] == 3
    parser = argparse.ArgumentParser()
    for name, (default, annotation) in options.items():
        add_flag(parser, name, default, name, annotation=annotation)
    args = parser.parse_args(["--no-denoise", "--scale", "0.5"])
    assert given(args, options) == {"denoise": False, "scale": 0.5}


def test_plain_text_drops_markup():
    from sheafgraph.utils.options import plain_text
    assert plain_text("See :class:`~sheafgraph.sheaf.NodeClsConfig` and :mod:`sheafgraph.sheaf.training`, "
                      "``--preset paper``.") == "See NodeClsConfig and sheafgraph.sheaf.training, --preset paper."
