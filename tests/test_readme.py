"""Every command line in README.md parses as written, and runs in a smoke form (fewer epochs, folds, molecules and
steps appended; the shared data root where README writes ../shared/data; outputs in a temporary folder)."""
import re
import shlex

import pytest

from sheafgraph.cli import build_parser, main
from tests.conftest import REPO, SHARED_DATA

#: what makes each command quick (appended: argparse keeps the last value of a repeated flag)
SMOKE = {
    "nodecls": ["--folds", "1", "--epochs", "2", "--no-progress"],
    "air": ["--epochs", "1", "--steps", "600", "--batch-size", "64", "--no-progress"],
    "air evaluate": [],
    "air forecast": [],
    "molgen sample": ["--num", "4", "--steps", "2"],
    "graphgen sample": ["--num", "4", "--steps", "2"],
    "graphgen evaluate": [],
}
#: run as written only up to parsing: they need the metrics extra and a minute of NSPDK, QM9 training, or torchrun
PARSE_ONLY = ("molgen evaluate", "molgen train", "graphgen train")


def readme_commands():
    text = (REPO / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("sheafgraph ") or line.startswith("torchrun "):
                commands.append(line)
    return commands


def argv_of(command: str):
    words = shlex.split(command)
    if words[0] == "torchrun":
        words = words[words.index("sheafgraph.cli") + 1:]
    else:
        words = words[1:]
    return [str(SHARED_DATA) if w == "../shared/data" else w.replace("../shared/data/", f"{SHARED_DATA}/")
            for w in words]


def kind(argv):
    return " ".join(argv[:2]) if argv[0] in ("molgen", "air", "graphgen") and not argv[1].startswith("-") else argv[0]


def test_readme_has_the_commands_this_test_knows():
    kinds = {kind(argv_of(c)) for c in readme_commands() if not c.startswith("sheafgraph --")}
    assert kinds <= set(SMOKE) | set(PARSE_ONLY) and {"nodecls", "air", "molgen sample"} <= kinds


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_parses(command):
    argv = argv_of(command)
    args = build_parser(argv).parse_args(argv)
    assert callable(args.func)


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in readme_commands()
                                     if kind(argv_of(c)) in SMOKE and not c.startswith("torchrun")])
def test_readme_command_runs_in_smoke_form(command, tmp_path, monkeypatch, shared_data):
    monkeypatch.chdir(tmp_path)                                     # runs/ of the commands lands here
    argv = argv_of(command)
    if "--seeds" in argv:                                           # two seeds are enough to pair
        argv[argv.index("--seeds") + 1] = "0-1"
    if argv[:2] == ["air", "forecast"] or argv[:2] == ["air", "evaluate"]:
        checkpoint = tmp_path / "runs" / "air.pt"
        if not checkpoint.exists():                                 # the README trains it a few lines earlier
            assert main(["air", "--data", "prsa", "--root", str(shared_data), "--model", "diff_adv",
                         "--checkpoint", str(checkpoint), *SMOKE["air"]]) == 0
    if argv[:2] == ["graphgen", "evaluate"] and not (tmp_path / "runs" / "graphs.json").exists():
        assert main(["graphgen", "sample", "--out", "runs/graphs.json", *SMOKE["graphgen sample"]]) == 0
    assert main(argv + SMOKE[kind(argv)]) == 0
